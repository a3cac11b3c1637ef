"""The chooser's per-image decision, and two report-only studies (format by image, variant sizes).

Per variant x format of the per-image ladder sweep (`perimage.ladder_sweep`, written by the quality notebook as
`perimage_ladder`, with the probe timings as `perimage_timing`), the edge rule `perimage.ProbeVerify` on the
edge's score (`s2_edge`, resizer.quality_probe) ships only when all of these hold:

- **enough images**: k-fold cross-validation by image (`perimage.image_folds`, near-duplicates in one fold)
  needs at least 2 folds of `min_fold` test images; fewer: the fixed quality stays;
- **wins**: under cross-validation the rule's p10 reaches the target and its bytes are at least `margin` below
  the best fixed quality's on the same ladder at the same p10 (`perimage.summarize`);
- **pays**: per month, the egress its bytes save on every request of the variant outweighs the Lambda compute
  its probes add to every generated miss (`cost.monthly_cost`, transform ms scaled by `cost.cpu_factor`);
- **fast enough**: the first viewer's wait (transform x cpu factor + `s3_ms`) with the rule, median over images,
  stays within `max_wait` x today's;
- **vips**: the chosen backend is vips (the edge scores in libvips only).

The rule that ships is fitted on all images (`fit_rules`) and written as the `per_image` table of the encoder
(`choose.config_toml`). Added ms per miss = probes x score ms + extra encodes x encode ms (medians of the
timing images); without cross-validation the lower bound (one score, no extra encode) is shown.
"""

import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from . import cost
from . import perimage as P

RULE = "probeverify[s2_edge]"
PRICES, TRAFFIC = cost.Prices(), cost.Traffic()
COLUMNS = ["variant", "format", "rule", "images", "folds", "min_fold", "cv", "p10", "below_target", "worst", "bytes",
           "fixed_bytes", "fixed_quality", "saving", "fixed_cv_p10", "fixed_cv_below_target", "oracle_saving",
           "p10_ceiling_saving", "probes", "encodes", "miss_ms", "score_ms", "encode_ms", "added_ms", "miss_ratio",
           "wait_ratio", "compute_usd", "egress_usd", "net_usd", "wins", "pays", "fast", "decision", "reason"]


@dataclass(frozen=True)
class PerImageTarget:
    threshold: float = P.TARGET  # SSIMULACRA2 (6-scale equivalent) p10 the rule must hold
    folds: int = 5  # k of the k-fold cross-validation by image
    min_fold: int = 5  # test images per fold at least; fewer than 2 such folds: the fixed quality stays
    margin: float = 0.05  # bytes the rule must save against the best fixed quality at equal p10
    max_wait: float = 1.5  # the first viewer's wait with the rule / today's, median over images
    s3_ms: float = 60.0  # the miss's S3 round trips (original GET, variant PUT), part of the wait
    seed: int = 0


def _timing(timing: pd.DataFrame | None, variant: str, fmt: str) -> dict[str, float]:
    if timing is None or timing.empty:
        return dict(miss_ms=math.nan, score_ms=math.nan, encode_ms=math.nan)
    t = timing[(timing.variant == variant) & (timing.format == fmt)]
    return {k: float(t[k].median()) if len(t) else math.nan for k in ("miss_ms", "score_ms", "encode_ms")}


def rule_value(traffic: cost.Traffic, variant: str, *, miss_ms: float, added_ms: float, bytes_saved: float,
               prices: cost.Prices = PRICES) -> dict[str, float]:
    """Monthly USD for one variant's share of the traffic (`traffic.variant_mix`): the Lambda compute the rule
    adds to its generated misses and the egress it saves on all its requests (`bytes_saved` per response)."""
    mix = traffic.variant_mix
    share = mix.get(variant, 0.0) / sum(mix.values()) if sum(mix.values()) else 0.0
    mine = replace(traffic, requests_per_month=traffic.requests_per_month * share, variant_mix={variant: 1.0})
    scale = cost.cpu_factor(traffic.origin_memory_mb)
    size = 100_000.0  # cancels out: only the difference in bytes matters
    base = cost.monthly_cost(mine, miss_ms={variant: miss_ms * scale}, response_bytes={variant: size},
                             prices=prices)
    rule = cost.monthly_cost(mine, miss_ms={variant: (miss_ms + added_ms) * scale},
                             response_bytes={variant: size - bytes_saved}, prices=prices)
    compute = rule["lambda_origin_compute"] - base["lambda_origin_compute"]
    egress = base["cloudfront_egress"] - rule["cloudfront_egress"]
    return dict(compute_usd=compute, egress_usd=egress, net_usd=egress - compute)


def study(frame: pd.DataFrame, timing: pd.DataFrame | None, *, target: PerImageTarget = PerImageTarget(),
          traffic: cost.Traffic = TRAFFIC, prices: cost.Prices = PRICES,
          backend: str = "vips") -> tuple[pd.DataFrame, pd.DataFrame]:
    """(decision table per variant x format, cross-validated choices per image and rule). See the module."""
    rows, cvs = [], []
    if frame is None or frame.empty:
        return pd.DataFrame(), pd.DataFrame()
    groups = (dict(zip(frame.file, frame.group, strict=True)) if "group" in frame else None)
    scale = cost.cpu_factor(traffic.origin_memory_mb)
    for (variant, fmt), part in frame.groupby(["variant", "format"], observed=True, sort=False):
        files = sorted(part.file.unique())
        folds = P.image_folds(files, target.folds, groups=groups, seed=target.seed, min_test=target.min_fold)
        n_folds = len(set(folds.values()))
        t = _timing(timing, variant, fmt)
        row = dict(variant=variant, format=fmt, rule=RULE, images=len(files), folds=n_folds,
                   min_fold=target.min_fold, **t)
        enough = len(files) >= 2 * target.min_fold and n_folds >= 2
        if enough:
            rules = [P.Fixed(target=target.threshold), P.ProbeVerify(target=target.threshold)]
            cv = P.cross_validate(part, rules, k=target.folds, groups=groups, seed=target.seed,
                                  min_test=target.min_fold, target=target.threshold)
            cvs.append(cv)
            summary = P.summarize(cv, part, target=target.threshold).set_index("rule")
            s, fixed = summary.loc[RULE], summary.loc["fixed"]
            mine = cv[cv.rule == RULE]
            added = mine.probes * t["score_ms"] + (mine.encodes - 1) * t["encode_ms"]
            row.update(p10=s.p10, below_target=s.below_target, worst=s.worst, bytes=s.bytes,
                       fixed_bytes=s.fixed_bytes, fixed_quality=s.fixed_quality, saving=s.saving,
                       fixed_cv_p10=fixed.p10, fixed_cv_below_target=fixed.below_target,
                       oracle_saving=s.oracle_saving, p10_ceiling_saving=s.p10_ceiling_saving, probes=s.probes,
                       encodes=s.encodes,
                       added_ms=float(added.mean()), cv="yes")
            bytes_saved = (s.fixed_bytes - s.bytes) / len(files)
        else:
            added = pd.Series([t["score_ms"]])  # the lower bound: one score of today's encode
            row.update(added_ms=float(added.mean()), cv=f"no: {len(files)} images, fewer than 2 folds of "
                                                         f"{target.min_fold}")
            bytes_saved = math.nan
        today = t["miss_ms"] * scale + target.s3_ms
        row["wait_ratio"] = float(np.median((t["miss_ms"] + added) * scale + target.s3_ms) / today)
        row["miss_ratio"] = float(np.median(t["miss_ms"] + added) / t["miss_ms"])
        row.update(rule_value(traffic, variant, miss_ms=t["miss_ms"], added_ms=row["added_ms"],
                              bytes_saved=bytes_saved, prices=prices))
        rows.append(_decide(row, target, backend))
    return pd.DataFrame(rows, columns=COLUMNS), (pd.concat(cvs, ignore_index=True) if cvs else pd.DataFrame())


def _decide(row: dict, target: PerImageTarget, backend: str) -> dict:
    """The row with its conditions (`wins`, `pays`, `fast`), `decision` and the `reason` in words."""
    failed = []
    if row["cv"] != "yes":
        failed.append(f"too few images to cross-validate ({row['cv'].removeprefix('no: ')})")
        row.update(wins=False)
    else:
        row["wins"] = bool(row["saving"] >= target.margin and row["p10"] >= target.threshold)
        if not row["wins"]:
            failed.append(f"does not win: saves {100 * row['saving']:.1f}% bytes under CV (needs >= "
                          f"{100 * target.margin:g}%) at p10 {row['p10']:.1f} (target {target.threshold:g}); "
                          f"the most any rule could save here {100 * row['p10_ceiling_saving']:.1f}%")
    net = row["net_usd"]
    row["pays"] = bool(net >= 0) if not math.isnan(net) else False
    if row["cv"] == "yes" and not row["pays"]:
        failed.append(f"does not pay: +${row['compute_usd']:.2f}/month compute ({row['added_ms']:.0f} ms per miss) "
                      f"vs -${row['egress_usd']:.2f}/month egress")
    row["fast"] = bool(row["wait_ratio"] <= target.max_wait)
    if math.isnan(row["wait_ratio"]):
        failed.append("not timed: no probe timing for this variant x format")
    elif not row["fast"]:
        failed.append(f"too slow: the first viewer waits {row['wait_ratio']:.1f}x today's at p50 (allowed "
                      f"{target.max_wait:g}x; +{row['added_ms']:.0f} ms on a {row['miss_ms']:.0f} ms transform, "
                      f"{row['miss_ratio']:.1f}x)")
    if backend != "vips":
        failed.append(f"backend {backend}: the edge scores with libvips only")
    row["decision"] = "per-image" if not failed else "fixed"
    row["reason"] = "; ".join(failed) if failed else (
        f"saves {100 * row['saving']:.1f}% at p10 {row['p10']:.1f}, net ${net:.2f}/month, wait "
        f"{row['wait_ratio']:.2f}x")
    return row


def edge_rule(params: dict, qualities) -> dict:
    """A fitted `ProbeVerify`'s params as the encoder's `per_image` table (resizer.config.PerImageQuality):
    the ladder as [low, high, step] (it must be evenly spaced), the map's knots with strictly ascending scores
    (tied scores keep the highest quality)."""
    q = [int(x) for x in qualities]
    steps = {b - a for a, b in zip(q, q[1:], strict=False)}
    if len(steps) > 1:
        raise ValueError(f"the edge's ladder is evenly spaced; this one is not: {q}")
    knots: dict[float, float] = {}
    for s, quality in zip(params["knots_score"], params["knots_quality"], strict=True):
        knots[float(s)] = max(knots.get(float(s), -math.inf), round(float(quality), 3))
    scores = sorted(knots)
    return dict(probe=int(params["probe_quality"]), threshold=round(float(params["tau"]), 3), scores=scores,
                qualities=[knots[s] for s in scores], ladder=[q[0], q[-1], steps.pop() if steps else 1])


def fit_rules(frame: pd.DataFrame, table: pd.DataFrame, threshold: float = P.TARGET) -> dict:
    """(variant, format) -> the `per_image` table to write, for the rows of `table` that decided "per-image":
    ProbeVerify fitted on all the images."""
    out = {}
    if table is None or table.empty:
        return out
    for r in table[table.decision == "per-image"].itertuples():
        part = frame[(frame.variant == r.variant) & (frame.format == r.format)]
        ladder = P.Ladder.from_frame(part)
        out[(r.variant, r.format)] = edge_rule(P.ProbeVerify(target=threshold).fit(ladder), ladder.qualities)
    return out


def plot_chosen_vs_needed(cv: pd.DataFrame, rule: str = RULE):
    """Per variant x format: each test image's cross-validated quality (the rule's, and the fixed one's) against
    the quality it needed (the oracle), on the ladder."""
    import matplotlib.pyplot as plt

    keys = list(cv.groupby(["variant", "format"], sort=False).groups)
    fig, axes = plt.subplots(1, len(keys), figsize=(3.4 * len(keys), 3.4), squeeze=False)
    rng = np.random.default_rng(0)
    for ax, (variant, fmt) in zip(axes[0], keys, strict=True):
        part = cv[(cv.variant == variant) & (cv.format == fmt)]
        for name, marker in ((rule, "o"), ("fixed", "x")):
            r = part[part.rule == name]
            jitter = rng.uniform(-0.6, 0.6, len(r))
            ax.scatter(r.oracle_quality + jitter, r.quality, s=14, marker=marker, alpha=0.7,
                       label="per-image rule" if name == rule else "fixed quality")
        lo, hi = part[["quality", "oracle_quality"]].min().min(), part[["quality", "oracle_quality"]].max().max()
        ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8)
        ax.set_title(f"{variant} {fmt} (n={part.file.nunique()})", fontsize=9)
        ax.set_xlabel("needed quality (oracle)")
    axes[0][0].set_ylabel("served quality (cross-validated)")
    axes[0][0].legend(fontsize=7)
    fig.suptitle("Below the diagonal: the image misses the target", fontsize=9)
    fig.tight_layout()
    return fig


# --- report only: the format by image ---------------------------------------------------------------------

def format_by_image(quality: pd.DataFrame, choice, *, ladder: pd.DataFrame | None = None,
                    threshold: float = P.TARGET, metric: str = "s2_equiv") -> pd.DataFrame:
    """Per variant offering two or more formats: a viewer accepting all of them gets the ladder's first; what
    would serving each image the smaller of them save? Basis "fixed qualities": the chosen quality per format
    (quality sweep, chosen backend); basis "needed quality": each image at its own needed quality per format
    (the per-image ladder's oracle). With the p10 of both, since the smaller file may be the worse one."""
    rows = []
    for name, vc in choice.variants.items():
        formats = [f for f in vc.formats if f in (vc.qualities or {})] if vc.qualities else []
        if len(formats) < 2:
            continue
        q = quality[(quality.variant == name) & (quality.backend == choice.backend)]
        picks = [q[(q.format == f) & (q.quality == vc.qualities[f])].set_index("file")[["bytes", metric]]
                 for f in formats]
        rows.append(_format_row(name, "fixed qualities", formats, picks, metric))
    if ladder is not None and not ladder.empty:
        need = P.needed_quality(ladder, threshold)
        for name, part in need.groupby("variant"):
            vc = choice.variants.get(name)
            order = [f for f in (vc.formats if vc else ()) if f in set(part.format)]
            if len(order) < 2:
                continue
            picks = [part[part.format == f].set_index("file")[["bytes", "score"]].rename(columns={"score": metric})
                     for f in order]
            rows.append(_format_row(name, "needed quality (oracle)", order, picks, metric))
    return pd.DataFrame(rows)


def _format_row(variant: str, basis: str, formats: list[str], picks: list[pd.DataFrame], metric: str) -> dict:
    files = sorted(set.intersection(*(set(p.index) for p in picks)))
    sizes = np.array([p.loc[files, "bytes"].to_numpy(float) for p in picks])
    scores = np.array([p.loc[files, metric].to_numpy(float) for p in picks])
    best = sizes.argmin(axis=0)
    cols = np.arange(len(files))
    first, chosen = sizes[0].sum(), sizes[best, cols].sum()
    return dict(variant=variant, basis=basis, ladder=" > ".join(formats), images=len(files),
                other_smaller=float((best != 0).mean()) if files else math.nan,
                first_bytes=first / max(1, len(files)), per_image_bytes=chosen / max(1, len(files)),
                saving=1 - chosen / first if first else math.nan,
                first_p10=float(np.quantile(scores[0], 0.1)) if files else math.nan,
                per_image_p10=float(np.quantile(scores[best, cols], 0.1)) if files else math.nan)


# --- report only: bytes per variant ---------------------------------------------------------------------------

def variant_bytes(quality: pd.DataFrame, choice, metric: str = "s2_equiv") -> pd.DataFrame:
    """Per variant (in box order): the bytes its shipped output (first ladder format at its chosen quality, chosen
    backend) takes on the images every listed variant was swept on, and the byte step from the variant below:
    the median over images of the bytes ratio, beside the box ratio and the pixel ratio (a sensible ladder of
    breakpoints has roughly even byte steps)."""
    shipped = {}
    for name, vc in choice.variants.items():
        fmt = vc.formats[0] if vc.formats else None
        if fmt not in (vc.qualities or {}):
            continue
        q = quality[(quality.variant == name) & (quality.backend == choice.backend) & (quality.format == fmt)
                    & (quality.quality == vc.qualities[fmt])]
        if len(q):
            shipped[name] = q.set_index("file")
    if not shipped:
        return pd.DataFrame()
    files = sorted(set.intersection(*(set(s.index) for s in shipped.values())))
    order = sorted(shipped, key=lambda v: int(shipped[v].box.iloc[0]))
    rows, prev = [], None
    for name in order:
        s = shipped[name].loc[files]
        pixels = (s.width * s.height).astype(float)
        row = dict(variant=name, box=int(s.box.iloc[0]), shipped=f"{choice.variants[name].formats[0]} "
                   f"q{choice.variants[name].qualities[choice.variants[name].formats[0]]}", images=len(files),
                   bytes_mean=float(s.bytes.mean()), bytes_median=float(s.bytes.median()),
                   p10=float(s[metric].quantile(0.1)))
        if prev is not None:
            p, pp = shipped[prev].loc[files], (shipped[prev].loc[files].width * shipped[prev].loc[files].height)
            row.update(byte_step=float((s.bytes / p.bytes).median()), box_step=row["box"] / int(p.box.iloc[0]),
                       pixel_step=float((pixels / pp.astype(float)).median()))
        rows.append(row)
        prev = name
    return pd.DataFrame(rows)


def plot_variant_bytes(quality: pd.DataFrame, choice, table: pd.DataFrame):
    """KiB per image of each variant's shipped output against its box (log-log), one grey line per image and the
    median in black: even byte steps are even spacing here."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.6))
    per = []
    for r in table.itertuples():
        vc = choice.variants[r.variant]
        fmt = vc.formats[0]
        q = quality[(quality.variant == r.variant) & (quality.backend == choice.backend) & (quality.format == fmt)
                    & (quality.quality == vc.qualities[fmt])]
        per.append(q.set_index("file").bytes.rename(r.box))
    wide = pd.concat(per, axis=1).dropna()
    for _, line in wide.iterrows():
        ax.plot(wide.columns, line / 1024, color="grey", alpha=0.4, lw=0.8)
    ax.plot(table.box, table.bytes_median / 1024, "ko-", label="median")
    for r in table.itertuples():
        ax.annotate(r.variant, (r.box, r.bytes_median / 1024), textcoords="offset points", xytext=(4, -10),
                    fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("box (px)")
    ax.set_ylabel("KiB per image (shipped format)")
    ax.set_title(f"Bytes per variant, {len(wide)} images", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def summary_markdown(table: pd.DataFrame, formats: pd.DataFrame, sizes: pd.DataFrame) -> str:
    """The choose notebook's per-image, format-by-image and bytes-per-variant lines of summary.md."""
    lines = []
    if table is not None and len(table):
        lines += ["", "", "Per-image quality (edge rule, cross-validated by image):", ""]
        for r in table.itertuples():
            lines.append(f"- {r.variant} {r.format}: **{r.decision}** ({r.reason})")
    if formats is not None and len(formats):
        lines += ["", "Format by image (report only): serving each image the smaller format would save "
                  + "; ".join(f"{r.variant} {100 * r.saving:.1f}% ({r.basis}, {100 * r.other_smaller:.0f}% of "
                              f"{r.images} images)" for r in formats.itertuples()) + "."]
    if sizes is not None and len(sizes) > 1:
        steps = sizes.dropna(subset=["byte_step"])
        lines += ["", "Byte steps between variants (median bytes ratio; box ratio): "
                  + ", ".join(f"{r.variant} {r.byte_step:.1f}x ({r.box_step:.1f}x)" for r in steps.itertuples())
                  + "."]
    return "\n".join(lines)
