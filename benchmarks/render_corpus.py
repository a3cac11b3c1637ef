"""Wall time of rendering a folder of originals to every variant × format, per backend, with render_variants.

    .venv/bin/python benchmarks/render_corpus.py [--corpus ../shared/corpus] [--formats jpeg,webp,avif]
                                                 [--backends vips,pillow] [--config FILE]

One decode per original (render_variants); prints, per backend, the total wall time and where it went: source
steps once per original, variant steps summed per output format. Timings of libvips' lazy steps land where pixels
are finally computed (render), so compare backends on the totals.
"""

import argparse
import time
from collections import defaultdict
from pathlib import Path

from resizer.config import load_config
from resizer.image.pipeline import SOURCE_STEPS, render_variants

ROOT = Path(__file__).resolve().parents[1]
SOURCE_STEP_NAMES = [step.__name__ for step in SOURCE_STEPS]


def bench(files: list[Path], requests, backend: str) -> dict:
    source_ms, variant_ms, out_bytes, outputs = defaultdict(float), defaultdict(float), defaultdict(int), 0
    started = time.perf_counter()
    for path in files:
        results = render_variants(path.read_bytes(), requests, backend=backend)
        for name in SOURCE_STEP_NAMES:
            source_ms[name] += results[0].timings[name]
        for (_, fmt), result in zip(requests, results, strict=True):
            variant_ms[fmt] += sum(ms for step, ms in result.timings.items() if step not in SOURCE_STEP_NAMES)
            out_bytes[fmt] += len(result.data)
            outputs += 1
    return {"wall_s": time.perf_counter() - started, "outputs": outputs, "source_ms": source_ms,
            "variant_ms": variant_ms, "bytes": out_bytes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    parser.add_argument("--formats", default="jpeg,webp,avif")
    parser.add_argument("--backends", default="vips,pillow")
    parser.add_argument("--config", type=Path, default=None, help="variants config (default: the packaged one)")
    args = parser.parse_args()
    config = load_config(args.config)
    files = sorted(p for p in args.corpus.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp"))
    requests = [(variant, fmt) for variant in config.variants.values() for fmt in args.formats.split(",")]
    print(f"{len(files)} originals × {len(requests)} outputs ({', '.join(config.variants)} × {args.formats})")
    for backend in args.backends.split(","):
        r = bench(files, requests, backend)
        print(f"\n{backend}: {r['wall_s']:.1f} s wall, {r['outputs']} outputs, "
              f"{r['wall_s'] * 1000 / len(files):.0f} ms per original")
        print("  source steps (once per original): "
              + ", ".join(f"{k} {v / 1000:.1f} s" for k, v in r["source_ms"].items() if v >= 50))
        for fmt, ms in r["variant_ms"].items():
            print(f"  {fmt:5} resize+encode {ms / 1000:6.1f} s   {r['bytes'][fmt] / 1e6:6.2f} MB")


if __name__ == "__main__":
    main()
