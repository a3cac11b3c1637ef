"""Peak resident memory of one transform, in a fresh process per backend x format (what one Lambda container holds),
and of the `resizer variants` command making every variant of one image.

    .venv/bin/python benchmarks/memory.py                       # the corpus' 12 MP JPEGs -> xl, both backends
    .venv/bin/python benchmarks/memory.py --images a.jpg b.jpg --variant lg --formats webp
    .venv/bin/python benchmarks/memory.py --command             # `resizer variants IMAGE` (all four variants)

Each measurement: a new interpreter imports the pipeline and the backend (libvips without its operation cache), reads
the original, then runs `pipeline.transform` once; the figures are Linux's VmHWM (the process's peak RSS) before
and after (resizer_bench.speed.rss_worker). With --command: the whole `resizer variants IMAGE -o DIR --accept
image/FORMAT` process, its peak RSS from /usr/bin/time -f %M (KiB, printed / 1000, as MB). Target: <= 100 MB for
each 12 MP JPEG.
"""

import argparse
import csv
import subprocess
import sys
import tempfile
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
    parser.add_argument("--command", action="store_true", help="measure `resizer variants IMAGE` instead")
    args = parser.parse_args(argv)
    images = args.images or twelve_megapixel_jpegs(CORPUS)
    formats, backends = args.formats.split(","), args.backends.split(",")
    if args.command:
        return command_peaks(images, formats, args.config)
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


def command_peaks(images: list[Path], formats: list[str], config: str | None) -> None:
    """Peak RSS of `resizer variants IMAGE` (every variant, one process) per image and negotiated format."""
    resizer = Path(sys.executable).with_name("resizer")
    print("peak RSS (MB) of `resizer variants IMAGE -o DIR --accept image/FORMAT`, all variants, /usr/bin/time")
    print(f"{'image':52} " + " ".join(f"{f:>6}" for f in formats))
    worst = 0.0
    with tempfile.TemporaryDirectory() as out:
        for image in images:
            peaks = []
            for fmt in formats:
                command = ["/usr/bin/time", "-f", "%M", str(resizer), "variants", str(image), "-o", out,
                           "--accept", f"image/{fmt}", *(["--config", config] if config else [])]
                done = subprocess.run(command, capture_output=True, text=True, check=True)
                peaks.append(int(done.stderr.strip().splitlines()[-1]) / 1000)
            worst = max(worst, *peaks)
            print(f"{image.name[:52]:52} " + " ".join(f"{mb:6.1f}" for mb in peaks))
    print(f"worst: {worst:.1f} MB")


if __name__ == "__main__":
    main()
