"""The small-image study behind `metrics.quality_score`: why and how SSIMULACRA2 is restated for outputs too small
for its 6 scales (JPEG at several qualities of photos downscaled to several boxes, scored several ways), the
calibration fitted from it, and which calibration the quality notebook uses.
"""

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from resizer.image.sizing import fit_inside

from . import metrics
from .datasets import Dataset
from .executor import run_tasks

STUDY_BOXES = (64, 100, 250, 400)
STUDY_QUALITIES = (20, 50, 80, 95)
QUICK_STUDY = dict(boxes=(100, 400), qualities=(40, 80), images=1)
MIN_CALIBRATION_IMAGES = 5  # refit the small-image calibration only with this many images at full scale


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


def choose_calibration(study_diag: pd.DataFrame, fitted: dict, images_at_full_scale: int) -> tuple[dict, str]:
    """The dataset's own fit when enough images reach all 6 scales, else the packaged development-corpus fit."""
    if fitted and images_at_full_scale >= MIN_CALIBRATION_IMAGES:
        return fitted, f"fitted on this dataset ({images_at_full_scale} images)"
    return dict(metrics.S2_CALIBRATION), (f"packaged development-corpus fit (this dataset has "
                                          f"{images_at_full_scale} image(s) at full scale, fewer than "
                                          f"{MIN_CALIBRATION_IMAGES})")
