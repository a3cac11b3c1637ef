"""JPEG XL encoders from PyPI against the shipped AVIF and WebP: licence, size, import time, speed, bytes at a score.

pyvips-binary's libvips has no jxlsave, so a `jxl` ladder format would need a Python JPEG XL encoder in the
origin-response zip. This measures what each candidate would cost there (wheel size against the 50 MiB limit,
import time on the first JXL miss) and what it would buy (bytes at equal SSIMULACRA2 against AVIF and WebP with
the config's settings). The figures behind "JPEG XL: measured, and the decision".

Run it in a scratch venv of the Lambda's Python, outside the checkout (imagecodecs needs Python >= 3.12):

    /root/.pyenv/versions/3.12.1/bin/python -m venv /tmp/jxlvenv
    /tmp/jxlvenv/bin/pip install numpy==2.4.6 pillow==13.0.0 pyvips==3.2.0 pyvips-binary==8.18.7 \
        scipy==1.17.1 scikit-image==0.26.0 ssimulacra2==0.3.0
    JXL="imagecodecs==2026.11.11 pyjpegxl==0.3.0 pylibjxl==0.5.0 jxlpy==0.9.5 pillow-jxl-plugin==1.3.8"
    /tmp/jxlvenv/bin/pip install $JXL          # any subset
    # optional, for wheel sizes and the zip estimate: the Lambda's wheels and today's origin zip
    for p in $JXL numpy==2.4.6 packaging==26.4; do
        .venv/bin/pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
            --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
            -d /tmp/jxlwheels "$p"; done
    .venv/bin/resizer build --bucket jxl-bench --out /tmp/jxl-dist
    /tmp/jxlvenv/bin/python benchmarks/jxl.py --corpus ../shared/corpus \
        --wheels /tmp/jxlwheels --origin-zip /tmp/jxl-dist/origin-response.zip     # ~10 min on 2 cores

A candidate that is not importable is skipped with a message. Scores come from resizer_bench.metrics (the
checkout is put on sys.path), against the resized pixels themselves: this compares codecs, not resamplers.
Every encoder runs on one thread (VIPS_CONCURRENCY=1, each library's thread setting); wall and CPU time are both
printed, so a library that threads anyway shows CPU > wall.
"""

import argparse
import csv
import importlib
import importlib.metadata
import io
import json
import marshal
import math
import os
import statistics
import subprocess
import sys
import time
import zipfile
import zlib
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import NamedTuple

os.environ.setdefault("VIPS_CONCURRENCY", "1")  # before pyvips starts its thread pool

import numpy as np  # noqa: E402
import pyvips  # noqa: E402
from PIL import Image  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from resizer_bench.metrics import Ssimulacra2  # noqa: E402

ZIP_LIMIT = 50 * 1024 * 1024  # Lambda@Edge origin triggers; the limit resizer/build.py checks
IN_ZIP = {"pillow", "pyvips", "pyvips-binary", "cffi", "pycparser", "obstore"}  # resizer/lambda-lock.toml
ALREADY_IMPORTED = "import pyvips, PIL.Image"  # what the origin function has loaded before a first JXL miss


def quality_for(distance: float) -> float:
    """libjxl's JxlEncoderDistanceFromQuality inverted (q >= 30), for the bindings that take a quality."""
    return 100 - (distance - 0.1) / 0.09


class Candidate(NamedTuple):
    dist: str      # PyPI name
    module: str    # imported to use it
    runtime: tuple[str, ...]  # distributions it imports that the zip lacks
    make: Callable  # module -> (encode(pixels, distance, effort) -> bytes, decode(bytes) -> pixels)
    bare: str = ""  # code loading just its extension with numpy blocked, if its API works on bytes without numpy


# pyjpegxl's package imports numpy (and asyncio), but its extension's encode(bytes, width, height) needs neither.
PYJPEGXL_BARE = """import sys, glob, importlib.machinery, importlib.util
sys.modules["numpy"] = None
spec = importlib.util.find_spec("pyjpegxl")
path = glob.glob(spec.submodule_search_locations[0] + "/_pyjpegxl*.so")[0]
loader = importlib.machinery.ExtensionFileLoader("pyjpegxl._pyjpegxl", path)
loader.exec_module(importlib.util.module_from_spec(importlib.util.spec_from_file_location(
    "pyjpegxl._pyjpegxl", path, loader=loader)))"""


def _imagecodecs(m):
    return (lambda px, d, e: m.jpegxl_encode(px, distance=d, effort=e, numthreads=1),
            lambda data: m.jpegxl_decode(data, numthreads=1))


def _pyjpegxl(m):
    m.set_num_threads(1)
    speeds = {e: getattr(m.EncoderSpeed, n) for e, n in enumerate(
        "Lightning Thunder Falcon Cheetah Hare Wombat Squirrel Kitten Tortoise".split(), 1)}
    return (lambda px, d, e: m.encode_from_numpy(px, quality=d, speed=speeds[e]),  # quality <= 15 is a distance
            lambda data: m.decode_to_numpy(data)[1])


def _pylibjxl(m):
    contexts = {}

    def encode(px, d, e):
        if e not in contexts:
            contexts[e] = m.JXL(effort=e, threads=1)
        return contexts[e].encode(px, distance=d)
    return encode, lambda data: m.decode(data)


def _pillow_jxl(m):
    def encode(px, d, e):
        h, w, _ = px.shape
        enc = m.Encoder(mode="RGB", lossless=False, quality=quality_for(d), decoding_speed=0, effort=e,
                        use_container=False, use_original_profile=False, num_threads=1)
        return enc(px.tobytes(), w, h, jpeg_encode=False)

    def decode(data):
        _, info, raw, *_ = m.Decoder(num_threads=1)(data)  # (jpeg?, info, pixels, icc, exif/xmp)
        return np.frombuffer(raw, np.uint8).reshape(info.height, info.width, -1)[..., :3]
    return encode, decode


def _jxlpy(m):
    def encode(px, d, e):
        h, w, _ = px.shape
        enc = m.JXLPyEncoder(quality=round(quality_for(d)), size=(w, h), colorspace="RGB", effort=e,  # int quality
                             decoding_speed=0, use_container=False, num_threads=1)
        try:
            enc.add_frame(px.tobytes())
            return enc.get_output()
        finally:
            enc.close()

    def decode(data):
        dec = m.JXLPyDecoder(data)
        info = dec.get_info()
        return np.frombuffer(dec.get_frame(), np.uint8).reshape(info["ysize"], info["xsize"], -1)[..., :3]
    return encode, decode


CANDIDATES = [
    Candidate("imagecodecs", "imagecodecs", ("numpy",), _imagecodecs),
    Candidate("pyjpegxl", "pyjpegxl", ("numpy",), _pyjpegxl, PYJPEGXL_BARE),
    Candidate("pylibjxl", "pylibjxl", ("numpy",), _pylibjxl),  # 0.5.0 encodes lossy without XYB: 2-3x bytes
    Candidate("pillow-jxl-plugin", "pillow_jxl", ("packaging",), _pillow_jxl),
    Candidate("jxlpy", "jxlpy", (), _jxlpy),
]


def pick_photos(corpus: Path, count: int) -> list[Path]:
    """`count` RGB JPEG photos with a short side >= 1000 px, spread over the inventory's order."""
    with open(corpus / "inventory.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["format"] == "JPEG" and r["mode"] == "RGB"
                and r["category"] == "photo" and min(int(r["width"]), int(r["height"])) >= 1000]
    rows.sort(key=lambda r: r["file"])
    return [corpus / r["file"] for r in rows[::max(1, len(rows) // count)][:count]]


def vips_pixels(image: pyvips.Image) -> np.ndarray:
    image = image.colourspace("srgb").extract_band(0, n=3).cast("uchar")
    return np.ndarray(buffer=image.write_to_memory(), dtype=np.uint8, shape=(image.height, image.width, 3))


def avif(px, q, _effort):
    image = pyvips.Image.new_from_array(px, interpretation="srgb")
    return image.heifsave_buffer(compression="av1", bitdepth=8, Q=q, effort=2, subsample_mode="on", keep="none")


def webp(px, q, _effort):
    buf = io.BytesIO()
    Image.fromarray(px).save(buf, "WEBP", quality=q, method=4)
    return buf.getvalue()


def timed(fn, repeats):
    """(median wall ms, median CPU ms, output) of `repeats` calls."""
    wall, cpu = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return statistics.median(wall) * 1e3, statistics.median(cpu) * 1e3, out


def sweep(photos, codecs, box, repeats):
    """Per codec setting: mean SSIMULACRA2, mean bytes, median wall and CPU ms over the photos."""
    raw = {}
    for n, path in enumerate(photos, 1):
        px = vips_pixels(pyvips.Image.thumbnail(str(path), box, height=box))
        score = Ssimulacra2(px)
        for (label, setting), (encode, decode) in codecs.items():
            wall, cpu, data = timed(partial(encode, px, *setting), repeats)
            raw.setdefault((label, setting), []).append((score(decode(data)), len(data), wall, cpu))
        print(f"\r{n}/{len(photos)} photos", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return {key: dict(score=statistics.fmean(r[0] for r in rows), bytes=statistics.fmean(r[1] for r in rows),
                      wall=statistics.median(r[2] for r in rows), cpu=statistics.median(r[3] for r in rows))
            for key, rows in raw.items()}


def at_score(points: list[dict], target: float) -> dict | None:
    """Bytes (log-linear) and ms (linear) interpolated at a mean score; None if the settings do not bracket it."""
    points = sorted(points, key=lambda p: p["score"])
    for lo, hi in zip(points, points[1:], strict=False):
        if lo["score"] <= target <= hi["score"]:
            t = (target - lo["score"]) / (hi["score"] - lo["score"]) if hi["score"] > lo["score"] else 0.0
            return dict(bytes=math.exp(math.log(lo["bytes"]) + t * math.log(hi["bytes"] / lo["bytes"])),
                        wall=lo["wall"] + t * (hi["wall"] - lo["wall"]), cpu=lo["cpu"] + t * (hi["cpu"] - lo["cpu"]))
    return None


def import_ms(load: str, runs: int, preload: str) -> float:
    """Median ms of running `load` (an import) in fresh processes, after `preload` (excluded from the time)."""
    code = f"{preload}\nimport time\nt = time.perf_counter()\n{load}\nprint(time.perf_counter() - t)"
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return statistics.median(float(subprocess.run([sys.executable, "-c", code], check=True, env=env,
                                                  capture_output=True, text=True).stdout) * 1e3
                             for _ in range(runs))


def licence(dist: str) -> str:
    meta = importlib.metadata.metadata(dist)
    return (meta.get("License-Expression") or meta.get("License")
            or "; ".join(c.split(" :: ")[-1] for c in meta.get_all("Classifier") or [] if c.startswith("License"))
            or "?")


def _deflated(data: bytes) -> int:
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    return len(deflate.compress(data) + deflate.flush())


def _pyc(name: str, source: bytes) -> bytes:
    """What resizer build's precompile adds for a module (this interpreter is the target's version)."""
    try:
        return bytes(16) + marshal.dumps(compile(source, name, "exec", dont_inherit=True))
    except (SyntaxError, ValueError):
        return b""


def wheel_sizes(wheels: Path, dist: str) -> tuple[int, int, int] | None:
    """(wheel bytes, unpacked bytes, bytes its files and their .pyc add to a deflate-9 zip as resizer build
    writes it)."""
    name = dist.replace("-", "_").lower()
    found = [w for w in wheels.rglob("*.whl") if w.name.lower().startswith(name + "-")]
    if not found:
        return None
    with zipfile.ZipFile(found[0]) as z:
        infos = [i for i in z.infolist() if not i.is_dir()]
        deflated = sum(_deflated(z.read(i)) + 76 + 2 * len(i.filename) for i in infos)  # + local, central headers
        deflated += sum(_deflated(_pyc(i.filename, z.read(i))) + 76 + 2 * len(i.filename) + 40
                        for i in infos if i.filename.endswith(".py"))
        return found[0].stat().st_size, sum(i.file_size for i in infos), deflated


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    parser.add_argument("--photos", type=int, default=6)
    parser.add_argument("--box", type=int, default=700, help="resize into a box of this many px (lg)")
    parser.add_argument("--distances", default="1,1.5,2,2.5,3,4,6", help="JPEG XL Butteraugli distances")
    parser.add_argument("--efforts", default="3,5,7", help="JPEG XL efforts (libjxl default 7)")
    parser.add_argument("--avif-q", default="40,50,60,70,80")
    parser.add_argument("--webp-q", default="50,60,70,80,90,95")
    parser.add_argument("--targets", default="70,80", help="mean SSIMULACRA2 scores to compare bytes at")
    parser.add_argument("--repeats", type=int, default=3, help="encodes per setting and photo (median)")
    parser.add_argument("--import-runs", type=int, default=10)
    parser.add_argument("--only", help="comma-separated candidate modules (default: all)")
    parser.add_argument("--wheels", type=Path, help="folder of downloaded manylinux wheels (sizes)")
    parser.add_argument("--origin-zip", type=Path, help="today's origin-response.zip (zip estimate)")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args(argv)

    codecs, facts = {}, {}
    for c in CANDIDATES:
        if args.only and c.module not in args.only.split(","):
            continue
        try:
            module = importlib.import_module(c.module)
        except ImportError as exc:
            print(f"skipping {c.dist}: `import {c.module}` failed ({exc}); pip install {c.dist}", file=sys.stderr)
            continue
        encode, decode = c.make(module)
        for e in map(int, args.efforts.split(",")):
            for d in map(float, args.distances.split(",")):
                codecs[f"jxl {c.dist} e{e}", (d, e)] = (encode, decode)
        fact = dict(licence=licence(c.dist), version=importlib.metadata.version(c.dist), runtime=c.runtime,
                    import_ms=import_ms(f"import {c.module}", args.import_runs, ""),
                    import_after_origin_ms=import_ms(f"import {c.module}", args.import_runs, ALREADY_IMPORTED))
        if c.bare:
            fact["bare_import_after_origin_ms"] = import_ms(c.bare, args.import_runs, ALREADY_IMPORTED)
        if args.wheels:
            sizes = {d: wheel_sizes(args.wheels, d) for d in (c.dist, *c.runtime)}
            fact["wheels"] = sizes
            if args.origin_zip and all(sizes.values()):
                fact["origin_zip_estimate"] = args.origin_zip.stat().st_size + sum(s[2] for s in sizes.values())
        facts[c.dist] = fact
    for q in map(int, args.avif_q.split(",")):
        codecs["avif aom effort 2", (q, 2)] = (avif, lambda data: vips_pixels(pyvips.Image.new_from_buffer(data, "")))
    for q in map(int, args.webp_q.split(",")):
        codecs["webp method 4", (q, 4)] = (webp, lambda data: np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))

    photos = pick_photos(args.corpus, args.photos)
    print(f"photos ({args.box} px box): {', '.join(p.name for p in photos)}", file=sys.stderr)
    results = sweep(photos, codecs, args.box, args.repeats)
    curves = {}
    for (label, setting), r in results.items():
        curves.setdefault(label, []).append(dict(setting=setting[0], **r))

    print("\n## Packages\n")
    print("| package | version | licence | wheel MB | unpacked MB | + runtime deps not in the zip (wheel / unpacked MB)"
          " | origin zip estimate, MB (limit 52.4) | import ms (fresh) | import ms (after pyvips, PIL) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for dist, f in facts.items():
        w = f.get("wheels", {})
        own = w.get(dist)
        deps = ", ".join(f"{d} {s[0] / 1e6:.1f} / {s[1] / 1e6:.1f}" if s else f"{d} ?" for d, s in w.items()
                         if d != dist) or ("-" if not f["runtime"] else ", ".join(f["runtime"]))
        est = f.get("origin_zip_estimate")
        print(f"| {dist} | {f['version']} | {f['licence']} | {own[0] / 1e6:.1f} | {own[1] / 1e6:.1f} | "
              if own else f"| {dist} | {f['version']} | {f['licence']} | ? | ? | ", end="")
        bare = (f" ({f['bare_import_after_origin_ms']:.1f} extension alone, no numpy)"
                if "bare_import_after_origin_ms" in f else "")
        print(f"{deps} | {f'{est / 1e6:.1f} ' + ('ok' if est < ZIP_LIMIT else 'OVER') if est else '?'} | "
              f"{f['import_ms']:.1f} | {f['import_after_origin_ms']:.1f}{bare} |")

    print(f"\n## Settings (mean over {len(photos)} photos; ms = median, one thread)\n")
    print("| codec | setting | SSIMULACRA2 | bytes | wall ms | CPU ms |")
    print("|---|---|---|---|---|---|")
    for label, points in curves.items():
        for p in sorted(points, key=lambda p: p["setting"]):
            print(f"| {label} | {p['setting']:g} | {p['score']:.1f} | {p['bytes']:.0f} | {p['wall']:.1f} | "
                  f"{p['cpu']:.1f} |")

    summary = {}
    for target in map(float, args.targets.split(",")):
        ref = {k: at_score(curves[k], target) for k in ("avif aom effort 2", "webp method 4")}
        print(f"\n## At SSIMULACRA2 {target:g} (interpolated)\n")
        print("| codec | bytes | vs AVIF | vs WebP | wall ms | CPU ms |")
        print("|---|---|---|---|---|---|")
        for label, points in curves.items():
            at = summary[f"{label} @ {target:g}"] = at_score(points, target)
            if at is None:
                print(f"| {label} | not bracketed by the settings | | | | |")
                continue
            rel = [f"{at['bytes'] / r['bytes'] - 1:+.0%}" if r else "?" for r in ref.values()]
            print(f"| {label} | {at['bytes']:.0f} | {rel[0]} | {rel[1]} | {at['wall']:.1f} | {at['cpu']:.1f} |")
    if args.json:
        args.json.write_text(json.dumps(dict(photos=[p.name for p in photos], facts=facts, curves=curves,
                                             at_target=summary), indent=1, default=str))


if __name__ == "__main__":
    main()
