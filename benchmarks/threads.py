"""libvips thread count against the CPUs a Lambda really has: per-request time for each (CPUs, threads) pair.

    .venv/bin/python benchmarks/threads.py                  # every 3rd corpus JPEG, all variants, jpeg/webp/avif
    .venv/bin/python benchmarks/threads.py --cpus 1,2 --threads 1,2,4 --formats jpeg

Each pair runs in a fresh process pinned to the first N CPUs (taskset semantics via sched_setaffinity) with
VIPS_CONCURRENCY set before pyvips loads, one warm-up transform, then `pipeline.transform` for every original x
variant, one after another (what one Lambda container does). Prints the summed seconds per format. This is the
measurement behind `edge.runtime.vcpu_share` (docs/PERFORMANCE.md, "Threads").
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"

CHILD = """
import json, os, sys, time
os.sched_setaffinity(0, range(int(sys.argv[1])))
from pathlib import Path
from resizer import pipeline
from resizer.config import load_config
variants = list(load_config().variants.values())
files = json.loads(sys.argv[2])
totals = {}
for fmt in sys.argv[3].split(","):
    pipeline.transform(Path(files[0]).read_bytes(), variants[0], fmt)  # codec initialisation, not counted
    start = time.perf_counter()
    for name in files:
        data = Path(name).read_bytes()
        for variant in variants:
            pipeline.transform(data, variant, fmt)
    totals[fmt] = time.perf_counter() - start
print(json.dumps(totals))
"""


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=CORPUS)
    parser.add_argument("--every", type=int, default=3, help="take every Nth JPEG of the folder")
    parser.add_argument("--cpus", default=",".join(str(n) for n in sorted({1, os.cpu_count() or 1})))
    parser.add_argument("--threads", default="1,2,4")
    parser.add_argument("--formats", default="jpeg,webp,avif")
    args = parser.parse_args(argv)
    files = sorted(str(p) for p in args.images.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))[::args.every]
    print(f"{len(files)} JPEGs from {args.images} x every variant, one at a time; seconds per format")
    print(f"{'CPUs':>4} {'threads':>7} " + " ".join(f"{f:>7}" for f in args.formats.split(",")))
    for cpus in args.cpus.split(","):
        for threads in args.threads.split(","):
            env = {**os.environ, "VIPS_CONCURRENCY": threads}
            done = subprocess.run([sys.executable, "-c", CHILD, cpus, json.dumps(files), args.formats], env=env,
                                  capture_output=True, text=True, check=True)
            totals = json.loads(done.stdout)
            print(f"{cpus:>4} {threads:>7} " + " ".join(f"{totals[f]:7.2f}" for f in args.formats.split(",")))


if __name__ == "__main__":
    main()
