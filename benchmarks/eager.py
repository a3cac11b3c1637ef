"""Would an eager mode pay off at the edge? (the first miss of an image makes all its variants; later misses of that
image find them stored in S3)

    .venv/bin/python benchmarks/eager.py                       # corpus, webp and avif, 1024 MB origin function
    .venv/bin/python benchmarks/eager.py --formats webp --images ~/photos --s3-ms 40 --memory-mb 1536

Measured on this machine, per original and format: `lazy` = each variant made on its own miss
(`pipeline.transform` from the original, what the handler does), `eager` = all variants from one decode
(`pipeline.render_variants`). Modelled around it, per miss: one S3 GET of the original and one PUT per object
written (`--s3-ms` each, sequential, as the handler does them), and for a later miss that finds its variant stored,
an origin-response pass-through (`--passthrough-ms`, resizer_bench.cost's default).

Printed: the first viewer's wait (a miss for `sm`, the most requested variant, eager vs lazy), Lambda time per
original when k of its variants are ever requested (k = 1..all), the break-even k, and the cost of the difference at
Lambda@Edge's GB-second price. One stream; note the load average.
"""

import argparse
import os
import statistics
import time
from pathlib import Path

from resizer.config import load_config
from resizer.image import pipeline
from resizer_bench.cost import Prices, Traffic

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


def timed(fn, *args, **kwargs) -> float:
    start = time.perf_counter()
    fn(*args, **kwargs)
    return (time.perf_counter() - start) * 1000


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=CORPUS)
    parser.add_argument("--limit", type=int, default=0, help="originals, spread over the folder (0 = all)")
    parser.add_argument("--formats", default="webp,avif")
    parser.add_argument("--backend", default="vips")
    parser.add_argument("--s3-ms", type=float, default=30.0, help="one S3 GET or PUT from the edge function")
    parser.add_argument("--passthrough-ms", type=float, default=Traffic().passthrough_ms)
    parser.add_argument("--memory-mb", type=int, default=Traffic().origin_memory_mb)
    args = parser.parse_args(argv)

    variants = list(load_config().variants.values())
    files = sorted(p for p in args.images.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if args.limit:
        files = files[::max(1, len(files) // args.limit)][:args.limit]
    n = len(variants)
    print(f"{len(files)} originals from {args.images}, {n} variants, backend {args.backend}; "
          f"S3 GET/PUT {args.s3_ms:g} ms, pass-through {args.passthrough_ms:g} ms; "
          f"load average {os.getloadavg()[0]:.1f}")
    for fmt in args.formats.split(","):
        lazy, eager = [], []  # per original: [ms per variant], ms for all
        for path in files:
            data = path.read_bytes()
            pipeline.transform(data, variants[0], fmt, backend=args.backend)  # warm caches and codecs
            lazy.append([timed(pipeline.transform, data, v, fmt, backend=args.backend) for v in variants])
            eager.append(timed(pipeline.render_variants, data, [(v, fmt) for v in variants],
                               backend=args.backend))
        report(fmt, variants, lazy, eager, args)


def report(fmt: str, variants, lazy: list[list[float]], eager: list[float], args) -> None:
    s3 = args.s3_ms
    first_lazy = [s3 + ms[0] + s3 for ms in lazy]  # GET original, make sm, PUT it
    first_eager = [s3 + e + len(variants) * s3 for e in eager]  # GET original, make all, PUT all
    ratio = statistics.median(e / lz for e, lz in zip(first_eager, first_lazy, strict=True))
    print(f"\n{fmt}: first viewer's wait for sm, median: lazy {statistics.median(first_lazy):.0f} ms, "
          f"eager {statistics.median(first_eager):.0f} ms ({ratio:.1f}x); p90 eager "
          f"{statistics.quantiles(first_eager, n=10)[-1] if len(first_eager) > 1 else first_eager[0]:.0f} ms")
    mean_lazy = [statistics.mean(s3 + m + s3 for m in ms) for ms in lazy]  # one variant's miss, on average
    print(f"  Lambda ms per original when k of its {len(variants)} variants are ever requested (means):")
    print("    k   lazy   eager   eager/lazy")
    for k in range(1, len(variants) + 1):
        lazy_k = statistics.mean(k * m for m in mean_lazy)
        eager_k = statistics.mean(f + (k - 1) * args.passthrough_ms for f in first_eager)
        print(f"    {k}  {lazy_k:6.0f}  {eager_k:6.0f}   {eager_k / lazy_k:5.2f}")
    # Eager's Lambda time E + (k-1) p against lazy's k L: break-even k = (E - p) / (L - p)
    p, e_mean, l_mean = args.passthrough_ms, statistics.mean(first_eager), statistics.mean(mean_lazy)
    print(f"  break-even: eager pays off once more than {(e_mean - p) / (l_mean - p):.1f} variants of an image "
          f"are requested in this format")
    gb_s = Prices().lambda_per_gb_second * args.memory_mb / 1024 / 1000  # $ per Lambda ms at this memory
    print(f"  at {args.memory_mb} MB: all {len(variants)} requested saves "
          f"${(len(variants) * l_mean - e_mean - (len(variants) - 1) * p) * gb_s * 1e6:.2f} per million originals; "
          f"only one requested costs ${(e_mean - l_mean) * gb_s * 1e6:.2f} per million more, "
          f"plus {len(variants) - 1} unneeded objects stored")


if __name__ == "__main__":
    main()
