"""Intermediates: is a smaller copy of a large original a better source for later misses?
(resizer/store/intermediate.py)

    .venv/bin/python -m benchmarks.intermediate study      # candidates: time, bytes, SSIMULACRA2 vs from-original
    .venv/bin/python -m benchmarks.intermediate handler --far-origin 60ms,40MB/s   # the handler, miss by miss
    .venv/bin/python -m benchmarks.intermediate memory     # peak RSS of the miss that makes one (/usr/bin/time)

`study` (corpus JPEGs, one stream, WebP variants at the packaged settings): per original, each variant made from
the original (`pipeline.transform`, what a miss does without intermediates), then for each candidate source the
time to make it from the original, its bytes, and each variant it covers made from it (`fit_size` = the
original's), timed (best of `--repeat`) and scored with SSIMULACRA2 against the workbench's reference (Pillow
Lanczos from the full-resolution original: resizer_bench.metrics, as resizer_bench.sweep scores). Candidates:
JPEG q95 4:4:4 at several boxes, q90, PNG and WebP lossless at 1200 px, and the stored `xl` WebP variant itself.
Printed: quality (mean, p10, their deltas), CPU time of the first miss that makes the source (+ the variant
made from it) over a plain miss (p50, p90), later misses over plain ones, and a far-origin model of both.

`handler` runs `OriginResponse._make_variant` over a folder origin shaped by `--far-origin` (the real threads
and sleeps): each original's variants requested one after the other (sm, md, lg, xl by default) with
intermediates off, then on (fresh derived folders); prints each miss's wall time and the ratios.

`memory`: each 12 MP corpus JPEG, one fresh interpreter per run under `/usr/bin/time -f %M`: a miss of
`--variant` that makes the intermediate, vs the same miss with intermediates off.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
VARIANTS = ("sm", "md", "lg", "xl")


class Candidate(NamedTuple):
    label: str
    size: int
    kind: str  # jpeg, png, webpll, xl
    quality: int = 95


CANDIDATES = {c.label: c for c in (
    Candidate("jpeg95-1200", 1200, "jpeg"), Candidate("jpeg95-1800", 1800, "jpeg"),
    Candidate("jpeg95-2400", 2400, "jpeg"), Candidate("jpeg90-1200", 1200, "jpeg", 90),
    Candidate("png-1200", 1200, "png"), Candidate("webpll-1200", 1200, "webpll"),
    Candidate("xl-webp", 1200, "xl"),
)}


def jpegs(folder: Path, limit: int) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))
    if limit and limit < len(files):
        step = len(files) / limit
        files = [files[int(i * step)] for i in range(limit)]
    return files


def pct(values, q: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def best_ms(fn, repeat: int):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, (time.perf_counter() - t) * 1000)
    return best, out


# --- study -------------------------------------------------------------------------------------------------------

def make_source(data: bytes, cand: Candidate, config, backend, repeat: int):
    """(ms, bytes of the source) for a candidate, made from the original as a first miss would."""
    from resizer.config import EncoderSettings, Intermediate, Variant
    from resizer.image import pipeline
    from resizer.store.intermediate import as_variant

    if cand.kind == "jpeg":
        variant = as_variant(Intermediate(cand.size, cand.quality))
        return best_ms(lambda: pipeline.transform(data, variant, "jpeg", backend=backend).data, repeat)
    if cand.kind == "xl":  # the stored xl variant: no extra work, no extra object
        return 0.0, pipeline.transform(data, config.variant("xl"), "webp", backend=backend).data
    png = Variant("source", cand.size, ("png",), MappingProxyType({"png": EncoderSettings(effort=1)}))
    ms, result = best_ms(lambda: pipeline.transform(data, png, "png", backend=backend), repeat)
    if cand.kind == "png":
        return ms, result.data
    import pyvips

    image = pyvips.Image.new_from_buffer(result.data, "")
    enc_ms, webp = best_ms(lambda: image.webpsave_buffer(lossless=True, effort=1, strip=True), repeat)
    return ms - result.timings["encode"] + enc_ms, webp


def study(args) -> None:

    from resizer.config import load_config
    from resizer.image import pipeline
    from resizer.image.backends import get_backend
    from resizer_bench import metrics

    config = load_config(args.config)
    backend = get_backend("vips")
    import pyvips

    pyvips.cache_set_max(0)
    cands = [CANDIDATES[c] for c in args.candidates.split(",")]
    variants = args.variants.split(",")
    files = jpegs(args.images, args.limit)
    rows = []  # dicts: file, ratio, variant, source, ms, s2, first_ms (sources), src_bytes, orig_bytes
    for n, path in enumerate(files, 1):
        data = path.read_bytes()
        info = pipeline.inspect(data)
        fit = info.oriented_size
        ratio = max(fit) / 1200
        source = metrics.load_source(data)
        scorers = {}

        def score(result, source=source, scorers=scorers):
            size = (result.width, result.height)
            if size not in scorers:
                scorers[size] = metrics.Ssimulacra2(metrics.reference(source, *size), pad_scales=True)
            return scorers[size](metrics.decode_rgb(result.data))

        for v in variants:
            variant = config.variant(v)
            ms, result = best_ms(lambda data=data, variant=variant: pipeline.transform(
                data, variant, args.format, backend=backend), args.repeat)
            rows.append(dict(file=path.name, ratio=ratio, variant=v, source="original", ms=ms, s2=score(result),
                             make_ms=0.0, src_bytes=len(data), orig_bytes=len(data), out_bytes=len(result.data)))
        for cand in cands:
            make_ms, src = make_source(data, cand, config, backend, args.repeat)
            for v in variants:
                variant = config.variant(v)
                if variant.size > cand.size or (variant.size == cand.size and cand.kind == "xl"):
                    continue
                ms, result = best_ms(lambda src=src, variant=variant, fit=fit: pipeline.transform(
                    src, variant, args.format, backend=backend, fit_size=fit), args.repeat)
                rows.append(dict(file=path.name, ratio=ratio, variant=v, source=cand.label, ms=ms, s2=score(result),
                                 make_ms=make_ms, src_bytes=len(src), orig_bytes=len(data), out_bytes=len(result.data)))
        print(f"[{n}/{len(files)}] {path.name} {fit[0]}x{fit[1]} ratio {ratio:.2f}", file=sys.stderr, flush=True)
    report_study(rows, cands, variants, args)


def far_ms(model, cpu_ms: float, get_bytes: int, put_bytes: int) -> float:
    return cpu_ms + 1000 * (model.delay(get_bytes) + model.delay(put_bytes))


def report_study(rows, cands, variants, args) -> None:
    from resizer.store.origin_model import OriginModel

    latency, _, bandwidth = args.far_origin.partition(",")
    model = OriginModel.parse(latency, bandwidth or None)
    rtt = model.latency_s * 1000
    plain = {(r["file"], r["variant"]): r for r in rows if r["source"] == "original"}
    files = sorted({r["file"] for r in rows})
    ratio_of = {r["file"]: r["ratio"] for r in rows}
    print(f"\n{len(files)} JPEGs, {args.format} variants {','.join(variants)}; ratio = longer side / 1200; "
          f"load {os.getloadavg()[0]:.1f}")
    subsets = (("all", lambda f: True), (f"ratio >= {args.min_ratio}", lambda f: ratio_of[f] >= args.min_ratio))
    for subset, keep in subsets:
        chosen = [f for f in files if keep(f)]
        print(f"\n== {subset}: {len(chosen)} originals; model {model.label} ==")
        print(f"{'source':16} {'KB':>6} {'S2 mean':>8} {'Δmean':>6} {'S2 p10':>7} {'Δp10':>6} "
              f"{'first/plain p50':>15} {'p90':>5} {'later/plain':>11} {'far first':>9} {'far later':>9}")
        for label in ["original"] + [c.label for c in cands]:
            rs = [r for r in rows if r["source"] == label and r["file"] in chosen]
            if not rs:
                continue
            ref = [plain[r["file"], r["variant"]] for r in rs]  # the same outputs made from the original
            s2, s2_ref = [r["s2"] for r in rs], [r["s2"] for r in ref]
            first = [(r["make_ms"] + r["ms"]) / p["ms"] for r, p in zip(rs, ref, strict=True)]
            later = sum(r["ms"] for r in rs) / sum(p["ms"] for p in ref)
            # far model: plain = GET original + PUT variant; first = [GET src ∥ HEAD] + GET original + CPU +
            # max(PUT variant, PUT src); later = [GET src ∥ HEAD] + CPU + PUT variant
            far_plain = [far_ms(model, p["ms"], p["orig_bytes"], p["out_bytes"]) for p in ref]
            far_first = [rtt + 1000 * model.delay(r["orig_bytes"]) + r["make_ms"] + r["ms"]
                         + 1000 * max(model.delay(r["out_bytes"]), model.delay(r["src_bytes"])) for r in rs]
            far_later = [1000 * (model.delay(r["src_bytes"]) + model.delay(r["out_bytes"])) + r["ms"] for r in rs]
            kb = statistics.mean(r["src_bytes"] for r in rs) / 1000
            mean, p10 = statistics.mean(s2), pct(s2, .1)
            print(f"{label:16} {kb:6.0f} {mean:8.2f} {mean - statistics.mean(s2_ref):+6.2f} {p10:7.2f} "
                  f"{p10 - pct(s2_ref, .1):+6.2f} {pct(first, .5):15.2f} {pct(first, .9):5.2f} "
                  f"{later:11.2f} {pct([a / b for a, b in zip(far_first, far_plain, strict=True)], .5):9.2f} "
                  f"{sum(far_later) / sum(far_plain):9.2f}")
        for label in [c.label for c in cands]:
            per_v = []
            for v in variants:
                rs = [r for r in rows if r["source"] == label and r["variant"] == v and r["file"] in chosen]
                if rs:
                    d = statistics.mean(r["s2"] - plain[r["file"], v]["s2"] for r in rs)
                    per_v.append(f"{v} {d:+.2f}")
            print(f"  {label:16} ΔS2 by variant: {', '.join(per_v)}")
        # the whole life of an original whose 4 variants are each requested once, first `sm`, in this format
        print("  per original, all of " + ",".join(variants) + " requested once (first: " + variants[0] + "):")
        for label in [c.label for c in cands]:
            tot_plain = tot_cand = far_p = far_c = 0.0
            ok = True
            for f in chosen:
                rs = {r["variant"]: r for r in rows if r["source"] == label and r["file"] == f}
                for i, v in enumerate(variants):
                    p = plain[f, v]
                    tot_plain += p["ms"]
                    far_p += far_ms(model, p["ms"], p["orig_bytes"], p["out_bytes"])
                    r = rs.get(v)
                    if r is None:  # not covered: from the original (+ the round trip of the intermediate's GET)
                        tot_cand += p["ms"]
                        far_c += rtt + far_ms(model, p["ms"], p["orig_bytes"], p["out_bytes"])
                    elif i == 0:
                        tot_cand += r["make_ms"] + r["ms"]
                        far_c += rtt + 1000 * model.delay(r["orig_bytes"]) + r["make_ms"] + r["ms"] + 1000 * max(
                            model.delay(r["out_bytes"]), model.delay(r["src_bytes"]))
                    else:
                        tot_cand += r["ms"]
                        far_c += 1000 * model.delay(r["src_bytes"]) + r["ms"] + 1000 * model.delay(r["out_bytes"])
            ok = ok and tot_plain > 0
            print(f"    {label:16} CPU {tot_cand / tot_plain:.2f}× of plain, far {far_c / far_p:.2f}× of plain")


# --- handler ---------------------------------------------------------------------------------------------------

def handler_run(args) -> None:
    from resizer.config import load_config
    from resizer.edge.origin import OriginResponse
    from resizer.keys import derived_key
    from resizer.store.origin_model import OriginModel, ShapedOrigin
    from resizer.store.origins import LocalOrigin

    latency, _, bandwidth = args.far_origin.partition(",")
    model = OriginModel.parse(latency, bandwidth or None)
    on = load_config(args.config)
    off = on._replace(intermediate=None, intermediate_id="")
    variants = args.variants.split(",")
    files = jpegs(args.images, args.limit)
    import pyvips

    pyvips.cache_set_max(0)
    times: dict[tuple[str, str, str], float] = {}  # (mode, file, variant) -> ms
    sources: dict[tuple[str, str], str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        originals = Path(tmp) / "originals"
        originals.mkdir()
        for path in files:
            shutil.copy(path, originals / path.name)
        for mode, config in (("off", off), ("on", on)):
            derived = Path(tmp) / f"derived-{mode}"
            handler = OriginResponse(config, ShapedOrigin(LocalOrigin(originals, derived, config.derived_prefix),
                                                          model), image_threads=1)
            for path in files:
                for v in variants:
                    record: dict = {}
                    t = time.perf_counter()
                    handler._make_variant(derived_key(config, v, args.format, path.name), {}, record)
                    times[mode, path.name, v] = (time.perf_counter() - t) * 1000
                    sources[mode, path.name + v] = record.get("source", "-")
            shutil.rmtree(derived)
            print(f"{mode} done", file=sys.stderr, flush=True)
    print(f"\n`_make_variant` wall ms per miss, {len(files)} JPEGs, {args.format}, model {model.label}, "
          f"requested in order {','.join(variants)}; load {os.getloadavg()[0]:.1f}")
    for v_i, v in enumerate(variants):
        off_ms = [times["off", f.name, v] for f in files]
        on_ms = [times["on", f.name, v] for f in files]
        ratios = [a / b for a, b in zip(on_ms, off_ms, strict=True)]
        made = sum(sources["on", f.name + v].startswith("original,") for f in files)
        via = sum(sources["on", f.name + v] == "intermediate" for f in files)
        print(f"{v:3} off p50 {pct(off_ms, .5):6.0f}  on p50 {pct(on_ms, .5):6.0f}  on/off p10 {pct(ratios, .1):.2f} "
              f"p50 {pct(ratios, .5):.2f} p90 {pct(ratios, .9):.2f} max {max(ratios):.2f}  "
              f"(intermediate made {made}, read {via})")
        if v_i == 0:
            first = [(times["on", f.name, v] / times["off", f.name, v]) for f in files
                     if sources["on", f.name + v].startswith("original,")]
            if first:
                print(f"    creating misses only ({len(first)}): on/off p50 {pct(first, .5):.2f} "
                      f"p90 {pct(first, .9):.2f} max {max(first):.2f}")
    tot_off = sum(times["off", f.name, v] for f in files for v in variants)
    tot_on = sum(times["on", f.name, v] for f in files for v in variants)
    print(f"all misses: off {tot_off / 1000:.1f} s, on {tot_on / 1000:.1f} s ({tot_off / tot_on:.2f}× less time on)")


# --- memory ----------------------------------------------------------------------------------------------------

MISS_CHILD = """
import sys, tempfile, os, shutil
from pathlib import Path
import pyvips
pyvips.cache_set_max(0)
from resizer.config import load_config
from resizer.edge.origin import OriginResponse
from resizer.keys import derived_key
from resizer.store.origins import LocalOrigin
image, variant, fmt, mode, config_path = sys.argv[1:6]
config = load_config(config_path or None)
if mode == "off":
    config = config._replace(intermediate=None, intermediate_id="")
with tempfile.TemporaryDirectory() as tmp:
    os.mkdir(tmp + "/o")
    shutil.copy(image, tmp + "/o/x.jpg")
    handler = OriginResponse(config, LocalOrigin(tmp + "/o", tmp + "/d", config.derived_prefix), image_threads=1)
    record = {}
    handler._make_variant(derived_key(config, variant, fmt, "x.jpg"), {}, record)
    assert record.get("source", "original") == ("original, new intermediate" if mode == "on" else "original"), record
"""


def memory(args) -> None:
    import csv

    with (args.images / "inventory.csv").open() as f:
        images = [args.images / row["file"] for row in csv.DictReader(f)
                  if row["format"] == "JPEG" and 11.4 <= float(row["megapixels"]) <= 12.5]
    print(f"peak RSS (MB, /usr/bin/time -f %M) of one miss -> {args.variant} {args.format}, fresh process each")
    print(f"{'image':52} {'off':>5} {'makes intermediate':>19}")
    worst = 0.0
    for image in images:
        peaks = []
        for mode in ("off", "on"):
            done = subprocess.run(["/usr/bin/time", "-f", "%M", sys.executable, "-c", MISS_CHILD, str(image),
                                   args.variant, args.format, mode, args.config or ""],
                                  capture_output=True, text=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
            if done.returncode:
                raise SystemExit(done.stderr[-2000:])
            peaks.append(int(done.stderr.strip().splitlines()[-1]) / 1024)
        worst = max(worst, peaks[1])
        print(f"{image.name[:52]:52} {peaks[0]:5.0f} {peaks[1]:19.0f}")
    print(f"worst, making the intermediate: {worst:.0f} MB")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("study", "handler", "memory"))
    parser.add_argument("--images", type=Path, default=CORPUS)
    parser.add_argument("--limit", type=int, default=0, help="JPEGs, spread over the folder (0 = all)")
    parser.add_argument("--format", default="webp")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--variant", default="sm", help="memory: the variant of the miss")
    parser.add_argument("--candidates", default=",".join(CANDIDATES))
    parser.add_argument("--repeat", type=int, default=2, help="study: timings are the best of this many")
    parser.add_argument("--min-ratio", type=float, default=2.0, help="study: also report originals this much "
                        "larger than 1200 px")
    parser.add_argument("--far-origin", default="60ms,40MB/s", help="latency,bandwidth of the modelled origin")
    parser.add_argument("--config", help="variants config (default: the packaged one)")
    args = parser.parse_args(argv)
    {"study": study, "handler": handler_run, "memory": memory}[args.mode](args)


if __name__ == "__main__":
    main()
