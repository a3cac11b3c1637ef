"""The quality sweep: image x variant x backend x format x quality -> bytes, bits per pixel, SSIM, SSIMULACRA2.

One task per (image, backend): the original is decoded once by the pipeline (`render_variants`) and every
variant x format x quality is cut from it; every output is scored against the shared reference
(`metrics.reference`: Pillow LANCZOS from the full-resolution source to the output's exact size).

Also here: the small-image study behind `metrics.quality_score` (why and how SSIMULACRA2 is restated for
outputs too small for its 6 scales), and the analysis tables and figures of notebooks/quality.ipynb.
"""

import io
import platform
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd
from PIL import Image

from resizer.config import BACKENDS, parse_config
from resizer.formats import sniff
from resizer.negotiate import FALLBACK
from resizer.pipeline import render_variants
from resizer.sizing import fit_inside

from . import metrics
from .datasets import Dataset
from .executor import run_tasks

LOSSY = ("jpeg", "webp", "avif")
# Each grid holds the shipped default (jpeg/webp 80, avif 60) so the chooser can always fall back to it.
QUALITIES = {"jpeg": (50, 65, 75, 80, 90), "webp": (50, 65, 75, 80, 90), "avif": (40, 50, 60, 70, 80)}
QUICK_QUALITIES = {"jpeg": (70, 85), "webp": (70, 85), "avif": (50, 65)}
BASELINE_QUALITY = 80  # the original product: the original's format at quality 80 (PNG stays lossless)


@dataclass(frozen=True)
class SweepTask:
    """Everything one worker needs (picklable; the config travels as its TOML text)."""

    path: str
    file: str
    backend: str
    config_text: str
    variants: tuple[str, ...]  # only variants whose box this image is larger than
    qualities: tuple[tuple[str, tuple[int, ...]], ...]  # format -> qualities, in order


def with_quality(variant, fmt: str, quality: int | None):
    """`variant` with `fmt`'s encoder quality replaced (None keeps it)."""
    if quality is None:
        return variant
    encoders = dict(variant.encoders)
    encoders[fmt] = encoders[fmt]._replace(quality=quality)
    return variant._replace(encoders=MappingProxyType(encoders))


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


_WARM = set()


def warm_up(backend: str, formats) -> None:
    """Encode a tiny image once per format and discard it: the first encode in a process pays library setup."""
    todo = [f for f in formats if (backend, f) not in _WARM]
    if todo:
        buf = io.BytesIO()
        Image.new("RGB", (64, 48), (120, 80, 40)).save(buf, "PNG")
        variant = parse_config("[variants.w]\nsize = 32\n").variant("w")
        render_variants(buf.getvalue(), [(variant, f) for f in todo], backend=backend)
        _WARM.update((backend, f) for f in todo)


def requests_for(variant, qualities: dict[str, tuple[int, ...]], base_fmt: str) -> list[tuple]:
    """(variant with quality, format, quality, is_baseline) for one variant: the grid, plus the baseline (the
    original's format at quality 80, or lossless PNG) unless the grid already holds it."""
    grid = [(with_quality(variant, fmt, q), fmt, q, fmt == base_fmt and q == BASELINE_QUALITY)
            for fmt, qs in qualities.items() for q in qs]
    if base_fmt == "png":
        grid.append((variant, "png", None, True))
    elif not any(is_base for *_, is_base in grid):
        grid.append((with_quality(variant, base_fmt, BASELINE_QUALITY), base_fmt, BASELINE_QUALITY, True))
    return grid


def sweep_image(task: SweepTask) -> list[dict]:
    """All rows for one original on one backend (runs in a worker)."""
    data = Path(task.path).read_bytes()
    config = parse_config(task.config_text)
    base_fmt = baseline_format(data)
    requests = [r for name in task.variants for r in requests_for(config.variant(name), dict(task.qualities),
                                                                  base_fmt)]
    warm_up(task.backend, {fmt for _, fmt, _, _ in requests})
    results = render_variants(data, [(v, f) for v, f, _, _ in requests], backend=task.backend,
                              limits=config.limits)
    source = metrics.load_source(data)
    scorers = {}  # (width, height) -> (reference, SSIMULACRA2 scorer of it)
    version = backend_version(task.backend)
    rows = []
    for (variant, fmt, quality, is_baseline), result in zip(requests, results, strict=True):
        size = (result.width, result.height)
        if size not in scorers:
            ref = metrics.reference(source, *size)
            scorers[size] = (ref, metrics.Ssimulacra2(ref, pad_scales=True))
        ref, scorer = scorers[size]
        dist = metrics.decode_rgb(result.data)
        rows.append(dict(
            file=task.file, backend=task.backend, variant=variant.name, box=variant.size, format=fmt,
            written=result.format, quality=quality, baseline=is_baseline, source_width=source.width,
            source_height=source.height, width=result.width, height=result.height, bytes=len(result.data),
            bpp=len(result.data) * 8 / (size[0] * size[1]), ssim=metrics.ssim(ref, dist), s2=scorer(dist),
            s2_scales=len(scorer.levels), resize_ms=result.timings.get("resize", np.nan),
            encode_ms=result.timings["encode"], backend_version=version))
    return rows


def coverage(images: pd.DataFrame, config, variants, min_images: int) -> pd.DataFrame:
    """Per variant: how many images are larger than its box (only those are resized, so only those say
    anything about the variant's settings) and whether that is enough (`min_images`) to sweep it."""
    longest = np.maximum(images.width, images.height)
    rows = [dict(variant=v, box=config.variant(v).size, images=len(images),
                 larger=int((longest > config.variant(v).size).sum())) for v in variants]
    table = pd.DataFrame(rows)
    table["swept"] = table.larger >= max(1, min_images)
    return table


def run_sweep(dataset: Dataset, *, config_text: str, variants, qualities: dict[str, tuple[int, ...]],
              backends=BACKENDS, min_images: int = 1, calibration: dict | None = None, workers: int = 0,
              scheduler: str = "") -> pd.DataFrame:
    """The sweep over image x backend of `dataset`, in parallel; one row per encoded output.

    Only (image, variant) pairs where the image is larger than the box are encoded: a smaller original comes
    out at its own size, so it measures re-encoding, not the variant, and costs full-size AVIF encodes.
    Variants with fewer than `min_images` such images are left out (see `coverage`). `s2` is
    `metrics.quality_score`; `s2_equiv` restates it on the 6-scale scale with `calibration` (scale count ->
    (a, b); default `metrics.S2_CALIBRATION`), and is what the chooser thresholds.
    """
    config = parse_config(config_text)
    cover = coverage(dataset.images, config, variants, min_images)
    swept = [(v, config.variant(v).size) for v in cover[cover.swept].variant]
    qual = tuple((fmt, tuple(qs)) for fmt, qs in qualities.items())
    images = dataset.images.assign(pixels=dataset.images.width * dataset.images.height)
    tasks = []
    for image in images.sort_values("pixels", ascending=False).itertuples():  # biggest first: load balance
        mine = tuple(v for v, box in swept if max(image.width, image.height) > box)
        tasks += [SweepTask(str(dataset.path(image.file)), image.file, b, config_text, mine, qual)
                  for b in backends if mine]
    rows = [row for rows in run_tasks(sweep_image, tasks, workers=workers, scheduler=scheduler, desc="quality")
            for row in rows]
    frame = pd.DataFrame(rows, columns=SWEEP_COLUMNS[:-1]).astype({"quality": "Int64"})
    frame["s2_equiv"] = metrics.equivalent_score(frame.s2, frame.s2_scales, calibration)
    frame = frame.sort_values(["variant", "format", "backend", "file", "quality"], kind="stable")
    frame = frame.reset_index(drop=True)
    frame.attrs["versions"] = library_versions()
    frame.attrs["coverage"] = cover.to_dict(orient="records")
    return frame


SWEEP_COLUMNS = ["file", "backend", "variant", "box", "format", "written", "quality", "baseline", "source_width",
                 "source_height", "width", "height", "bytes", "bpp", "ssim", "s2", "s2_scales", "resize_ms",
                 "encode_ms", "backend_version", "s2_equiv"]


# --- the small-image study ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StudyTask:
    path: str
    file: str
    boxes: tuple[int, ...]
    qualities: tuple[int, ...]


def study_image(task: StudyTask) -> list[dict]:
    """JPEG (Pillow, 4:2:0) at several qualities of one photo downscaled to several boxes, scored by
    - native: SSIMULACRA2 as the package computes it;
    - padded: `metrics.quality_score` (weights kept on their scales, missing scales error-free);
    - trunc3/trunc4/trunc5 (outputs with all 6 scales only): padded with only the first k scales computed, to
      measure what the missing scales would have cost where the truth is known;
    - enlarged2 (outputs with all 6 scales only): both images enlarged 2x nearest-neighbour, the alternative;
    - ssim."""
    source = metrics.load_source(Path(task.path).read_bytes())
    rows = []
    for box in task.boxes:
        width, height = fit_inside(*source.size, box)
        ref = metrics.reference(source, width, height)
        scales = metrics.s2_scales(height, width)
        scorers = {"native": metrics.Ssimulacra2(ref), "padded": metrics.Ssimulacra2(ref, pad_scales=True)}
        if scales == metrics.S2_SCALES:
            scorers.update({f"trunc{k}": metrics.Ssimulacra2(ref, pad_scales=True, max_scales=k) for k in (3, 4, 5)})
            scorers["enlarged2"] = metrics.Ssimulacra2(_enlarge2(ref))
        for q in task.qualities:
            buf = io.BytesIO()
            Image.fromarray(ref).save(buf, "JPEG", quality=q)
            dist = metrics.decode_rgb(buf.getvalue())
            row = dict(file=task.file, box=box, width=width, height=height, scales=scales, quality=q,
                       bpp=buf.tell() * 8 / (width * height), ssim=metrics.ssim(ref, dist))
            row.update({name: scorer(_enlarge2(dist) if name == "enlarged2" else dist)
                        for name, scorer in scorers.items()})
            rows.append(row)
    return rows


def _enlarge2(image: np.ndarray) -> np.ndarray:
    return np.repeat(np.repeat(image, 2, axis=0), 2, axis=1)


STUDY_COLUMNS = ["file", "box", "width", "height", "scales", "quality", "bpp", "ssim", "native", "padded",
                 "trunc3", "trunc4", "trunc5", "enlarged2"]


def run_study(dataset: Dataset, boxes, qualities, *, workers: int = 0, scheduler: str = "") -> pd.DataFrame:
    tasks = [StudyTask(str(dataset.path(f)), f, tuple(boxes), tuple(qualities)) for f in dataset.images.file]
    rows = run_tasks(study_image, tasks, workers=workers, scheduler=scheduler, desc="small-image study")
    return pd.DataFrame([r for rs in rows for r in rs], columns=STUDY_COLUMNS)


def study_evidence(study: pd.DataFrame, calibration: dict | None = None) -> pd.DataFrame:
    """Per box and metric: does the score still rank JPEG qualities (Spearman rho per image, median over
    images; share of images whose score rises strictly with quality), how much do images disagree at a fixed
    quality (std across images, median over qualities), and the mean score at the lowest and highest quality."""
    study = study.assign(equivalent=metrics.equivalent_score(study.padded, study.scales, calibration))
    long = study.melt(id_vars=["file", "box", "quality", "scales"], value_vars=["native", "equivalent", "ssim"],
                      var_name="metric")
    out = []
    for (box, metric), group in long.groupby(["box", "metric"], sort=True):
        per_image = group.sort_values("quality").groupby("file")
        rho = per_image.apply(lambda g: g["quality"].rank().corr(g["value"].rank()), include_groups=False)
        monotone = per_image.apply(lambda g: bool(np.all(np.diff(g["value"].to_numpy()) > 0)),
                                   include_groups=False)
        by_q = group.groupby("quality")["value"]
        out.append(dict(box=box, metric=metric, images=group.file.nunique(), scales=int(group.scales.min()),
                        rho=rho.median(), monotone=monotone.mean(), std=by_q.std().median(),
                        low_q=by_q.mean().iloc[0], high_q=by_q.mean().iloc[-1]))
    return pd.DataFrame(out)


def calibrate_scales(study: pd.DataFrame) -> tuple[dict, pd.DataFrame]:
    """Fit full (6-scale) score = a + b * k-scale padded score on outputs that have all 6 scales, for k = 3, 4
    (5 needs none: the 6th scale's weights are ~0; its row shows it). Returns ({k: (a, b)}, diagnostics)."""
    valid = study[study.scales == metrics.S2_SCALES]
    calibration, rows = {}, []
    for k in (3, 4, 5):
        col = f"trunc{k}"
        if len(valid) < 3:
            break
        diff = valid[col] - valid.native
        b, a = np.polyfit(valid[col], valid.native, 1)
        fitted = a + b * valid[col]
        rows.append(dict(scales=k, n=len(valid), images=valid.file.nunique(), mean_diff=diff.mean(),
                         max_abs_diff=diff.abs().max(), a=a, b=b, residual_sd=(valid.native - fitted).std(),
                         threshold_70=(70 - a) / b))
        if k < 5:
            calibration[k] = (float(a), float(b))
    return calibration, pd.DataFrame(rows)


def enlargement_check(study: pd.DataFrame) -> dict:
    """The rejected alternative: on outputs with all 6 scales, how far does a 2x nearest-neighbour enlargement
    move the score (it shifts the metric's scales by an octave, i.e. changes the viewing conditions)?"""
    valid = study[study.scales == metrics.S2_SCALES]
    if len(valid) < 3:
        return dict(n=len(valid))
    diff = valid.enlarged2 - valid.native
    b, a = np.polyfit(valid.enlarged2, valid.native, 1)
    return dict(n=len(valid), mean_diff=diff.mean(), max_abs_diff=diff.abs().max(), slope=b, intercept=a)


def plot_study(study: pd.DataFrame, calibration: dict | None = None):
    """Score vs output box at each JPEG quality (median across images, IQR bars): the package's score and the
    restated one."""
    import matplotlib.pyplot as plt

    study = study.assign(equivalent=metrics.equivalent_score(study.padded, study.scales, calibration))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    titles = {"native": "SSIMULACRA2 (package)", "equivalent": "quality_score, 6-scale equivalent"}
    for ax, metric in zip(axes, titles, strict=True):
        for q, g in study.groupby("quality"):
            stats = g.groupby("box")[metric].quantile([0.25, 0.5, 0.75]).unstack()
            ax.errorbar(stats.index, stats[0.5], yerr=[stats[0.5] - stats[0.25], stats[0.75] - stats[0.5]],
                        marker="o", ms=3, capsize=2, label=f"q{q}")
        ax.set_xscale("log")
        ax.set_title(f"{titles[metric]} (n={study.file.nunique()} images)", fontsize=10)
        ax.set_xlabel("output box (px, long side)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("score (median, IQR)")
    axes[1].legend(fontsize=8, title="JPEG")
    fig.tight_layout()
    return fig


# --- analysis -------------------------------------------------------------------------------------------------

def rd_table(frame: pd.DataFrame, metric: str = "s2") -> pd.DataFrame:
    """Per backend x variant x format x quality over the scored (downscaled) outputs: n images, mean bpp and
    bytes, the metric's median, quartiles and 10th percentile."""
    scored = frame[frame[metric].notna() & frame.quality.notna()]
    grouped = scored.groupby(["variant", "format", "backend", "quality"], observed=True)
    table = grouped.agg(n=("file", "nunique"), bpp=("bpp", "mean"), bytes=("bytes", "mean"),
                        median=(metric, "median"), q25=(metric, lambda s: s.quantile(0.25)),
                        q75=(metric, lambda s: s.quantile(0.75)), p10=(metric, lambda s: s.quantile(0.10)),
                        encode_ms=("encode_ms", "median"))
    return table.reset_index()


def plot_rd(frame: pd.DataFrame, metric: str = "s2", label: str = "SSIMULACRA2"):
    """Rate-distortion: mean bits per pixel vs median metric (bars: interquartile range), one panel per
    variant x format, one line per backend; n = images per point."""
    import matplotlib.pyplot as plt

    table = rd_table(frame, metric)
    variants = [v for v in frame.variant.unique() if v in set(table.variant)]
    formats = [f for f in LOSSY if f in set(table.format)]
    fig, axes = plt.subplots(len(variants), len(formats), figsize=(4.2 * len(formats), 3.2 * len(variants)),
                             squeeze=False, sharey=True)
    for i, variant in enumerate(variants):
        for j, fmt in enumerate(formats):
            ax = axes[i][j]
            for backend, line in table[(table.variant == variant) & (table.format == fmt)].groupby("backend"):
                ax.errorbar(line.bpp, line["median"], yerr=[line["median"] - line.q25, line.q75 - line["median"]],
                            marker="o", ms=3, capsize=2, label=f"{backend} (n={line.n.max()})")
            ax.set_title(f"{variant} / {fmt}", fontsize=10)
            ax.grid(alpha=0.3)
            if i == len(variants) - 1:
                ax.set_xlabel("bits per pixel (mean)")
            if j == 0:
                ax.set_ylabel(f"{label} (median, IQR)")
            ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def equal_bytes(frame: pd.DataFrame, metric: str = "s2", points: int = 9) -> pd.DataFrame:
    """Backend vs backend at equal size: per image x variant x format, interpolate each backend's curve
    (metric vs bpp) at `points` bpp values spanning where both curves exist, and take vips - pillow."""
    scored = frame[frame[metric].notna() & frame.quality.notna()]
    rows = []
    for (file, variant, fmt), group in scored.groupby(["file", "variant", "format"]):
        curves = {b: g.sort_values("bpp") for b, g in group.groupby("backend")}
        if set(curves) != {"vips", "pillow"} or min(len(c) for c in curves.values()) < 2:
            continue
        lo = max(c.bpp.min() for c in curves.values())
        hi = min(c.bpp.max() for c in curves.values())
        if hi <= lo:
            continue
        grid = np.linspace(lo, hi, points)
        at = {b: np.interp(grid, c.bpp, np.maximum.accumulate(c[metric].to_numpy())) for b, c in curves.items()}
        rows += [dict(file=file, variant=variant, format=fmt, bpp=x, vips=v, pillow=p, diff=v - p)
                 for x, v, p in zip(grid, at["vips"], at["pillow"], strict=True)]
    return pd.DataFrame(rows, columns=["file", "variant", "format", "bpp", "vips", "pillow", "diff"])


def equal_bytes_summary(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per variant x format: images compared, and the median and quartiles of (vips - pillow) at equal bpp
    (each image's mean difference over the shared bpp range)."""
    per_image = pairs.groupby(["variant", "format", "file"])["diff"].mean().reset_index()
    return per_image.groupby(["variant", "format"])["diff"].agg(
        n="count", median="median", q25=lambda s: s.quantile(0.25), q75=lambda s: s.quantile(0.75)).reset_index()


def plot_equal_bytes(summary: pd.DataFrame, label: str = "SSIMULACRA2"):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(5, 0.9 * len(summary)), 3.5))
    x = np.arange(len(summary))
    ax.errorbar(x, summary["median"], yerr=[summary["median"] - summary.q25, summary.q75 - summary["median"]],
                fmt="o", capsize=3)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(x, [f"{v}/{f}\nn={n}" for v, f, n in zip(summary.variant, summary.format, summary.n,
                                                              strict=True)], fontsize=8)
    ax.set_ylabel(f"{label}: vips - pillow\nat equal bpp (median, IQR)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


# --- notebook plumbing -----------------------------------------------------------------------------------------

QUICK_VARIANTS = ("sm", "md")
QUICK_IMAGES = 3
STUDY_BOXES = (64, 100, 250, 400)
STUDY_QUALITIES = (20, 50, 80, 95)
QUICK_STUDY = dict(boxes=(100, 400), qualities=(40, 80), images=1)
MIN_CALIBRATION_IMAGES = 5  # refit the small-image calibration only with this many images at full scale


def sweep_grid(config, *, quick: bool, variants=(), formats=(), qualities=None) -> tuple[list, dict]:
    """(variants, format -> qualities) for the sweep from the notebook's parameters (empty = defaults)."""
    variants = list(variants) or [v for v in config.variants if not quick or v in QUICK_VARIANTS]
    grid = qualities or (QUICK_QUALITIES if quick else QUALITIES)
    formats = list(formats) or list(grid)
    unknown = set(formats) - set(LOSSY)
    if unknown:
        raise ValueError(f"not swept (lossy formats only; PNG is the lossless baseline): {sorted(unknown)}")
    return variants, {f: tuple(grid[f]) for f in formats}


def choose_calibration(study_diag: pd.DataFrame, fitted: dict, images_at_full_scale: int) -> tuple[dict, str]:
    """The dataset's own fit when enough images reach all 6 scales, else the packaged development-corpus fit."""
    if fitted and images_at_full_scale >= MIN_CALIBRATION_IMAGES:
        return fitted, f"fitted on this dataset ({images_at_full_scale} images)"
    return dict(metrics.S2_CALIBRATION), (f"packaged development-corpus fit (this dataset has "
                                          f"{images_at_full_scale} image(s) at full scale, fewer than "
                                          f"{MIN_CALIBRATION_IMAGES})")


def summary_markdown(frame: pd.DataFrame, cover: pd.DataFrame, evidence: pd.DataFrame, calib_diag: pd.DataFrame,
                     calibration_source: str, enlargement: dict, eq_summary: pd.DataFrame, top_quality: int) -> str:
    """The quality notebook's fragment of summary.md."""
    lines = ["## Quality", ""]
    swept = cover[cover.swept]
    lines.append(f"Swept {len(frame):,} outputs: {frame.file.nunique()} images x "
                 f"{', '.join(f'{r.variant} ({r.larger})' for r in swept.itertuples())} x "
                 f"{', '.join(sorted(frame.backend.unique()))} x {', '.join(sorted(frame.format.unique()))}.")
    for r in cover[~cover.swept].itertuples():
        lines.append(f"- {r.variant} ({r.box} px) not swept: {r.larger} of {r.images} images are larger than it.")
    native = evidence[(evidence.metric == "native")].set_index("box")
    equiv = evidence[(evidence.metric == "equivalent")].set_index("box")
    small = native.index.min()
    full = calib_diag.set_index("scales") if not calib_diag.empty else None
    lines += ["", "Small-image metric: SSIMULACRA2 with weights kept on their scales (missing scales error-free), "
              "restated on the 6-scale scale. "
              f"At {small} px the package's own score gives JPEG q{top_quality} {native.loc[small, 'high_q']:.0f} "
              f"(restated: {equiv.loc[small, 'high_q']:.0f})"
              + (f"; its spread across images is sd {native.loc[small, 'std']:.1f} (restated: "
                 f"{equiv.loc[small, 'std']:.1f})." if native.loc[small, "std"] == native.loc[small, "std"] else ".")]
    if full is not None and 4 in full.index:
        lines.append(f"Calibration ({calibration_source}): 4 scales: full = {full.loc[4, 'a']:.1f} + "
                     f"{full.loc[4, 'b']:.3f} x score (residual sd {full.loc[4, 'residual_sd']:.1f}; "
                     f"70 <-> {full.loc[4, 'threshold_70']:.1f}).")
    if "mean_diff" in enlargement:
        lines.append(f"Rejected alternative, 2x enlargement: moves full-scale scores by "
                     f"{enlargement['mean_diff']:+.1f} on average (n={enlargement['n']}).")
    if not eq_summary.empty:
        lines += ["", "vips - pillow SSIMULACRA2 at equal bytes (median over images [IQR]):", ""]
        lines += [f"- {r.variant}/{r.format}: {r.median:+.1f} [{r.q25:+.1f}, {r.q75:+.1f}] (n={r.n})"
                  for r in eq_summary.itertuples()]
    return "\n".join(lines)
