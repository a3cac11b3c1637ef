"""The quality sweep: image x variant x backend x format x quality -> bytes, bits per pixel, SSIM, SSIMULACRA2.

One task per (image, backend): the original is decoded once by the pipeline (`render_variants`) and every
variant x format x quality is cut from it; every output is scored against the shared reference
(`metrics.reference`: Pillow LANCZOS from the full-resolution source to the output's exact size).
Also the sweep's grid for notebooks/quality.ipynb (`sweep_grid`). The small-image study behind the score is in
`study.py`, the tables and figures drawn from the sweep in `analysis.py`.
"""

import functools
import io
import platform
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd
from PIL import Image

from resizer.config import BACKEND_LACKS, BACKENDS, OFF_BY_DEFAULT, parse_config
from resizer.edge.negotiate import FALLBACK
from resizer.image.formats import LOSSY_FORMATS, OUTPUT_FORMATS, sniff
from resizer.image.pipeline import render_variants

from . import metrics
from .datasets import Dataset
from .executor import run_tasks
from .speed import made_by

LOSSY = LOSSY_FORMATS
# The formats the chooser tunes: the lossy ones, and PNG for PNG originals (lossless, or a palette at a quality).
TUNED = (*LOSSY, "png")
# Each grid holds the shipped default (jpeg/webp 80, avif 60) so the chooser can always fall back to it. PNG's are
# libimagequant's qualities, swept for palette sets on PNG originals (lossless PNG is one point: the baseline).
QUALITIES = {"jpeg": (50, 65, 75, 80, 90), "webp": (50, 65, 75, 80, 90), "avif": (40, 50, 60, 70, 80),
             "png": (60, 80, 95)}
QUICK_QUALITIES = {"jpeg": (70, 85), "webp": (70, 85), "avif": (50, 65), "png": (80,)}
QUICK_VARIANTS = ("sm", "md")
QUICK_IMAGES = 3
BASELINE_QUALITY = 80  # the original product: the original's format at quality 80 (PNG stays lossless)
# Encoder setting sets swept beside quality, per format: each is applied over the input config's encoder settings,
# and the input's own set is always swept too (first). docs/WORKBENCH.md, "Encoder settings", says why
# these: mozjpeg's optimisations at 4:2:0 and 4:4:4, WebP's sharp YUV and its slowest method, AVIF at 4:4:4.
ENCODER_SETS: dict[str, tuple[dict, ...]] = {
    "jpeg": ({"mozjpeg": False}, {"mozjpeg": True}, {"mozjpeg": True, "subsampling": "4:4:4"}),
    "webp": ({"sharp_yuv": False}, {"sharp_yuv": True}, {"effort": 6}),
    "avif": ({"subsampling": "4:2:0"}, {"subsampling": "4:4:4"}),
    "png": ({"palette": False}, {"palette": True}, {"palette": True, "dither": 0.0}),
}


@dataclass(frozen=True)
class SweepTask:
    """Everything one worker needs (picklable; the config travels as its TOML text)."""

    path: str
    file: str
    backend: str
    config_text: str
    variants: tuple[str, ...]  # only variants that resize this image (`resized_by`)
    qualities: tuple[tuple[str, tuple[int, ...]], ...]  # format -> qualities, in order
    sets: tuple[tuple[str, str, tuple[tuple[str, object], ...]], ...] = ()  # (variant, format, one set's changes)


def with_quality(variant, fmt: str, quality: int | None, changes: dict | None = None):
    """`variant` with `fmt`'s encoder quality replaced (None keeps it) and the settings `changes` applied."""
    if quality is None and not changes:
        return variant
    encoders = dict(variant.encoders)
    encoders[fmt] = encoders[fmt]._replace(**(changes or {}), **({} if quality is None else {"quality": quality}))
    return variant._replace(encoders=MappingProxyType(encoders))


def settings_text(settings) -> str:
    """An encoder's sweepable settings as one canonical line, e.g. "subsampling=4:2:0 progressive=true
    mozjpeg=true" (switches that are off are left out: they write the same bytes as unset)."""
    parts = [f"{key}={str(value).lower() if isinstance(value, bool) else value}"
             for key, value in settings.sweepable().items() if not (key in OFF_BY_DEFAULT and value is False)]
    return " ".join(parts) or "(library defaults)"


def encoder_sets(variant, fmt: str, backend: str, sets=None) -> list[dict]:
    """The setting changes swept for `fmt` of `variant` on `backend`: {} (the input's own settings) first, then
    each of `sets` (default ENCODER_SETS) that writes other settings than one before it and that `backend` can
    write."""
    base = variant.encoder(fmt)
    lacks = BACKEND_LACKS.get(backend, {})
    out, seen = [{}], {settings_text(base)}
    for changes in (ENCODER_SETS if sets is None else sets).get(fmt, ()):
        text = settings_text(base._replace(**changes))
        if text not in seen and not any(changes.get(k) for k in lacks):
            out.append(dict(changes))
            seen.add(text)
    return out


def baseline_format(data: bytes) -> str:
    """The original product's output format: the original's own family (negotiate's fallback, from the bytes)."""
    return FALLBACK.get(sniff(data), "jpeg")


def library_versions() -> dict[str, str]:
    import PIL
    import pyvips
    import skimage
    import ssimulacra2

    return {"pillow": PIL.__version__, "pyvips": pyvips.__version__,
            "libvips": f"{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}",
            "ssimulacra2": ssimulacra2.__version__, "scikit-image": skimage.__version__,
            "numpy": np.__version__, "python": platform.python_version()}


def backend_version(backend: str) -> str:
    v = library_versions()
    return f"pillow {v['pillow']}" if backend == "pillow" else f"libvips {v['libvips']} (pyvips {v['pyvips']})"


def warm_up(backend: str, formats) -> None:
    """Encode a tiny image once per format and process, and discard it: the first encode in a process pays
    library setup."""
    for fmt in sorted(formats):
        _warm_up_once(backend, fmt)


@functools.cache
def _warm_up_once(backend: str, fmt: str) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 80, 40)).save(buf, "PNG")
    variant = parse_config("[variants.w]\nsize = 32\n").variant("w")
    render_variants(buf.getvalue(), [(variant, fmt)], backend=backend)


def requests_for(variant, qualities: dict[str, tuple[int, ...]], base_fmt: str,
                 sets: dict[str, list[dict]] | None = None) -> list[tuple]:
    """(variant with quality and settings, format, quality, is_baseline) for one variant: the grid of qualities x
    setting sets (`sets`: format -> changes, {} = the input's settings; default: the input's only), plus the
    baseline (the original's format at quality 80 with the input's settings, or lossless PNG) unless the grid
    already holds it."""
    grid = [(with_quality(variant, fmt, q, changes), fmt, q, not changes and fmt == base_fmt and q == BASELINE_QUALITY)
            for fmt, qs in qualities.items() if fmt != "png" for changes in (sets or {}).get(fmt, [{}]) for q in qs]
    if base_fmt == "png":  # lossless (the original product), then each palette set at each quality
        grid.append((with_quality(variant, "png", None, {"palette": False}), "png", None, True))
        grid += [(with_quality(variant, "png", q, changes), "png", q, False) for changes in (sets or {}).get("png", [])
                 if with_quality(variant, "png", None, changes).encoder("png").palette
                 for q in qualities.get("png", ())]
    elif not any(is_base for *_, is_base in grid):
        grid.append((with_quality(variant, base_fmt, BASELINE_QUALITY), base_fmt, BASELINE_QUALITY, True))
    return grid


def sweep_image(task: SweepTask) -> list[dict]:
    """All rows for one original on one backend (runs in a worker)."""
    data = Path(task.path).read_bytes()
    config = parse_config(task.config_text)
    base_fmt = baseline_format(data)
    sets: dict[str, dict[str, list[dict]]] = {}
    for name, fmt, changes in task.sets:
        sets.setdefault(name, {}).setdefault(fmt, []).append(dict(changes))
    requests = [r for name in task.variants for r in requests_for(config.variant(name), dict(task.qualities),
                                                                  base_fmt, sets.get(name))]
    warm_up(task.backend, {fmt for _, fmt, _, _ in requests})
    results = render_variants(data, [(v, f) for v, f, _, _ in requests], backend=task.backend,
                              limits=config.limits)
    source = metrics.load_source(data)
    scorers = {}  # ((width, height), window) -> (reference, SSIMULACRA2 scorer of it)
    version = backend_version(task.backend)
    rows = []
    current = {name: {f: settings_text(config.variant(name).encoder(f)) for f in OUTPUT_FORMATS}
               for name in task.variants}
    for (variant, fmt, quality, is_baseline), result in zip(requests, results, strict=True):
        size = (result.width, result.height)
        text = settings_text(variant.encoder(fmt))
        if (size, result.window) not in scorers:
            ref = metrics.reference(source, *size, window=result.window)
            scorers[size, result.window] = (ref, metrics.Ssimulacra2(ref, pad_scales=True))
        ref, scorer = scorers[size, result.window]
        dist = metrics.decode_rgb(result.data)
        rows.append(dict(
            file=task.file, backend=task.backend, variant=variant.name, box=variant.size, format=fmt,
            written=result.format, quality=quality, settings=text, current=text == current[variant.name][fmt],
            baseline=is_baseline, source_width=source.width,
            source_height=source.height, width=result.width, height=result.height, bytes=len(result.data),
            bpp=len(result.data) * 8 / (size[0] * size[1]), ssim=metrics.ssim(ref, dist), s2=scorer(dist),
            s2_scales=len(scorer.levels), decode_ms=sum(result.timings.get(k, 0.0) for k in DECODE_TIMINGS),
            resize_ms=result.timings.get("resize", np.nan) + result.timings.get("render", 0.0),
            encode_ms=result.timings["encode"], backend_version=version))
    return rows


def resized_by(variant, width: int, height: int) -> bool:
    """Whether `variant` resamples an original of this size (a `size = N` box: its longer side is over N; any
    box: its plan changes the size), the only originals that say anything about the variant's settings."""
    return variant.plan(width, height).resized != (width, height)


def box_label(variant) -> str:
    """The box as a note names it: `700 px` for a `size = N` square, else its sides and fit (`300x200 px cover`)."""
    g = variant.geometry
    return f"{variant.size} px" if g is None else f"{g.width or 'any'}x{g.height or 'any'} px {g.fit}"


def coverage(images: pd.DataFrame, config, variants, min_images: int) -> pd.DataFrame:
    """Per variant: how many images it resizes (`resized_by`; `box` is the longer side of its box, the output
    size of a `cover` variant) and whether that is enough (`min_images`) to sweep it."""
    rows = [dict(variant=v, box=config.variant(v).size, images=len(images),
                 larger=sum(resized_by(config.variant(v), w, h) for w, h in zip(images.width, images.height,
                                                                                 strict=True)))
            for v in variants]
    table = pd.DataFrame(rows)
    table["swept"] = table.larger >= max(1, min_images)
    return table


def run_sweep(dataset: Dataset, *, config_text: str, variants, qualities: dict[str, tuple[int, ...]],
              backends=BACKENDS, min_images: int = 1, calibration: dict | None = None, workers: int = 0,
              scheduler: str = "", sets: dict[str, list[dict]] | None = None) -> pd.DataFrame:
    """The sweep over image x backend of `dataset`, in parallel; one row per encoded output.

    Only (image, variant) pairs the variant resizes (`resized_by`) are encoded: a smaller original comes
    out at its own size, so it measures re-encoding, not the variant, and costs full-size AVIF encodes.
    Variants with fewer than `min_images` such images are left out (see `coverage`). `s2` is
    `metrics.quality_score`; `s2_equiv` restates it on the 6-scale scale with `calibration` (scale count ->
    (a, b); default `metrics.S2_CALIBRATION`), and is what the chooser thresholds. `sets`: format -> the encoder
    setting changes to sweep beside the input's (`encoder_sets`; default ENCODER_SETS, {} for none); `settings`
    names each row's set (`settings_text`), `current` marks the input's.
    """
    config = parse_config(config_text)
    cover = coverage(dataset.images, config, variants, min_images)
    swept = [config.variant(v) for v in cover[cover.swept].variant]
    qual = tuple((fmt, tuple(qs)) for fmt, qs in qualities.items())
    images = dataset.images.assign(pixels=dataset.images.width * dataset.images.height)
    tasks = []
    for image in images.sort_values("pixels", ascending=False).itertuples():  # biggest first: load balance
        mine = [v.name for v in swept if resized_by(v, image.width, image.height)]
        for b in backends:
            made = tuple(made_by(config, b, mine))  # what this backend can make (no smart crops on Pillow)
            if made:
                tasks.append(SweepTask(str(dataset.path(image.file)), image.file, b, config_text, made, qual,
                                       _task_sets(config, made, qualities, b, sets)))
    rows = [row for rows in run_tasks(sweep_image, tasks, workers=workers, scheduler=scheduler, desc="quality")
            for row in rows]
    frame = pd.DataFrame(rows, columns=SWEEP_COLUMNS[:-1]).astype({"quality": "Int64"})
    frame["s2_equiv"] = metrics.equivalent_score(frame.s2, frame.s2_scales, calibration)
    frame = frame.sort_values(["variant", "format", "backend", "file", "quality"], kind="stable")
    frame = frame.reset_index(drop=True)
    frame.attrs["versions"] = library_versions()
    frame.attrs["coverage"] = cover.to_dict(orient="records")
    return frame


def _task_sets(config, variants, qualities, backend: str, sets) -> tuple:
    """The sweep task's (variant, format, changes): `encoder_sets` of each variant and format."""
    return tuple((name, fmt, tuple(changes.items())) for name in variants for fmt in qualities
                 for changes in encoder_sets(config.variant(name), fmt, backend, sets))


# Source steps of a miss: what a variant pays before its resize (libvips decodes lazily: see pipeline's docstring)
DECODE_TIMINGS = ("sniff", "check_bytes", "probe", "check_pixels", "load", "auto_orient", "to_srgb")
SWEEP_COLUMNS = ["file", "backend", "variant", "box", "format", "written", "quality", "settings", "current",
                 "baseline", "source_width", "source_height", "width", "height", "bytes", "bpp", "ssim", "s2",
                 "s2_scales", "decode_ms", "resize_ms", "encode_ms", "backend_version", "s2_equiv"]


def sweep_grid(config, *, quick: bool, variants=(), formats=(), qualities=None) -> tuple[list, dict]:
    """(variants, format -> qualities) for the sweep from the notebook's parameters (empty = defaults)."""
    variants = list(variants) or [v for v in config.variants if not quick or v in QUICK_VARIANTS]
    grid = qualities or (QUICK_QUALITIES if quick else QUALITIES)
    formats = list(formats) or list(grid)
    unknown = set(formats) - set(TUNED)
    if unknown:
        raise ValueError(f"not swept (only {', '.join(TUNED)}): {sorted(unknown)}")
    return variants, {f: tuple(grid[f]) for f in formats}
