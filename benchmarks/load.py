"""Load on `resizer serve`: concurrent keep-alive clients mixing hits, misses and hostile requests for a bounded time.

    .venv/bin/python benchmarks/load.py [--origin ../shared/corpus] [--duration 60] [--clients 4]
                                        [--sample-every 5] [--json FILE]

The server runs as its own process (`resizer serve --origin TMP --derived TMP --port N` on loopback), so the RSS
sampled from /proc/<pid>/status is the server's alone. Its originals folder is a temporary one holding hard links
to the images of --origin (no copies; a copy only across filesystems) plus generated hostile originals (truncated
JPEG, random bytes, HTML named .png, a PNG decompression bomb); derived objects go to a temporary folder.

Request mix: hits (a few variants asked again and again), misses (every variant × Accept combination, in a
shuffled order, until all exist: misses then turn into hits, and the report counts what X-Cache said), originals
as-is, and hostile requests (bad paths, missing originals, the hostile originals). Prints req/s, p50/p99 latency
per kind, statuses per kind (flagging any a kind should never get), and the server's RSS over time with its growth
from the end of minute 1 to the end of the run. The emulator's cache keeps every cacheable answer in memory (as
CloudFront would keep them at the edge), so some growth while misses last is expected.
"""

import argparse
import http.client
import json
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections import Counter, defaultdict
from pathlib import Path
from urllib.parse import quote

from resizer.config import load_config
from resizer.errors import ResizerError
from resizer.image.formats import FORMATS, sniff
from resizer.image.pipeline import inspect

ROOT = Path(__file__).resolve().parents[1]
ACCEPTS = {"avif": "image/avif,image/webp,*/*", "webp": "image/webp,*/*", "fallback": "image/*,*/*;q=0.8"}
# Statuses each kind of request may get; anything else is flagged.
EXPECTED = {
    "hit": {200}, "miss": {200, 302}, "original": {200},
    "bad-path": {400}, "missing": {404}, "corrupt": {422}, "not-image": {415}, "bomb": {413},
}
MIX = {"hit": 45, "miss": 25, "original": 5, "bad-path": 8, "missing": 7, "corrupt": 4, "not-image": 3, "bomb": 3}
BAD_PATHS = ["/../etc/passwd-sm.jpg", "/%2e%2e/secret-sm.jpg", "/a//b-sm.jpg", "/x%00y-sm.jpg", "/50%-sm.jpg",
             "/_variants/sm/webp/x.jpg", "/" + "a" * 2000 + "-sm.jpg"]


def png_bomb(side: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = zlib.compress(bytes(8 * (1 + 3 * side)), 9)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", rows) + chunk(b"IEND", b""))


def prepare_originals(source: Path, folder: Path) -> list[str]:
    """Hard-link the images of `source` whose header reads into `folder` and add the hostile originals; returns
    the image names."""
    names = []
    for path in sorted(source.iterdir()):
        if path.is_file() and sniff(path.read_bytes()[:4096]) in FORMATS and _readable(path):
            try:
                os.link(path, folder / path.name)
            except OSError:  # another filesystem
                shutil.copy(path, folder / path.name)
            names.append(path.name)
    if not names:
        raise SystemExit(f"no images in {source}")
    first_jpeg = next((n for n in names if sniff((folder / n).read_bytes()[:64]) == "jpeg"), names[0])
    data = (folder / first_jpeg).read_bytes()
    hostile = folder / "hostile"
    hostile.mkdir()
    (hostile / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (hostile / "random.jpg").write_bytes(random.Random(0).randbytes(5000))
    (hostile / "page.png").write_bytes(b"<!doctype html><script>alert(1)</script>")
    (hostile / "bomb.png").write_bytes(png_bomb(50_000))
    return names


def _readable(path: Path) -> bool:
    try:
        inspect(path.read_bytes())
        return True
    except ResizerError:
        return False


def variant_path(name: str, variant: str) -> str:
    stem, dot, ext = name.rpartition(".")
    return "/" + quote(f"{stem}-{variant}.{ext}")


class Plan:
    """Draws requests: (kind, path, accept). Misses come from a shared shuffled list of untried combinations."""

    def __init__(self, names: list[str], variants: list[str], seed: int):
        self.rng = random.Random(seed)
        self.names, self.variants = names, variants
        self.hits = [(variant_path(n, "sm"), ACCEPTS["webp"]) for n in names[:3]]
        self.misses = [(variant_path(n, v), a) for n in names for v in variants for a in ACCEPTS.values()]
        self.rng.shuffle(self.misses)
        self.lock = threading.Lock()
        self.counter = 0

    def draw(self, rng: random.Random) -> tuple[str, str, str | None]:
        kind = rng.choices(list(MIX), weights=list(MIX.values()))[0]
        if kind == "miss":
            with self.lock:
                if self.misses:
                    return ("miss", *self.misses.pop())
            kind = "hit"
        if kind == "hit":
            return ("hit", *rng.choice(self.hits))
        if kind == "original":
            return "original", "/" + quote(rng.choice(self.names)), None
        if kind == "bad-path":
            return "bad-path", rng.choice(BAD_PATHS), None
        if kind == "missing":
            with self.lock:
                self.counter += 1
                return "missing", f"/missing/nothing-{self.counter}-sm.jpg", ACCEPTS["webp"]
        name = {"corrupt": "truncated.jpg", "not-image": rng.choice(["random.jpg", "page.png"]),
                "bomb": "bomb.png"}[kind]
        return kind, variant_path("hostile/" + name, rng.choice(self.variants)), ACCEPTS["webp"]


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.statuses: dict[str, Counter] = defaultdict(Counter)
        self.cache: Counter = Counter()
        self.failures: Counter = Counter()

    def add(self, kind: str, status: int, ms: float, cache: str) -> None:
        with self.lock:
            self.latency[kind].append(ms)
            self.statuses[kind][status] += 1
            if kind in ("hit", "miss"):
                self.cache[f"{kind}:{cache.split()[0] if cache else '-'}"] += 1


def client(port: int, plan: Plan, stats: Stats, deadline: float, seed: int) -> None:
    rng = random.Random(seed)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    while time.monotonic() < deadline:
        kind, path, accept = plan.draw(rng)
        headers = {"Accept": accept} if accept else {}
        started = time.perf_counter()
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            response.read()
            status, cache = response.status, response.getheader("X-Cache", "")
            if status == 302:  # too big to generate: stored, fetched again through the cache, as a browser does
                connection.request("GET", response.getheader("Location"), headers=headers)
                again = connection.getresponse()
                again.read()
                status = 302 if again.status == 200 else again.status
        except (OSError, http.client.HTTPException) as exc:
            stats.failures[type(exc).__name__] += 1
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            continue
        stats.add(kind, status, (time.perf_counter() - started) * 1000, cache)
    connection.close()


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if process.poll() is not None:
            raise SystemExit(f"resizer serve exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("resizer serve did not start")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else 0.0


def run(origin: Path, duration: float, clients: int, sample_every: float, config: str | None, seed: int) -> dict:
    variants = list(load_config(config).variants)
    with tempfile.TemporaryDirectory(prefix="resizer-load-") as tmp:
        originals, derived = Path(tmp) / "originals", Path(tmp) / "derived"
        originals.mkdir()
        names = prepare_originals(origin, originals)
        port = free_port()
        command = [str(Path(sys.executable).with_name("resizer")), "serve", "--origin", str(originals),
                   "--derived", str(derived), "--port", str(port)] + (["--config", config] if config else [])
        log = (Path(tmp) / "server.log").open("wb")  # a file, not a pipe: a full pipe would stall the server
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, cwd=ROOT)
        try:
            wait_for(port, server)
            plan, stats, samples = Plan(names, variants, seed), Stats(), []
            started = time.monotonic()
            deadline = started + duration
            threads = [threading.Thread(target=client, args=(port, plan, stats, deadline, seed + i), daemon=True)
                       for i in range(clients)]
            for thread in threads:
                thread.start()
            samples.append((0.0, rss_kb(server.pid)))
            while (left := deadline - time.monotonic()) > 0:
                time.sleep(min(sample_every, left))
                samples.append((round(time.monotonic() - started, 1), rss_kb(server.pid)))
            for thread in threads:
                thread.join()  # each finishes the request it has in flight
            elapsed = time.monotonic() - started
        finally:
            server.terminate()
            server.wait(timeout=30)
            log.close()
    return report(stats, samples, elapsed, clients, len(plan.misses))


def report(stats: Stats, samples, elapsed: float, clients: int, misses_left: int) -> dict:
    total = sum(len(v) for v in stats.latency.values())
    every = [ms for values in stats.latency.values() for ms in values]
    unexpected = {kind: {s: n for s, n in counts.items() if s not in EXPECTED[kind]}
                  for kind, counts in stats.statuses.items()}
    at_minute = next((kb for t, kb in samples if t >= 60), None)
    end_kb = samples[-1][1]
    return {
        "duration_s": round(elapsed, 1), "clients": clients, "requests": total,
        "req_per_s": round(total / elapsed, 1),
        "p50_ms": round(percentile(every, 50), 1), "p99_ms": round(percentile(every, 99), 1),
        "kinds": {kind: {"requests": len(values), "p50_ms": round(percentile(values, 50), 1),
                         "p99_ms": round(percentile(values, 99), 1),
                         "statuses": dict(sorted(stats.statuses[kind].items()))}
                  for kind, values in sorted(stats.latency.items())},
        "unexpected": {kind: counts for kind, counts in unexpected.items() if counts},
        "connection_failures": dict(stats.failures),
        "x_cache": dict(stats.cache), "misses_left": misses_left,
        "rss_kb": samples,
        "rss_minute_1_kb": at_minute, "rss_end_kb": end_kb,
        "rss_growth_after_minute_1_pct": round(100 * (end_kb - at_minute) / at_minute, 1) if at_minute else None,
    }


def print_report(r: dict) -> None:
    print(f"{r['requests']} requests in {r['duration_s']} s with {r['clients']} clients: {r['req_per_s']} req/s, "
          f"p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms")
    print(f"{'kind':<10} {'requests':>8} {'p50 ms':>8} {'p99 ms':>9}  statuses")
    for kind, k in r["kinds"].items():
        flag = "  UNEXPECTED: " + str(r["unexpected"][kind]) if kind in r["unexpected"] else ""
        print(f"{kind:<10} {k['requests']:>8} {k['p50_ms']:>8} {k['p99_ms']:>9}  {k['statuses']}{flag}")
    print(f"X-Cache: {r['x_cache']}; untried miss combinations left: {r['misses_left']}")
    if r["connection_failures"]:
        print(f"connection failures: {r['connection_failures']}")
    print("server RSS (MB) over time: " + ", ".join(f"{t:.0f}s {kb / 1024:.0f}" for t, kb in r["rss_kb"]))
    if r["rss_minute_1_kb"]:
        print(f"RSS at 1 min {r['rss_minute_1_kb'] / 1024:.0f} MB, at end {r['rss_end_kb'] / 1024:.0f} MB: "
              f"{r['rss_growth_after_minute_1_pct']:+.1f}%")
    else:
        print(f"RSS at end {r['rss_end_kb'] / 1024:.0f} MB (run shorter than a minute: no growth figure)")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--origin", type=Path, default=ROOT.parent / "shared" / "corpus",
                        help="folder of originals (default: ../shared/corpus)")
    parser.add_argument("--duration", type=float, default=60, help="seconds of load (default 60)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent keep-alive clients (default 4)")
    parser.add_argument("--sample-every", type=float, default=5, help="seconds between RSS samples (default 5)")
    parser.add_argument("--config", help="variants config passed to resizer serve")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    result = run(args.origin, args.duration, args.clients, args.sample_every, args.config, args.seed)
    print_report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
