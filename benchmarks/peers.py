"""Peer benchmark: the same variants through resizer's paths and through sharp, thumbor and plain Pillow.

    .venv/bin/python benchmarks/peers.py [--images ../shared/corpus] [--limit N] [--formats jpeg,webp,avif]
                                         [--avif-limit N] [--only NAMES | --skip NAMES] [--quality-sample N]
                                         [--out reports/peers/<timestamp>] [--keep-outputs]

Every image of the folder -> every variant of the config (fit inside, never enlarged) in each format, with the
config's encoder settings (packaged: JPEG q80 4:2:0 progressive, WebP q80 effort 4, AVIF q60 effort 4 4:2:0 8-bit)
given to every engine in its own terms. Engines (names for --only/--skip; groups: resizer, peers, pillow):

    resizer-vips, resizer-pillow   pipeline.transform per request: one variant from the original, as the handler
    batch-vips, batch-pillow       pipeline.render_variants: one decode per original and format, all variants
    serve                          `resizer serve` in its own process, one keep-alive client, every request a miss
    sharp                          sharp 0.34 (the Node original's library), one job at a time: peers_sharp.mjs
    thumbor                        thumbor 7 over HTTP, file loader, no storage, one keep-alive client
    pillow-naive                   open, exif_transpose, convert RGB, resize LANCZOS to the fitted size (no draft)
    pillow-draft                   open, draft, exif_transpose, thumbnail (LANCZOS, reducing_gap 2)
    vips-thumbnail                 pyvips thumbnail_buffer (shrink-on-load, auto-rotate, sRGB)

The peers install themselves on first use under ~/.cache/resizer-peers/ (`npm install sharp@0.34`; a venv with
`pip install thumbor`). Engines run interleaved (per original, in rotating order) so drifting machine load hits
them alike; per-job time includes reading the original (and HTTP for serve/thumbor), not writing the output.
Quality: SSIMULACRA2 (resizer_bench.metrics) of each output against the shared reference, a Lanczos resize of the
full-resolution decode to the output's own size, on --quality-sample originals (scores with fewer than 5 scales,
short side < 113 px, restated with `equivalent_score`).

Writes jobs.csv (one row per output) and summary.json to --out and prints the tables.
"""

import argparse
import csv
import http.client
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import free_port  # noqa: E402  (benchmarks/load.py, a sibling script)

from resizer.config import load_config  # noqa: E402
from resizer.formats import FORMATS, sniff  # noqa: E402
from resizer.sizing import fit_inside  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path.home() / ".cache" / "resizer-peers"
SHARP_SPEC, THUMBOR_SPEC = "sharp@0.34", "thumbor>=7.8,<8"
SHARP_JS = Path(__file__).with_name("peers_sharp.mjs")
FORMATS_ALL = ("jpeg", "webp", "avif")
ENGINES = ("resizer-vips", "resizer-pillow", "batch-vips", "batch-pillow", "serve", "sharp", "thumbor",
           "pillow-naive", "pillow-draft", "vips-thumbnail")
GROUPS = {"resizer": ("resizer-vips", "resizer-pillow", "batch-vips", "batch-pillow", "serve"),
          "peers": ("sharp", "thumbor"), "pillow": ("pillow-naive", "pillow-draft"), "naive": ("pillow-naive",)}
RESIZER_PATHS = GROUPS["resizer"]
ACCEPT = {"avif": "image/avif", "webp": "image/webp", "jpeg": "image/jpeg"}  # serve: jpeg = the fallback
WARMUP_PREFIX = "warmup--"


@dataclass
class Job:
    engine: str
    image: str
    variant: str
    size: int
    format: str  # requested
    written: str = ""  # the format of the output (serve's fallback for a PNG original is PNG)
    width: int = 0
    height: int = 0
    bytes: int = 0
    ms: float = 0.0  # batch engines: the original's group time shared evenly by its variants
    error: str = ""
    s2: float | None = None  # SSIMULACRA2 on the 6-scale scale (quality sample only)
    s2_scales: int | None = None
    output: str = field(default="", repr=False)
    steps: dict = field(default_factory=dict, repr=False)  # pipeline step timings (resizer in-process paths)


class Engine:
    """One way of making variants; `run` makes every variant of one original in one format."""

    name = ""

    def __init__(self, ctx: "Context"):
        self.ctx = ctx
        self.version = ""

    def start(self) -> None: ...

    def close(self) -> None: ...

    def run(self, image: str, fmt: str) -> list[Job]:
        return [self.one(image, variant, fmt) for variant in self.ctx.variants]

    def one(self, image: str, variant, fmt: str) -> Job:
        raise NotImplementedError

    def job(self, image: str, variant, fmt: str) -> Job:
        return Job(self.name, image, variant.name, variant.size, fmt)

    def out_path(self, job: Job, fmt: str) -> Path:
        folder = self.ctx.outputs / self.name / job.format
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{Path(job.image).stem}-{job.variant}.{FORMATS[fmt].extension}"

    def keep(self, job: Job, fmt: str, data: bytes, width: int, height: int) -> Job:
        path = self.out_path(job, fmt)
        path.write_bytes(data)
        job.written, job.width, job.height, job.bytes, job.output = fmt, width, height, len(data), str(path)
        return job


class ResizerEngine(Engine):
    """The handler's call: pipeline.transform on the original's bytes, one variant per request."""

    def __init__(self, ctx, backend: str):
        super().__init__(ctx)
        self.name, self.backend = f"resizer-{backend}", backend

    def start(self):
        from resizer.backends import get_backend

        get_backend(self.backend)
        self.version = library_versions()[self.backend]

    def one(self, image, variant, fmt):
        from resizer.pipeline import transform

        job = self.job(image, variant, fmt)
        start = time.perf_counter()
        result = transform((self.ctx.originals / image).read_bytes(), variant, fmt, backend=self.backend,
                           limits=self.ctx.config.limits)
        job.ms = (time.perf_counter() - start) * 1000
        job.steps = result.timings
        return self.keep(job, result.format, result.data, result.width, result.height)


class BatchEngine(ResizerEngine):
    """`resizer variants`: pipeline.render_variants, one decode per original for all its variants."""

    def __init__(self, ctx, backend: str):
        super().__init__(ctx, backend)
        self.name = f"batch-{backend}"

    def run(self, image, fmt):
        from resizer.pipeline import render_variants

        start = time.perf_counter()
        results = render_variants((self.ctx.originals / image).read_bytes(),
                                  [(v, fmt) for v in self.ctx.variants], backend=self.backend,
                                  limits=self.ctx.config.limits)
        ms = (time.perf_counter() - start) * 1000 / len(results)
        jobs = []
        for variant, result in zip(self.ctx.variants, results, strict=True):
            job = self.job(image, variant, fmt)
            job.ms, job.steps = ms, result.timings
            jobs.append(self.keep(job, result.format, result.data, result.width, result.height))
        return jobs


class PillowEngine(Engine):
    """Plain Pillow, encoding with the Pillow backend's encoder mapping (same settings as resizer-pillow)."""

    def __init__(self, ctx, draft: bool):
        super().__init__(ctx)
        self.name, self.draft = ("pillow-draft" if draft else "pillow-naive"), draft

    def start(self):
        from resizer.backends import get_backend

        self.encoder = get_backend("pillow")
        self.version = library_versions()["pillow"]

    def one(self, image, variant, fmt):
        from PIL import Image, ImageOps

        job = self.job(image, variant, fmt)
        start = time.perf_counter()
        with Image.open(self.ctx.originals / image) as im:
            if self.draft:
                im.draft("RGB", (variant.size, variant.size))
            im = ImageOps.exif_transpose(im).convert("RGB")
            if self.draft:
                im.thumbnail((variant.size, variant.size), Image.Resampling.LANCZOS)
            elif max(im.size) > variant.size:
                im = im.resize(fit_inside(*im.size, variant.size), Image.Resampling.LANCZOS)
            im.info = {}
            data = self.encoder.encode(im, fmt, variant.encoder(fmt))
        job.ms = (time.perf_counter() - start) * 1000
        return self.keep(job, fmt, data, *im.size)


class VipsThumbnailEngine(Engine):
    """libvips' one-call thumbnail (shrink-on-load, auto-rotate, embedded profile to sRGB), then the vips encoder."""

    name = "vips-thumbnail"

    def start(self):
        from resizer.backends import get_backend

        self.encoder = get_backend("vips")
        self.version = library_versions()["vips"]

    def one(self, image, variant, fmt):
        import pyvips

        job = self.job(image, variant, fmt)
        start = time.perf_counter()
        im = pyvips.Image.thumbnail_buffer((self.ctx.originals / image).read_bytes(), variant.size,
                                           height=variant.size, size="down")
        data = self.encoder.encode(im, fmt, variant.encoder(fmt))
        job.ms = (time.perf_counter() - start) * 1000
        return self.keep(job, fmt, data, im.width, im.height)


class SharpEngine(Engine):
    """benchmarks/peers_sharp.mjs in one long-lived Node process; per-job times are measured inside Node."""

    name = "sharp"

    def start(self):
        sharp_dir = install_sharp()
        command = ["node", str(SHARP_JS), str(sharp_dir)]
        if self.ctx.sharp_concurrency:
            command.append(str(self.ctx.sharp_concurrency))
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        info = json.loads(self.proc.stdout.readline())
        self.version = f"sharp {info['sharp']} (libvips {info['vips']}, concurrency {info['concurrency']})"

    def close(self):
        if getattr(self, "proc", None):
            self.proc.stdin.close()
            self.proc.wait(timeout=30)

    def one(self, image, variant, fmt):
        job = self.job(image, variant, fmt)
        s = variant.encoder(fmt)
        path = self.out_path(job, fmt)
        request = {"input": str(self.ctx.originals / image), "size": variant.size, "format": fmt,
                   "output": str(path), "quality": s.quality, "effort": s.effort, "subsampling": s.subsampling,
                   "progressive": s.progressive}
        self.proc.stdin.write(json.dumps({k: v for k, v in request.items() if v is not None}) + "\n")
        answer = json.loads(self.proc.stdout.readline())
        if "error" in answer:
            raise RuntimeError(answer["error"])
        job.written, job.ms, job.bytes, job.output = fmt, answer["ms"], answer["bytes"], str(path)
        job.width, job.height = answer["width"], answer["height"]
        return job


class HttpEngine(Engine):
    """A server in its own process, one keep-alive client; per-job time is the client's (request to last byte)."""

    def connect(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)

    def get(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        for attempt in (1, 2):
            try:
                self.conn.request("GET", path, headers=headers)
                response = self.conn.getresponse()
                return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()  # the server closed an idle keep-alive connection: reconnect once
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self):
        if getattr(self, "conn", None):
            self.conn.close()
        if getattr(self, "proc", None):
            self.proc.terminate()
            self.proc.wait(timeout=30)

    def fetch(self, job: Job, path: str, headers: dict[str, str]) -> Job:
        start = time.perf_counter()
        status, response_headers, body = self.get(path, headers)
        if status == 302:  # resizer: a variant too big to return from Lambda; the viewer comes back for it
            status, response_headers, body = self.get(response_headers["location"], headers)
        job.ms = (time.perf_counter() - start) * 1000
        if status != 200:
            raise RuntimeError(f"HTTP {status}: {body[:200]!r}")
        fmt = sniff(body)
        if fmt not in FORMATS:
            raise RuntimeError(f"not an image: {response_headers.get('content-type')}")
        from PIL import Image

        with Image.open(io.BytesIO(body)) as im:
            return self.keep(job, fmt, body, *im.size)


class ServeEngine(HttpEngine):
    """`resizer serve` (the emulator: viewer-request, origin, origin-response, cache) on a folder origin."""

    name = "serve"

    def start(self):
        port = free_port()
        derived = Path(tempfile.mkdtemp(prefix="derived-", dir=self.ctx.tmp))
        command = [sys.executable, "-m", "resizer.cli", "serve", "--origin", str(self.ctx.originals), "--derived",
                   str(derived), "--port", str(port)]
        if self.ctx.config_path:
            command += ["--config", str(self.ctx.config_path)]
        # The handlers' JSON log lines go to the server's stdout: discarded here.
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, cwd=ROOT)
        wait_http(port, self.proc, "resizer serve", "/")
        self.connect(port)
        self.version = f"resizer serve, backend {self.ctx.config.backend}"

    def one(self, image, variant, fmt):
        stem, dot, ext = image.rpartition(".")
        path = quote(f"/{stem}-{variant.name}{dot}{ext}")
        return self.fetch(self.job(image, variant, fmt), path, {"Accept": ACCEPT[fmt]})


class ThumborEngine(HttpEngine):
    name = "thumbor"

    def start(self):
        venv = install_thumbor(self.ctx.thumbor_python)
        avif = self.ctx.config.variants[next(iter(self.ctx.config.variants))].encoder("avif")
        conf = Path(self.ctx.tmp) / "thumbor.conf"
        settings = {
            "LOADER": "thumbor.loaders.file_loader", "FILE_LOADER_ROOT_PATH": str(self.ctx.originals),
            "STORAGE": "thumbor.storages.no_storage", "RESULT_STORAGE": None, "AUTO_WEBP": False,
            "AUTO_AVIF": False, "QUALITY": 80, "ALLOW_UNSAFE_URL": True, "RESPECT_ORIENTATION": True,
            "PROGRESSIVE_JPEG": True, "PRESERVE_EXIF_INFO": False, "MAX_AGE": 0,
            # aom cpu-used = 9 - effort, as libheif maps the other engines' effort
            "AVIF_SPEED": None if avif.effort is None else 9 - avif.effort, "AVIF_CODEC": "aom",
        }
        conf.write_text("".join(f"{k} = {v!r}\n" for k, v in settings.items()))
        port = free_port()
        self.proc = subprocess.Popen([str(venv / "bin" / "thumbor"), "-p", str(port), "-i", "127.0.0.1", "-c",
                                      str(conf), "-l", "error"], stdout=subprocess.DEVNULL)
        wait_http(port, self.proc, "thumbor", "/healthcheck")
        self.connect(port)
        versions = subprocess.run([str(venv / "bin" / "python"), "-c",
                                   "import sys, thumbor, PIL; print(thumbor.__version__, PIL.__version__, "
                                   "'%d.%d' % sys.version_info[:2])"], capture_output=True, text=True, check=True)
        thumbor, pillow, python = versions.stdout.split()
        self.version = f"thumbor {thumbor} (Pillow {pillow}, Python {python})"

    def one(self, image, variant, fmt):
        s = variant.encoder(fmt)
        path = f"/unsafe/fit-in/{variant.size}x{variant.size}/filters:format({fmt}):quality({s.quality})/"
        return self.fetch(self.job(image, variant, fmt), path + quote(image), {})


# --- installing the peers -------------------------------------------------------------------------------------

def install_sharp() -> Path:
    folder = CACHE / "sharp"
    if not (folder / "node_modules" / "sharp" / "package.json").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "package.json").write_text('{"name": "resizer-peers-sharp", "private": true}\n')
        print(f"peers: npm install {SHARP_SPEC} in {folder}", file=sys.stderr)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", SHARP_SPEC], cwd=folder, check=True,
                       stdout=sys.stderr)
    return folder


def install_thumbor(python: str) -> Path:
    venv = CACHE / "thumbor-venv"
    if not (venv / "bin" / "thumbor").is_file():
        print(f"peers: {python} -m venv {venv} && pip install '{THUMBOR_SPEC}'", file=sys.stderr)
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", THUMBOR_SPEC], check=True,
                       stdout=sys.stderr)
    return venv


def wait_http(port: int, proc: subprocess.Popen, what: str, path: str, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{what} did not answer on port {port}")


def library_versions() -> dict[str, str]:
    import PIL
    import pyvips
    from PIL import features

    return {"vips": f"pyvips {pyvips.__version__} (libvips {'.'.join(str(pyvips.version(i)) for i in range(3))})",
            "pillow": f"Pillow {PIL.__version__} (libjpeg-turbo {features.version('jpg')}, libwebp "
                      f"{features.version('webp')}, libavif {features.version('avif')})"}


# --- running ----------------------------------------------------------------------------------------------------

@dataclass
class Context:
    config: object
    config_path: Path | None
    originals: Path  # the images (hard links or copies) plus a warm-up copy of the first one
    outputs: Path
    tmp: str
    sharp_concurrency: int
    thumbor_python: str

    @property
    def variants(self):
        return list(self.config.variants.values())


def make_engine(name: str, ctx: Context) -> Engine:
    if name.startswith("resizer-"):
        return ResizerEngine(ctx, name.split("-", 1)[1])
    if name.startswith("batch-"):
        return BatchEngine(ctx, name.split("-", 1)[1])
    if name.startswith("pillow-"):
        return PillowEngine(ctx, draft=name == "pillow-draft")
    return {"serve": ServeEngine, "sharp": SharpEngine, "thumbor": ThumborEngine,
            "vips-thumbnail": VipsThumbnailEngine}[name](ctx)


def select_engines(only: str | None, skip: str | None) -> list[str]:
    def expand(spec: str) -> set[str]:
        names = set()
        for item in filter(None, (s.strip() for s in spec.split(","))):
            if item not in GROUPS and item not in ENGINES:
                raise SystemExit(f"unknown engine {item!r} (engines: {', '.join(ENGINES)}; groups: "
                                 f"{', '.join(GROUPS)})")
            names |= set(GROUPS.get(item, (item,)))
        return names

    chosen = expand(only) if only else set(ENGINES)
    chosen -= expand(skip) if skip else set()
    return [name for name in ENGINES if name in chosen]


def spread(items: list, n: int) -> list:
    """n items evenly spaced over the list (all of them when n is 0 or too big)."""
    if not n or n >= len(items):
        return list(items)
    return [items[round(i * (len(items) - 1) / max(1, n - 1))] for i in range(n)] if n > 1 else items[:1]


def list_images(folder: Path, limit: int) -> list[Path]:
    files = [p for p in sorted(folder.iterdir()) if p.is_file() and sniff(p.read_bytes()[:4096]) in FORMATS]
    if not files:
        raise SystemExit(f"no images in {folder}")
    return files[:limit] if limit else files


def prepare_originals(files: list[Path], folder: Path) -> None:
    """The origin folder both HTTP servers read: links to the images and a warm-up copy of the first."""
    folder.mkdir()
    for path in files:
        try:
            os.link(path, folder / path.name)
        except OSError:  # another filesystem
            shutil.copy(path, folder / path.name)
    shutil.copy(files[0], folder / (WARMUP_PREFIX + files[0].name))


def run_all(engines: list[Engine], images: list[str], formats: list[str], avif_images: set[str],
            progress: bool) -> tuple[list[Job], list[float]]:
    """Per format, per original, every engine in turn (the order rotating by one each original)."""
    jobs, loads = [], []
    total = sum(len(images) if fmt != "avif" else len(avif_images) for fmt in formats)
    done = 0
    for fmt in formats:
        for engine in engines:  # warm-up: imports, first-call setup, the servers' first requests
            run_one(engine, WARMUP_PREFIX + images[0], fmt)
        todo = [image for image in images if fmt != "avif" or image in avif_images]
        for i, image in enumerate(todo):
            order = engines[i % len(engines):] + engines[:i % len(engines)]
            for engine in order:
                jobs += run_one(engine, image, fmt)
            loads.append(os.getloadavg()[0])
            done += 1
            if progress:
                print(f"\r  {fmt:4} {done}/{total} originals  load {loads[-1]:.1f}", end="", file=sys.stderr,
                      flush=True)
    if progress:
        print(file=sys.stderr)
    return [job for job in jobs if not job.image.startswith(WARMUP_PREFIX)], loads


def run_one(engine: Engine, image: str, fmt: str) -> list[Job]:
    try:
        return engine.run(image, fmt)
    except Exception as exc:  # noqa: BLE001 -- a failing engine is a result, not the end of the run
        return [Job(engine.name, image, "*", 0, fmt, error=f"{type(exc).__name__}: {exc}")]


# --- quality ----------------------------------------------------------------------------------------------------

def score(jobs: list[Job], originals: Path, sample: set[str], progress: bool) -> None:
    """SSIMULACRA2 (resizer_bench.metrics) of every output of the sampled originals, one shared reference per
    original and output size."""
    from resizer_bench.metrics import Ssimulacra2, decode_rgb, equivalent_score, load_source, reference

    by_image = defaultdict(list)
    for job in jobs:
        if job.image in sample and not job.error:
            by_image[job.image].append(job)
    for n, (image, image_jobs) in enumerate(by_image.items(), 1):
        source = load_source((originals / image).read_bytes())
        scorers = {}
        for job in image_jobs:
            size = (job.width, job.height)
            if size not in scorers:
                scorers[size] = Ssimulacra2(reference(source, *size), pad_scales=True)
            scorer = scorers[size]
            raw = scorer(decode_rgb(Path(job.output).read_bytes()))
            job.s2_scales = len(scorer.levels)
            job.s2 = round(float(equivalent_score(raw, job.s2_scales)), 2)
        if progress:
            print(f"\r  SSIMULACRA2 {n}/{len(by_image)} originals", end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)


# --- summaries --------------------------------------------------------------------------------------------------

def common(jobs: list[Job], a: str, b: str, fmt: str) -> tuple[list[Job], list[Job]]:
    """The jobs of engines a and b for outputs both wrote in the requested format `fmt`."""
    def index(engine):
        return {(j.image, j.variant): j for j in jobs
                if j.engine == engine and j.format == fmt and j.written == fmt and not j.error}

    ia, ib = index(a), index(b)
    keys = sorted(ia.keys() & ib.keys())
    return [ia[k] for k in keys], [ib[k] for k in keys]


def mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def summarize(jobs: list[Job], engines: list[str], formats: list[str], variants: list[str]) -> dict:
    per_engine = {}
    for name in engines:
        for fmt in formats:
            mine = [j for j in jobs if j.engine == name and j.format == fmt]
            if not mine:
                continue
            # Counted: outputs written in the requested format (serve answers a PNG original's fallback in PNG).
            ok = [j for j in mine if not j.error and j.written == fmt]
            other = defaultdict(int)
            for j in mine:
                if not j.error and j.written != fmt:
                    other[j.written] += 1
            seconds = sum(j.ms for j in ok) / 1000
            per_engine[f"{name}/{fmt}"] = {
                "engine": name, "format": fmt, "outputs": len(ok), "errors": sum(bool(j.error) for j in mine),
                "other_formats": dict(other),
                "seconds": round(seconds, 3), "outputs_per_s": round(len(ok) / seconds, 2) if seconds else None,
                "bytes": sum(j.bytes for j in ok),
                "s2_mean": _round(mean(j.s2 for j in ok)), "s2_n": sum(j.s2 is not None for j in ok),
                "ms_per_variant": {v: _round(mean(j.ms for j in ok if j.variant == v)) for v in variants},
                "bytes_per_variant": {v: sum(j.bytes for j in ok if j.variant == v) for v in variants},
                "s2_per_variant": {v: _round(mean(j.s2 for j in ok if j.variant == v)) for v in variants},
            }
    ratios = {}
    for mine in [e for e in engines if e in RESIZER_PATHS]:
        for peer in [e for e in engines if e not in RESIZER_PATHS]:
            for fmt in formats:
                a, b = common(jobs, mine, peer, fmt)
                if not a:
                    continue
                ta, tb = sum(j.ms for j in a), sum(j.ms for j in b)
                pairs = [(x.s2, y.s2) for x, y in zip(a, b, strict=True) if x.s2 is not None and y.s2 is not None]
                ratios[f"{mine}|{peer}|{fmt}"] = {
                    "resizer": mine, "peer": peer, "format": fmt, "outputs": len(a),
                    "speed_ratio": round(tb / ta, 3) if ta else None,  # > 1: the resizer path is faster
                    "bytes_ratio": round(sum(j.bytes for j in a) / sum(j.bytes for j in b), 3),  # < 1: smaller
                    "s2_resizer": _round(mean(p[0] for p in pairs)), "s2_peer": _round(mean(p[1] for p in pairs)),
                    "s2_n": len(pairs),
                }
    return {"engines": per_engine, "ratios": ratios, "targets": targets(ratios, per_engine, formats)}


def targets(ratios: dict, per_engine: dict, formats: list[str]) -> list[dict]:
    """The issue's targets: per request >= 1.25x and batch >= 2x the faster of sharp and thumbor, per format."""
    rows = []
    for fmt in formats:
        peers = [p for p in ("sharp", "thumbor") if f"{p}/{fmt}" in per_engine and per_engine[f"{p}/{fmt}"]["outputs"]]
        if not peers:
            continue
        fastest = max(peers, key=lambda p: per_engine[f"{p}/{fmt}"]["outputs_per_s"] or 0)
        for path, goal in (("resizer-vips", 1.25), ("resizer-pillow", 1.25), ("serve", 1.25), ("batch-vips", 2.0),
                           ("batch-pillow", 2.0)):
            r = ratios.get(f"{path}|{fastest}|{fmt}")
            if r:
                rows.append({"format": fmt, "path": path, "peer": fastest, "goal": goal,
                             "speed_ratio": r["speed_ratio"],
                             "met": bool(r["speed_ratio"] and r["speed_ratio"] >= goal
                                         and (r["s2_resizer"] is None or r["s2_peer"] is None
                                              or r["s2_resizer"] >= r["s2_peer"] - 0.5)),
                             "s2_resizer": r["s2_resizer"], "s2_peer": r["s2_peer"], "bytes_ratio": r["bytes_ratio"]})
    return rows


def step_profile(jobs: list[Job]) -> dict:
    """Mean ms per pipeline step, per resizer in-process path × format × variant (lazy libvips: see pipeline)."""
    sums = defaultdict(lambda: defaultdict(list))
    for j in jobs:
        if j.steps and not j.error:
            for step, ms in j.steps.items():
                sums[f"{j.engine}/{j.format}/{j.variant}"][step].append(ms)
    return {key: {step: round(sum(v) / len(v), 2) for step, v in steps.items()} for key, steps in sums.items()}


def _round(value, digits=2):
    return None if value is None else round(value, digits)


def print_tables(summary: dict, engines: list[str], formats: list[str], variants: list[str]) -> None:
    per = summary["engines"]
    print("\nThroughput, one stream (time = sum of per-output times; outputs = originals × variants)")
    print(f"{'engine':16}{'fmt':6}{'outputs':>8}{'time s':>9}{'out/s':>8}{'MB':>8}{'S2':>7}  "
          + "".join(f"{'ms ' + v:>9}" for v in variants))
    for fmt in formats:
        for name in engines:
            row = per.get(f"{name}/{fmt}")
            if not row:
                continue
            other = row["other_formats"]
            print(f"{name:16}{fmt:6}{row['outputs']:>8}{row['seconds']:>9.2f}{row['outputs_per_s'] or 0:>8.1f}"
                  f"{row['bytes'] / 1e6:>8.2f}{_fmt(row['s2_mean']):>7}  "
                  + "".join(f"{_fmt(row['ms_per_variant'][v], 1):>9}" for v in variants)
                  + (f"  not counted: {other}" if other else "")
                  + (f"  ERRORS {row['errors']}" if row["errors"] else ""))
    mine = [e for e in engines if e in RESIZER_PATHS]
    peers = [e for e in engines if e not in RESIZER_PATHS]
    for title, key, digits in (("Speed ratio (peer time / resizer time; > 1 = resizer faster)", "speed_ratio", 2),
                               ("Bytes ratio (resizer bytes / peer bytes; < 1 = resizer smaller)", "bytes_ratio", 2)):
        if not (mine and peers):
            break
        print(f"\n{title}, on the outputs both wrote in the format")
        print(f"{'resizer path':16}{'fmt':6}" + "".join(f"{p:>16}" for p in peers))
        for fmt in formats:
            for m in mine:
                cells = [summary["ratios"].get(f"{m}|{p}|{fmt}", {}).get(key) for p in peers]
                if any(c is not None for c in cells):
                    print(f"{m:16}{fmt:6}" + "".join(f"{_fmt(c, digits):>16}" for c in cells))
    if any(row["s2_n"] for row in per.values()):
        print("\nSSIMULACRA2 (mean, 6-scale equivalent; quality sample) and KB per output, per variant")
        print(f"{'engine':16}{'fmt':6}" + "".join(f"{'S2 ' + v:>9}" for v in variants)
              + "".join(f"{'KB ' + v:>9}" for v in variants))
        for fmt in formats:
            for name in engines:
                row = per.get(f"{name}/{fmt}")
                if row and row["s2_n"]:
                    n = {v: max(1, row["outputs"] // len(variants)) for v in variants}
                    print(f"{name:16}{fmt:6}" + "".join(f"{_fmt(row['s2_per_variant'][v], 1):>9}" for v in variants)
                          + "".join(f"{row['bytes_per_variant'][v] / n[v] / 1000:>9.1f}" for v in variants))
    if summary["targets"]:
        print("\nTargets (vs the faster of sharp and thumbor; quality: mean S2 on the sample, "
              "within 0.5 counts as equal)")
        for t in summary["targets"]:
            print(f"  {t['format']:5} {t['path']:15} vs {t['peer']:8} {_fmt(t['speed_ratio'])}x (goal {t['goal']}x)  "
                  f"S2 {_fmt(t['s2_resizer'], 1)} vs {_fmt(t['s2_peer'], 1)}  bytes {_fmt(t['bytes_ratio'])}x  "
                  f"{'MET' if t['met'] else 'not met'}")


def _fmt(value, digits=2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--images", type=Path, default=ROOT.parent / "shared" / "corpus", metavar="DIR")
    parser.add_argument("--limit", type=int, default=0, help="only the first N images (default: all)")
    parser.add_argument("--formats", default=",".join(FORMATS_ALL), help="default: jpeg,webp,avif")
    parser.add_argument("--avif-limit", type=int, default=0,
                        help="AVIF on N originals spread over the folder (AVIF effort 4 costs seconds per output; "
                             "default: all)")
    parser.add_argument("--only", help=f"engines or groups to run (engines: {', '.join(ENGINES)}; groups: "
                                       f"{', '.join(GROUPS)})")
    parser.add_argument("--skip", help="engines or groups to leave out")
    parser.add_argument("--quality-sample", type=int, default=8,
                        help="originals (spread over the folder) whose outputs get SSIMULACRA2; 0 = all, -1 = none")
    parser.add_argument("--config", type=Path, default=None, help="variants config (default: the packaged one)")
    parser.add_argument("--sharp-concurrency", type=int, default=0,
                        help="libvips threads for sharp (default: sharp's own, 1 on glibc without jemalloc)")
    parser.add_argument("--thumbor-python", default="python3", help="interpreter for thumbor's venv")
    parser.add_argument("--out", type=Path, help="default: reports/peers/<timestamp>")
    parser.add_argument("--keep-outputs", action="store_true", help="keep every output under OUT/outputs")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)

    config = load_config(args.config)
    formats = [f for f in args.formats.split(",") if f]
    if unknown := [f for f in formats if f not in FORMATS_ALL]:
        raise SystemExit(f"unknown format(s) {unknown}; choose from {', '.join(FORMATS_ALL)}")
    names = select_engines(args.only, args.skip)
    files = list_images(args.images, args.limit)
    images = [p.name for p in files]
    avif_images = set(spread(images, args.avif_limit)) if "avif" in formats else set()
    sample = set() if args.quality_sample < 0 else set(spread(images, args.quality_sample))
    out = args.out or ROOT / "reports" / "peers" / datetime.now().strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    load_start = os.getloadavg()

    with tempfile.TemporaryDirectory(prefix="resizer-peers-") as tmp:
        originals = Path(tmp) / "originals"
        prepare_originals(files, originals)
        outputs = out / "outputs" if args.keep_outputs else Path(tmp) / "outputs"
        ctx = Context(config, args.config, originals, outputs, tmp, args.sharp_concurrency, args.thumbor_python)
        engines = [make_engine(name, ctx) for name in names]
        started = []
        try:
            for engine in engines:
                engine.start()
                started.append(engine)
            progress = not args.quiet
            if progress:
                print(f"peers: {len(images)} originals × {len(config.variants)} variants × {formats} through "
                      f"{', '.join(names)}; AVIF on {len(avif_images)} originals", file=sys.stderr)
            wall = time.perf_counter()
            jobs, loads = run_all(engines, images, formats, avif_images, progress)
            wall = time.perf_counter() - wall
        finally:
            for engine in started:
                engine.close()
        score(jobs, originals, sample, not args.quiet)

    variants = list(config.variants)
    summary = summarize(jobs, names, formats, variants)
    summary["run"] = {
        "images": str(args.images), "originals": len(images), "avif_originals": len(avif_images),
        "quality_sample": sorted(sample), "formats": formats, "variants": {v.name: v.size for v in ctx.variants},
        "encoders": {fmt: asdict(ctx.variants[0].encoder(fmt)) for fmt in formats},
        "versions": {e.name: e.version for e in engines}, "python": sys.version.split()[0],
        "cpus": os.cpu_count(), "load_start": [round(x, 2) for x in load_start],
        "load_end": [round(x, 2) for x in os.getloadavg()],
        "load_1min_mean": _round(mean(loads)), "load_1min_max": _round(max(loads, default=None)),
        "wall_s": round(wall, 1), "errors": [asdict(j) | {"steps": None} for j in jobs if j.error][:50],
    }
    summary["steps"] = step_profile(jobs)
    with open(out / "jobs.csv", "w", newline="") as fh:
        columns = [f for f in Job.__dataclass_fields__ if f != "steps"]
        writer = csv.DictWriter(fh, columns)
        writer.writeheader()
        for job in jobs:
            row = {k: getattr(job, k) for k in columns}
            row["ms"] = round(job.ms, 2)
            writer.writerow(row)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))

    run = summary["run"]
    print(f"\n{run['originals']} originals ({run['avif_originals']} for AVIF), variants {run['variants']}, "
          f"encoders {run['encoders']}")
    for engine in engines:
        print(f"  {engine.name:16}{engine.version}")
    print(f"load (1-min avg) at start {run['load_start'][0]}, during mean {run['load_1min_mean']} / max "
          f"{run['load_1min_max']}, at end {run['load_end'][0]} on {run['cpus']} cores; wall {run['wall_s']} s")
    print_tables(summary, names, formats, variants)
    for err in run["errors"][:10]:
        print(f"ERROR {err['engine']} {err['image']} {err['format']}: {err['error']}")
    print(f"\nwritten: {out / 'jobs.csv'}, {out / 'summary.json'}")
    return summary


if __name__ == "__main__":
    main()
