"""libvips' encoders against Pillow's, on the same decoded and resized pixels, with the config's settings.

    .venv/bin/python benchmarks/encoders.py                      # 10 corpus JPEGs, md/lg/xl, jpeg,webp,png,avif
    .venv/bin/python benchmarks/encoders.py --formats webp --images ~/photos --limit 20

For each original and variant, resizer renders the variant once (libvips, written losslessly as PNG), then both
libraries encode those same pixels in each format; the best of `--repeats` runs is kept. Prints per format and
variant: summed encode time, bytes, and mean SSIMULACRA2 against the reference (resizer_bench.metrics). This is the
measurement behind VipsBackend's PILLOW_ENCODED (docs/ENCODERS.md).
"""

import argparse
import io
import statistics
import sys
import time
from collections import defaultdict
from functools import partial
from pathlib import Path

import pyvips
from PIL import Image

from resizer.config import load_config
from resizer.image import pipeline
from resizer.image.backends import get_backend
from resizer.image.backends.vips import SUBSAMPLE
from resizer_bench.metrics import Ssimulacra2, decode_rgb, equivalent_score, load_source, reference

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


def best_time(fn, repeats: int) -> tuple[float, bytes]:
    best, data = float("inf"), b""
    for _ in range(repeats):
        start = time.perf_counter()
        data = fn()
        best = min(best, time.perf_counter() - start)
    return best, data


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=CORPUS, help="folder of JPEG/PNG originals")
    parser.add_argument("--limit", type=int, default=10, help="originals, spread over the folder (0 = all)")
    parser.add_argument("--formats", default="jpeg,webp,png,avif")
    parser.add_argument("--variants", default="md,lg,xl")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--config", help="variants config (default: the packaged one)")
    args = parser.parse_args(argv)

    config = load_config(args.config)
    pillow = get_backend("pillow")
    files = sorted(p for p in args.images.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if args.limit:
        files = files[::max(1, len(files) // args.limit)][:args.limit]
    formats, variants = args.formats.split(","), [config.variants[n] for n in args.variants.split(",")]
    totals = defaultdict(lambda: [0.0, 0, []])  # (format, variant, library) -> seconds, bytes, scores
    for n, path in enumerate(files, 1):
        data = path.read_bytes()
        source = load_source(data)
        for variant in variants:
            pixels = pipeline.transform(data, variant, "png", backend="vips").data
            as_vips = pyvips.Image.new_from_buffer(pixels, "").copy_memory()
            as_pillow = Image.open(io.BytesIO(pixels))
            as_pillow.load()
            as_pillow.info = {}
            scorer = Ssimulacra2(reference(source, *as_pillow.size), pad_scales=True)
            for fmt in formats:
                settings = variant.encoder(fmt)
                # the libvips backend routes some formats to Pillow: vips_native calls libvips' own writer
                for library, encode in (("libvips", partial(vips_native, as_vips, fmt, settings)),
                                        ("Pillow", partial(pillow.encode, as_pillow, fmt, settings))):
                    seconds, out = best_time(encode, args.repeats)
                    score = equivalent_score(scorer(decode_rgb(out)), len(scorer.levels))
                    total = totals[fmt, variant.name, library]
                    total[0] += seconds
                    total[1] += len(out)
                    total[2].append(score)
        print(f"\r{n}/{len(files)} originals", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    print(f"{len(files)} originals from {args.images}; best of {args.repeats}; pyvips {pyvips.__version__} "
          f"(libvips {pyvips.version(0)}.{pyvips.version(1)}), Pillow {Image.__version__}")
    print(f"{'format':6} {'variant':7} {'library':8} {'ms':>9} {'kB':>8} {'SSIMULACRA2':>12}")
    for (fmt, name, library), (seconds, size, scores) in sorted(totals.items()):
        print(f"{fmt:6} {name:7} {library:8} {seconds * 1000:9.0f} {size / 1000:8.0f} {statistics.mean(scores):12.2f}")


def vips_native(image: pyvips.Image, fmt: str, settings) -> bytes:
    """libvips' own writer for `fmt` with the config's settings (docs/ENCODERS.md's mapping)."""
    s = settings
    subsample = SUBSAMPLE.get(s.subsampling)
    params = {
        "jpeg": ("jpegsave_buffer", {"Q": s.quality, "interlace": s.progressive, "subsample_mode": subsample,
                                     "optimize_coding": True}),
        "webp": ("webpsave_buffer", {"Q": s.quality, "effort": s.effort}),
    }.get(fmt)
    if params is None:  # png, avif: what the libvips backend itself does
        return get_backend("vips").encode(image, fmt, settings)
    method, options = params
    return getattr(image, method)(keep="none", **{k: v for k, v in options.items() if v is not None})


if __name__ == "__main__":
    main()
