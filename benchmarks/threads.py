"""libvips thread count against the CPUs a Lambda really has: per-request time for each (CPUs, threads) pair.

    .venv/bin/python benchmarks/threads.py                  # every 3rd corpus JPEG, all variants, jpeg/webp/avif
    .venv/bin/python benchmarks/threads.py --cpus 1,2 --threads 1,2,4 --formats jpeg

Each pair runs in a fresh process pinned to the first N CPUs, with libvips' pool set to the thread count
(resizer_bench.speed's `in_fresh_process` and `latency_worker`, as the speed notebook uses them): one warm-up
transform per format, then `pipeline.transform` for every original x variant, one after another (what one Lambda
container does). Prints the summed seconds per format. This is the measurement behind `edge.runtime.vcpu_share`
(docs/PERFORMANCE.md, "Threads").
"""

import argparse
import os
from collections import defaultdict
from pathlib import Path

from resizer.config import load_config
from resizer_bench.speed import Plan, in_fresh_process, latency_worker

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=CORPUS)
    parser.add_argument("--every", type=int, default=3, help="take every Nth JPEG of the folder")
    parser.add_argument("--cpus", default=",".join(str(n) for n in sorted({1, os.cpu_count() or 1})))
    parser.add_argument("--threads", default="1,2,4")
    parser.add_argument("--formats", default="jpeg,webp,avif")
    args = parser.parse_args(argv)
    files = sorted(p for p in args.images.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))[::args.every]
    formats = tuple(args.formats.split(","))
    plan = Plan(images=tuple(str(p) for p in files), names=tuple(p.name for p in files), backends=("vips",),
                formats=formats, variants=tuple(load_config().variants), config=None, threads=(), repeats=1,
                case_budget_s=0)
    print(f"{len(files)} JPEGs from {args.images} x every variant, one at a time; seconds per format")
    print(f"{'CPUs':>4} {'threads':>7} " + " ".join(f"{f:>7}" for f in formats))
    for cpus in map(int, args.cpus.split(",")):
        for threads in map(int, args.threads.split(",")):
            seconds = defaultdict(float)
            for row in in_fresh_process(latency_worker, (plan, "vips", threads), threads=cpus):
                seconds[row["format"]] += row.get("ms", 0) / 1000
            print(f"{cpus:>4} {threads:>7} " + " ".join(f"{seconds[f]:7.2f}" for f in formats))


if __name__ == "__main__":
    main()
