"""The command line: arguments, one measured run, then summary.json, jobs.csv and the tables."""

import argparse
import os
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path

import benchmarks.peers
from benchmarks.peers.engines import ENGINES, FAR_ENGINES, GROUPS, REPO, Context, Job, make_engine, select_engines
from benchmarks.peers.origin_server import shaped_origin_server
from benchmarks.peers.report import mean, print_results, rounded, step_profile, summarize, write_results
from benchmarks.peers.runner import list_images, prepare_originals, run_all, spread
from benchmarks.peers.scoring import score
from resizer.config import load_config
from resizer.image.formats import LOSSY_FORMATS
from resizer.store.origin_model import LOCAL, OriginModel

FORMATS_ALL = LOSSY_FORMATS


@dataclass
class Measured:
    jobs: list[Job]
    versions: dict[str, dict[str, str]]  # origin label -> engine name -> what it ran (library versions, settings)
    loads: list[float]  # 1-minute load average after each original
    wall_s: float


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    doc = benchmarks.peers.__doc__
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peers", description=doc.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=doc)
    parser.add_argument("--images", type=Path, default=REPO.parent / "shared" / "corpus", metavar="DIR")
    parser.add_argument("--limit", type=int, default=0, help="only the first N images (default: all)")
    parser.add_argument("--formats", default=",".join(FORMATS_ALL), help="default: jpeg,webp,avif")
    parser.add_argument("--avif-limit", type=int, default=0,
                        help="AVIF on N originals spread over the folder (AVIF costs seconds per large output "
                             "even at the packaged effort; default: all)")
    parser.add_argument("--only", help=f"engines or groups to run (engines: {', '.join(ENGINES)}; groups: "
                                       f"{', '.join(GROUPS)})")
    parser.add_argument("--skip", help="engines or groups to leave out")
    parser.add_argument("--quality-sample", type=int, default=8,
                        help="originals (spread over the folder) whose outputs get SSIMULACRA2; 0 = all, -1 = none")
    parser.add_argument("--config", type=Path, default=None, help="variants config (default: the packaged one)")
    parser.add_argument("--sharp-concurrency", type=int, default=0,
                        help="libvips threads for sharp (default: sharp's own, 1 on glibc without jemalloc)")
    parser.add_argument("--thumbor-python", default="python3", help="interpreter for thumbor's venv")
    parser.add_argument("--far-origin", type=far_origin, metavar="LATENCY,BANDWIDTH",
                        help="also run serve, sharp and thumbor with every original read from an origin this far "
                             "(e.g. 60ms,40MB/s: per request, then the body at that rate; as `resizer serve "
                             "--origin-latency/--origin-bandwidth` take them)")
    parser.add_argument("--out", type=Path, help="default: reports/peers/<timestamp>")
    parser.add_argument("--keep-outputs", action="store_true", help="keep every output under OUT/outputs")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    return parser.parse_args(argv)


def far_origin(text: str) -> OriginModel:
    """--far-origin's LATENCY,BANDWIDTH."""
    latency, comma, bandwidth = text.partition(",")
    try:
        if not comma:
            raise ValueError(f"{text!r}: give LATENCY,BANDWIDTH (e.g. 60ms,40MB/s)")
        return OriginModel.parse(latency, bandwidth)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def measure(args: argparse.Namespace, config, names: list[str], far_names: list[str], files: list[Path],
            formats: list[str], avif_images: set[str], sample: set[str], out: Path) -> Measured:
    """Start the engines (`far_names` a second time behind the far origin), run them interleaved, stop them, then
    score the sample (before the outputs go; the far rows' outputs are the local rows' again, not scored)."""
    images = [p.name for p in files]
    progress = not args.quiet
    with tempfile.TemporaryDirectory(prefix="resizer-peers-") as tmp, ExitStack() as far:
        originals = Path(tmp) / "originals"
        prepare_originals(files, originals)
        outputs = out / "outputs" if args.keep_outputs else Path(tmp) / "outputs"
        ctx = Context(config, args.config, originals, outputs, tmp, args.sharp_concurrency, args.thumbor_python)
        engines = [make_engine(name, ctx) for name in names]
        if far_names:
            far_tmp = Path(tmp) / "far-origin"
            far_tmp.mkdir()
            far_ctx = replace(ctx, outputs=outputs / "far-origin", tmp=str(far_tmp), origin_model=args.far_origin,
                              originals_url=far.enter_context(shaped_origin_server(originals, args.far_origin)))
            engines += [make_engine(name, far_ctx) for name in far_names]
        started = []
        try:
            for engine in engines:
                engine.start()
                started.append(engine)
            if progress:
                print(f"peers: {len(images)} originals × {len(config.variants)} variants × {formats} through "
                      f"{', '.join(names)}" + (f", and {', '.join(far_names)} at {args.far_origin.label}"
                                               if far_names else "")
                      + f"; AVIF on {len(avif_images)} originals", file=sys.stderr)
            wall = time.perf_counter()
            jobs, loads = run_all(engines, images, formats, avif_images, progress)
            wall = time.perf_counter() - wall
        finally:
            for engine in started:
                engine.close()
        score([j for j in jobs if j.origin == LOCAL.label], originals, sample, progress)
    versions: dict[str, dict[str, str]] = {}
    for engine in engines:
        versions.setdefault(engine.ctx.origin_model.label, {})[engine.name] = engine.version
    return Measured(jobs, versions, loads, wall)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    config = load_config(args.config)
    formats = [f for f in args.formats.split(",") if f]
    if unknown := [f for f in formats if f not in FORMATS_ALL]:
        raise SystemExit(f"unknown format(s) {unknown}; choose from {', '.join(FORMATS_ALL)}")
    names = select_engines(args.only, args.skip)
    far_names = [name for name in names if name in FAR_ENGINES] if args.far_origin else []
    if args.far_origin and not far_names:
        raise SystemExit(f"--far-origin runs {', '.join(FAR_ENGINES)}: none of them is selected")
    files = list_images(args.images, args.limit)
    images = [p.name for p in files]
    avif_images = set(spread(images, args.avif_limit)) if "avif" in formats else set()
    sample = set() if args.quality_sample < 0 else set(spread(images, args.quality_sample))
    out = args.out or REPO / "reports" / "peers" / datetime.now().strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    load_start = os.getloadavg()

    measured = measure(args, config, names, far_names, files, formats, avif_images, sample, out)

    jobs, variants = measured.jobs, list(config.variants)
    first = next(iter(config.variants.values()))
    summary = summarize([j for j in jobs if j.origin == LOCAL.label], names, formats, variants)
    summary["origin"] = LOCAL.label
    summary["run"] = {
        "images": str(args.images), "originals": len(images), "avif_originals": len(avif_images),
        "quality_sample": sorted(sample), "formats": formats,
        "variants": {v.name: v.size for v in config.variants.values()},
        "encoders": {fmt: first.encoder(fmt)._asdict() for fmt in formats},
        "versions": measured.versions[LOCAL.label], "python": sys.version.split()[0],
        "cpus": os.cpu_count(), "load_start": [round(x, 2) for x in load_start],
        "load_end": [round(x, 2) for x in os.getloadavg()],
        "load_1min_mean": rounded(mean(measured.loads)),
        "load_1min_max": rounded(max(measured.loads, default=None)),
        "wall_s": round(measured.wall_s, 1), "errors": [asdict(j) | {"steps": None} for j in jobs if j.error][:50],
    }
    summary["steps"] = step_profile(jobs)
    if far_names:
        model = args.far_origin
        summary["far_origin"] = {
            "origin": model.label, "latency_s": model.latency_s, "bytes_per_s": model.bytes_per_s,
            "versions": measured.versions[model.label],
            **summarize([j for j in jobs if j.origin == model.label], far_names, formats, variants)}
    write_results(out, jobs, summary)
    print_results(summary, names, far_names, formats, variants)
    print(f"\nwritten: {out / 'jobs.csv'}, {out / 'summary.json'}")
    return summary
