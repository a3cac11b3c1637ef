"""Tables and figures drawn from the quality sweep (notebooks/quality.ipynb): rate-distortion per backend, backend
against backend at equal bytes, and the notebook's summary fragment.
"""

import numpy as np
import pandas as pd

from .sweep import LOSSY


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
