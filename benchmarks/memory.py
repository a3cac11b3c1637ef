"""Peak resident memory of one transform, in a fresh process per backend x format (what one Lambda container holds).

    .venv/bin/python benchmarks/memory.py                       # the corpus' 12 MP JPEGs -> xl, both backends
    .venv/bin/python benchmarks/memory.py --images a.jpg b.jpg --variant lg --formats webp

Each measurement: a new interpreter imports the pipeline and the backend (libvips without its operation cache), reads
the original, then runs `pipeline.transform` once; the figures are Linux's VmHWM (the process's peak RSS) before
and after (resizer_bench.speed.rss_worker). The Performance issue's target: <= 100 MB for a 12 MP JPEG -> xl.
"""

import argparse
import csv
from pathlib import Path

from resizer_bench.speed import in_fresh_process, rss_worker

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


def twelve_megapixel_jpegs(folder: Path) -> list[Path]:
    """The folder's JPEGs of 11.4-12.5 MP, per its inventory.csv (the corpus has seven)."""
    with (folder / "inventory.csv").open() as f:
        return [folder / row["file"] for row in csv.DictReader(f)
                if row["format"] == "JPEG" and 11.4 <= float(row["megapixels"]) <= 12.5]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", nargs="+", type=Path, help="originals (default: the corpus' 12 MP JPEGs)")
    parser.add_argument("--variant", default="xl")
    parser.add_argument("--formats", default="jpeg,webp,avif")
    parser.add_argument("--backends", default="vips,pillow")
    parser.add_argument("--config", help="variants config (default: the packaged one)")
    args = parser.parse_args(argv)
    images = args.images or twelve_megapixel_jpegs(CORPUS)
    formats, backends = args.formats.split(","), args.backends.split(",")
    print(f"peak RSS (MB) of one transform -> {args.variant}, fresh process each; imports + original read first")
    print(f"{'image':52} {'backend':7} " + " ".join(f"{f:>6}" for f in formats) + "  baseline")
    worst = dict.fromkeys(backends, 0.0)
    for image in images:
        for backend in backends:
            rows = [in_fresh_process(rss_worker, (backend, args.config, str(image), fmt, args.variant))
                    for fmt in formats]
            worst[backend] = max(worst[backend], *(r["rss_peak_mb"] for r in rows))
            print(f"{image.name[:52]:52} {backend:7} " + " ".join(f"{r['rss_peak_mb']:6.0f}" for r in rows)
                  + f"  {rows[0]['rss_baseline_mb']:8.0f}")
    print("worst: " + ", ".join(f"{b} {mb:.0f} MB" for b, mb in worst.items()))


if __name__ == "__main__":
    main()
