"""A far miss with and without Origin Shield, eager variants' first view, and the peers as they are deployed.

    PYTHONPATH=. .venv/bin/python benchmarks/far_miss.py                     # 8 corpus photos, webp and avif
    PYTHONPATH=. .venv/bin/python benchmarks/far_miss.py --formats webp --limit 8 --far 60ms,40MB/s

The bucket is `--far` from the viewer's regional edge cache (a round trip per request, then the body at the rate:
resizer.store.origin_model). Measured through `resizer serve` (its own process, one keep-alive client, every
request a first view), per output:

    serve            no Origin Shield: CloudFront's fetch, the function's GET of the original and its PUT each
                     cross the distance (three long round trips)
    serve+shield     `--origin-shield`: all three next to the bucket; the answer crosses once
    eager+shield     every output stored before the first view (`resizer warm`, what the eager function stores
                     on upload), behind the shield: a stored object crossing once, no pixels

The peers are measured locally (sharp's Node driver, thumbor's file loader: benchmarks/peers) and placed as they
are deployed, adding the distance to their measured time; resizer's own per-request path (`pipeline.transform`,
in process) is placed the same way, so that row and the peers' compare like for like (none of them pays a request
path or a store in the bucket's Region, which serve's rows do):

    resizer+shield   resizer's work, then the answer crosses once (modelled as the peers are)
    thumbor-near     thumbor next to its originals behind a CDN: its work, then the answer crosses once
    sharp-seed       the seed's Lambda@Edge origin-response without a shield: its work + three crossings (the
                     fetch, the GET carrying the original, the PUT carrying the output)
    sharp+shield     the same function behind Origin Shield: its work, then the answer crosses once

(The far thumbor row of benchmarks/peers, thumbor at the edge with its file storage, stays there.) Printed per
format and variant: mean ms per output of each row, then the ratios the issue asks for; the floor check counts
serve+shield outputs faster than one crossing allows (there must be none). One stream; note the load average.
"""

import argparse
import os
import statistics
import tempfile
from dataclasses import replace
from pathlib import Path

from benchmarks.peers.engines import Context, Job, make_engine
from benchmarks.peers.runner import list_images, prepare_originals, spread
from resizer.config import load_config
from resizer.store.origin_model import OriginModel

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
MEASURED = ("serve", "serve+shield", "eager+shield")
MODELLED = ("resizer+shield", "thumbor-near", "sharp-seed", "sharp+shield")


def modelled(job: Job, original_bytes: int, model: OriginModel) -> dict[str, float]:
    """A locally measured peer job placed as deployed (the module docstring)."""
    one_crossing = model.delay(job.bytes)
    if job.engine == "thumbor":
        return {"thumbor-near": job.ms + 1000 * one_crossing}
    if job.engine == "resizer-vips":
        return {"resizer+shield": job.ms + 1000 * one_crossing}
    return {"sharp-seed": job.ms + 1000 * (model.delay(0) + model.delay(original_bytes) + one_crossing),
            "sharp+shield": job.ms + 1000 * one_crossing}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=Path, default=CORPUS)
    parser.add_argument("--limit", type=int, default=8, help="originals spread over the folder (default 8)")
    parser.add_argument("--formats", default="webp,avif")
    parser.add_argument("--far", default="60ms,40MB/s", metavar="LATENCY,BANDWIDTH")
    args = parser.parse_args()
    latency, _, bandwidth = args.far.partition(",")
    model = OriginModel.parse(latency, bandwidth)
    config = load_config()
    files = spread(list_images(args.images, 0), args.limit)
    formats = args.formats.split(",")
    print(f"{len(files)} originals from {args.images}, {model.label}; load average {os.getloadavg()[0]:.2f}")
    rows: dict[tuple[str, str, str], list[float]] = {}  # (row, format, variant) -> ms per output
    floor_misses = 0
    with tempfile.TemporaryDirectory(prefix="resizer-far-") as tmp:
        originals = Path(tmp) / "originals"
        prepare_originals(files, originals)
        local = Context(config, None, originals, Path(tmp) / "outputs", tmp, 0, "python3")
        far = replace(local, origin_model=model)
        contexts = {"serve": far, "serve+shield": replace(far, origin_shield=True),
                    "eager+shield": replace(far, origin_shield=True, prewarmed=True)}
        engines = {row: make_engine("serve", ctx) for row, ctx in contexts.items()}
        engines |= {name: make_engine(name, local) for name in ("resizer-vips", "sharp", "thumbor")}
        for engine in engines.values():
            engine.start()
        try:
            for i, path in enumerate(files):
                for fmt in formats:
                    names = list(engines)
                    for row in names[i % len(names):] + names[:i % len(names)]:  # rotating order
                        for job in engines[row].run(path.name, fmt):
                            if job.error:
                                raise SystemExit(f"{row} {path.name} {job.variant} {fmt}: {job.error}")
                            if row in MEASURED:
                                rows.setdefault((row, fmt, job.variant), []).append(job.ms)
                                floor_misses += row == "serve+shield" and job.ms < 1000 * model.delay(job.bytes)
                            else:
                                for name, ms in modelled(job, path.stat().st_size, model).items():
                                    rows.setdefault((name, fmt, job.variant), []).append(ms)
        finally:
            for engine in engines.values():
                engine.close()
    report(rows, formats, [v.name for v in config.variants.values()], floor_misses)


def report(rows: dict[tuple[str, str, str], list[float]], formats: list[str], variants: list[str],
           floor_misses: int) -> None:
    mean = {key: statistics.fmean(values) for key, values in rows.items()}
    for fmt in formats:
        print(f"\n{fmt}: mean ms per output (first views)")
        print(f"{'variant':8}" + "".join(f"{row:>16}" for row in (*MEASURED, *MODELLED)))
        for v in variants:
            print(f"{v:8}" + "".join(f"{mean[row, fmt, v]:16.1f}" for row in (*MEASURED, *MODELLED)))
        print(f"\n{fmt}: ratios (shield gain = serve / serve+shield; vs peers = faster peer as deployed / "
              "serve+shield, and / resizer+shield like for like; eager = faster peer / eager+shield)")
        print(f"{'variant':8}{'shield gain':>14}{'vs peers':>14}{'like for like':>14}{'eager':>14}   faster peer")
        for v in variants:
            peer = min(("thumbor-near", "sharp+shield"), key=lambda r: mean[r, fmt, v])
            print(f"{v:8}{mean['serve', fmt, v] / mean['serve+shield', fmt, v]:14.2f}"
                  f"{mean[peer, fmt, v] / mean['serve+shield', fmt, v]:14.2f}"
                  f"{mean[peer, fmt, v] / mean['resizer+shield', fmt, v]:14.2f}"
                  f"{mean[peer, fmt, v] / mean['eager+shield', fmt, v]:14.2f}   {peer}")
    print(f"\nserve+shield outputs faster than one crossing allows: {floor_misses}")


if __name__ == "__main__":
    main()
