"""What a `cover` miss costs against an `inside` miss of the same box, per gravity (issue: ≤ 1.2x at p50 with
centre and focus; attention's and entropy's cost reported).

    PYTHONPATH=. .venv/bin/python benchmarks/crops.py                        # corpus, md and lg boxes, webp
    PYTHONPATH=. .venv/bin/python benchmarks/crops.py --boxes 250 --formats webp,avif --limit 12

Per original, box and format: `pipeline.transform` on the vips backend, the best of `--repeats` runs, for a
`size = N` variant (fit inside N x N) and for `cover` N x N at each gravity (focus at (0.3, 0.3)). Printed: the
p50 and p90 of each shape's time over the inside one's, image by image, and the median milliseconds. One stream;
note the load average.
"""

import argparse
import os
import statistics
import time
from pathlib import Path

from resizer.config import parse_config
from resizer.image import pipeline

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
SHAPES = {"inside": "", "centre": 'fit = "cover"', "focus": 'fit = "cover"\ngravity = "focus"',
          "attention": 'fit = "cover"\ngravity = "attention"', "entropy": 'fit = "cover"\ngravity = "entropy"'}


def config_for(boxes: list[int]):
    return parse_config("".join(f"[variants.{shape}_{box}]\nsize = {box}\n{spec}\n" for box in boxes
                                for shape, spec in SHAPES.items()))


def best_ms(data: bytes, variant, fmt: str, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        pipeline.transform(data, variant, fmt, focus=(0.3, 0.3))
        best = min(best, time.perf_counter() - start)
    return best * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=Path, default=CORPUS)
    parser.add_argument("--limit", type=int, default=0, help="first N images (default: all)")
    parser.add_argument("--boxes", default="250,700")
    parser.add_argument("--formats", default="webp")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    boxes = [int(b) for b in args.boxes.split(",")]
    config = config_for(boxes)
    files = sorted(p for p in args.images.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    files = files[: args.limit] if args.limit else files
    print(f"{len(files)} images from {args.images}; load average {os.getloadavg()[0]:.2f}")
    for fmt in args.formats.split(","):
        for box in boxes:
            times: dict[str, list[float]] = {shape: [] for shape in SHAPES}
            for path in files:
                data = path.read_bytes()
                for shape in SHAPES:
                    times[shape].append(best_ms(data, config.variant(f"{shape}_{box}"), fmt, args.repeats))
            print(f"\n{fmt} box {box}: time / inside's, image by image")
            print(f"{'shape':10} {'p50':>6} {'p90':>6} {'median ms':>10}")
            for shape, values in times.items():
                ratios = sorted(v / i for v, i in zip(values, times["inside"], strict=True))
                p90 = ratios[min(len(ratios) - 1, round(0.9 * (len(ratios) - 1)))]
                print(f"{shape:10} {statistics.median(ratios):6.2f} {p90:6.2f} {statistics.median(values):10.1f}")


if __name__ == "__main__":
    main()
