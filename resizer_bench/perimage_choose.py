"""The chooser's per-image decision, and two report-only studies (format by image, variant sizes).

Per variant x format of the per-image ladder sweep (`perimage.ladder_sweep`, written by the quality notebook as
`perimage_ladder`, with the probe timings as `perimage_timing`), two candidate rules on the edge's score
(`s2_edge`, resizer.image.quality_probe):

- `perimage.ProbeVerify`, run by the edge on every miss (config.PerImageQuality): one probe, a map, one check;
- `perimage.Threshold` (exact bisection of the ladder), run offline (config.QualitySearch) by `resizer warm`
  and `resizer variants`; until warm has stored a variant the edge answers its misses at the fixed quality,
  unstored, cached an hour.

A candidate ships only when all of these hold:

- **enough images**: k-fold cross-validation by image (`perimage.image_folds`, near-duplicates in one fold)
  needs at least 2 folds of `min_fold` test images; fewer: the fixed quality stays;
- **wins**: under cross-validation the rule's p10 reaches the target and its bytes are at least `margin` below
  the best fixed quality's on the same ladder at the same p10 (`perimage.summarize`);
- **pays**: per month, the egress its bytes save on every request of the variant outweighs the compute its
  probes add to every output made (`rule_value`: the edge rule at Lambda@Edge's price and the origin function's
  CPU share, the search at `Prices.offline_per_gb_second` on one vCPU);
- **fast enough** (the edge rule): the first viewer's wait (transform x cpu factor + `s3_ms`) with the rule,
  median over images, stays within `max_wait` x today's; the offline search leaves it at today's;
- **vips**: the chosen backend is vips (the score is computed in libvips only).

Of two that pass, the one saving more ships (`_pick`), fitted on all images (`fit_rules`) and written as the
encoder's `per_image` or `search` table (`choose.config_toml`). Added ms per output = probes x score ms + extra
encodes x encode ms (medians of the timing images); without cross-validation the lower bound (one score, no extra
encode) is shown.
"""

import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from resizer.edge.runtime import MB_PER_VCPU

from . import cost
from . import perimage as P
from .choose import chosen_rows

RULE = "probeverify[s2_edge]"  # run on every miss at the edge (config.PerImageQuality)
SEARCH = "search[s2_edge]"  # exact bisection, searched offline by warm and variants (config.QualitySearch)
RULE_NAMES = {RULE: "at the edge (probe, verify)", SEARCH: "searched offline (warm)"}
# The search is fitted to hold p10 >= target + this on the training images: with no margin its cross-validated
# p10 fell 0.3-0.6 below the target on the corpus (sm/md x avif/webp), with 0.5 all four held it.
SEARCH_FIT_MARGIN = 0.5
CANDIDATES = {RULE: lambda threshold: P.ProbeVerify(target=threshold),
              SEARCH: lambda threshold: P.Threshold(score="s2_edge", target=threshold, margin=SEARCH_FIT_MARGIN,
                                                    name=SEARCH)}
PRICES, TRAFFIC = cost.Prices(), cost.Traffic()
COLUMNS = ["variant", "format", "rule", "images", "folds", "min_fold", "cv", "p10", "below_target", "worst", "bytes",
           "fixed_bytes", "fixed_quality", "saving", "fixed_cv_p10", "fixed_cv_below_target", "oracle_saving",
           "p10_ceiling_saving", "probes", "encodes", "miss_ms", "score_ms", "encode_ms", "added_ms", "miss_ratio",
           "wait_ratio", "compute_usd", "egress_usd", "net_usd", "requests_per_output", "wins", "pays", "fast",
           "decision", "reason"]


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
               prices: cost.Prices = PRICES, offline: bool = False) -> dict[str, float]:
    """Monthly USD for one variant's share of the traffic (`traffic.variant_mix`): the compute the rule adds to
    each output made — at the edge, Lambda@Edge at the origin function's memory; `offline` (warm's searches),
    `prices.offline_per_gb_second` on one full vCPU — and the egress it saves on all its requests (`bytes_saved`
    per response)."""
    mix = traffic.variant_mix
    share = mix.get(variant, 0.0) / sum(mix.values()) if sum(mix.values()) else 0.0
    mine = replace(traffic, requests_per_month=traffic.requests_per_month * share, variant_mix={variant: 1.0})
    scale = cost.cpu_factor(traffic.origin_memory_mb)
    size = 100_000.0  # cancels out: only the difference in bytes matters
    base = cost.monthly_cost(mine, miss_ms={variant: miss_ms * scale}, response_bytes={variant: size},
                             prices=prices)
    rule = cost.monthly_cost(mine, miss_ms={variant: (miss_ms + added_ms) * scale},
                             response_bytes={variant: size - bytes_saved}, prices=prices)
    if offline:
        outputs = mine.requests_per_month * traffic.made_share
        compute = outputs * added_ms / 1000 * MB_PER_VCPU / 1024 * prices.offline_per_gb_second
    else:
        compute = rule["lambda_origin_compute"] - base["lambda_origin_compute"]
    egress = base["cloudfront_egress"] - rule["cloudfront_egress"]
    return dict(compute_usd=compute, egress_usd=egress, net_usd=egress - compute)


def study(frame: pd.DataFrame, timing: pd.DataFrame | None, *, target: PerImageTarget = PerImageTarget(),
          traffic: cost.Traffic = TRAFFIC, prices: cost.Prices = PRICES,
          backend: str = "vips") -> tuple[pd.DataFrame, pd.DataFrame]:
    """(decision table: per variant x format a row per candidate rule, cross-validated choices per image and
    rule). See the module."""
    rows, cvs = [], []
    if frame is None or frame.empty:
        return pd.DataFrame(), pd.DataFrame()
    groups = (dict(zip(frame.file, frame.group, strict=True)) if "group" in frame else None)
    for (variant, fmt), part in frame.groupby(["variant", "format"], observed=True, sort=False):
        files = sorted(part.file.unique())
        folds = P.image_folds(files, target.folds, groups=groups, seed=target.seed, min_test=target.min_fold)
        n_folds = len(set(folds.values()))
        base = dict(variant=variant, format=fmt, images=len(files), folds=n_folds, min_fold=target.min_fold,
                    **_timing(timing, variant, fmt))
        cv = summary = None
        if len(files) >= 2 * target.min_fold and n_folds >= 2:
            rules = [P.Fixed(target=target.threshold), *(make(target.threshold) for make in CANDIDATES.values())]
            cv = P.cross_validate(part, rules, k=target.folds, groups=groups, seed=target.seed,
                                  min_test=target.min_fold, target=target.threshold)
            cvs.append(cv)
            summary = P.summarize(cv, part, target=target.threshold).set_index("rule")
        candidates = [_candidate(dict(base, rule=rule), cv, summary, target, traffic, prices, backend)
                      for rule in CANDIDATES]
        rows += _pick(candidates)
    return pd.DataFrame(rows, columns=COLUMNS), (pd.concat(cvs, ignore_index=True) if cvs else pd.DataFrame())


def _candidate(row: dict, cv: pd.DataFrame | None, summary: pd.DataFrame | None, target: PerImageTarget,
               traffic: cost.Traffic, prices: cost.Prices, backend: str) -> dict:
    """One rule's row: its cross-validated bytes and scores, what it adds per output, its cost and conditions."""
    offline = row["rule"] == SEARCH
    if summary is not None and cv is not None:
        s, fixed = summary.loc[row["rule"]], summary.loc["fixed"]
        mine = cv[cv.rule == row["rule"]]
        added = mine.probes * row["score_ms"] + (mine.encodes - 1) * row["encode_ms"]
        row.update(p10=s.p10, below_target=s.below_target, worst=s.worst, bytes=s.bytes,
                   fixed_bytes=s.fixed_bytes, fixed_quality=s.fixed_quality, saving=s.saving,
                   fixed_cv_p10=fixed.p10, fixed_cv_below_target=fixed.below_target,
                   oracle_saving=s.oracle_saving, p10_ceiling_saving=s.p10_ceiling_saving, probes=s.probes,
                   encodes=s.encodes, added_ms=float(added.mean()), cv="yes")
        bytes_saved = (s.fixed_bytes - s.bytes) / row["images"]
    else:
        added = pd.Series([row["score_ms"]])  # the lower bound: one score of today's encode
        row.update(added_ms=float(added.mean()), cv=f"no: {row['images']} images, fewer than 2 folds of "
                                                    f"{target.min_fold}")
        bytes_saved = math.nan
    scale = cost.cpu_factor(traffic.origin_memory_mb)
    today = row["miss_ms"] * scale + target.s3_ms
    # offline, the viewer of a miss gets today's encode (provisional); the search is warm's work
    row["wait_ratio"] = 1.0 if offline else float(np.median((row["miss_ms"] + added) * scale + target.s3_ms) / today)
    row["miss_ratio"] = float(np.median(row["miss_ms"] + added) / row["miss_ms"])
    # each stored output is searched once, as each is made once by a miss: compute per output made
    row.update(rule_value(traffic, row["variant"], miss_ms=row["miss_ms"], added_ms=row["added_ms"],
                          bytes_saved=bytes_saved, prices=prices, offline=offline))
    row["requests_per_output"] = 1 / max(1e-12, traffic.made_share)
    return _decide(row, target, backend, offline)


def _pick(candidates: list[dict]) -> list[dict]:
    """At most one rule ships per variant x format: of those that pass, the one saving most (the edge rule on a
    tie: it needs no warm run)."""
    passing = [r for r in candidates if r["decision"] != "fixed"]
    if len(passing) > 1:
        best = max(passing, key=lambda r: (r["saving"], r["rule"] == RULE))
        for r in passing:
            if r is not best:
                r["decision"] = "fixed"
                r["reason"] = (f"passes, but {best['rule']} saves more ({100 * best['saving']:.1f}% vs "
                               f"{100 * r['saving']:.1f}%)")
    return candidates


def _decide(row: dict, target: PerImageTarget, backend: str, offline: bool) -> dict:
    """The row with its conditions (`wins`, `pays`, `fast`; an offline search is fast by construction: the
    viewer gets today's encode), `decision` (per-image, search or fixed) and the `reason` in words."""
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
        failed.append(f"does not pay: +${row['compute_usd']:.2f}/month compute ({row['added_ms']:.0f} ms per output "
                      f"made) vs -${row['egress_usd']:.2f}/month egress" + _break_even(row))
    row["fast"] = bool(row["wait_ratio"] <= target.max_wait)
    if math.isnan(row["added_ms"]):
        failed.append("not timed: no probe timing for this variant x format")
    elif not row["fast"]:
        failed.append(f"too slow: the first viewer waits {row['wait_ratio']:.1f}x today's at p50 (allowed "
                      f"{target.max_wait:g}x; +{row['added_ms']:.0f} ms on a {row['miss_ms']:.0f} ms transform, "
                      f"{row['miss_ratio']:.1f}x)")
    if backend != "vips":
        failed.append(f"backend {backend}: the edge scores with libvips only")
    row["decision"] = "fixed" if failed else "search" if offline else "per-image"
    row["reason"] = "; ".join(failed) if failed else (
        f"saves {100 * row['saving']:.1f}% at p10 {row['p10']:.1f}, net ${net:.2f}/month, " + (
            f"searched by warm at {row['miss_ratio']:.1f}x a miss's CPU (the edge answers provisionally)"
            if offline else f"wait {row['wait_ratio']:.2f}x"))
    return row


def _even_step(qualities) -> int:
    """The step of the sweep's ladder, which the edge's ladder restates as [low, high, step]."""
    q = [int(x) for x in qualities]
    steps = {b - a for a, b in zip(q, q[1:], strict=False)}
    if len(steps) > 1:
        raise ValueError(f"the edge's ladder is evenly spaced; this one is not: {q}")
    return steps.pop() if steps else 1


def _break_even(row: dict) -> str:
    """How often each output must be requested for the rule to pay, against the traffic profile's requests per
    output made (`requests_per_output`): egress saved grows with it, the compute per output does not."""
    if not row.get("egress_usd", 0) > 0:
        return ""
    needed = row["requests_per_output"] * row["compute_usd"] / row["egress_usd"]
    return f"; it pays from ~{needed:,.0f} requests per output made (this traffic: {row['requests_per_output']:,.0f})"


def edge_rule(params: dict, qualities) -> dict:
    """A fitted `ProbeVerify`'s params as the encoder's `per_image` table (resizer.config.PerImageQuality):
    the ladder as [low, high, step] (it must be evenly spaced), the map's knots with strictly ascending scores
    (tied scores keep the highest quality)."""
    step = _even_step(qualities)
    knots: dict[float, float] = {}
    for s, quality in zip(params["knots_score"], params["knots_quality"], strict=True):
        knots[float(s)] = max(knots.get(float(s), -math.inf), round(float(quality), 3))
    scores = sorted(knots)
    return dict(probe=int(params["probe_quality"]), threshold=round(float(params["tau"]), 3), scores=scores,
                qualities=[knots[s] for s in scores], ladder=[int(qualities[0]), int(qualities[-1]), step])


def search_rule(params: dict, qualities) -> dict:
    """A fitted `Threshold` (exact bisection) as the encoder's `search` table (resizer.config.QualitySearch):
    its window of the ladder, which the runtime bisects exactly as the fit simulated."""
    return dict(threshold=round(float(params["tau"]), 3), ladder=[params["lo"], params["hi"], _even_step(qualities)])


def fit_rules(frame: pd.DataFrame, table: pd.DataFrame, threshold: float = P.TARGET) -> dict:
    """(variant, format) -> the encoder tables to add, for the rows of `table` that ship a rule, fitted on all
    the images: {"per_image": ...} (ProbeVerify, at the edge) or {"search": ...} (Threshold, offline)."""
    out = {}
    if table is None or table.empty:
        return out
    for r in table[table.decision != "fixed"].itertuples():
        part = frame[(frame.variant == r.variant) & (frame.format == r.format)]
        ladder = P.Ladder.from_frame(part)
        params = CANDIDATES[r.rule](threshold).fit(ladder)
        out[(r.variant, r.format)] = ({"per_image": edge_rule(params, ladder.qualities)} if r.rule == RULE
                                      else {"search": search_rule(params, ladder.qualities)})
    return out


PLOTTED = ((RULE, "o", "at the edge (probe, verify)"), (SEARCH, "^", "searched offline"),
           ("fixed", "x", "fixed quality"))


def plot_chosen_vs_needed(cv: pd.DataFrame):
    """Per variant x format: each test image's cross-validated quality (each candidate rule's and the fixed
    one's) against the quality it needed (the oracle), on the ladder."""
    import matplotlib.pyplot as plt

    keys = list(cv.groupby(["variant", "format"], sort=False).groups)
    fig, axes = plt.subplots(1, len(keys), figsize=(3.4 * len(keys), 3.4), squeeze=False)
    rng = np.random.default_rng(0)
    for ax, (variant, fmt) in zip(axes[0], keys, strict=True):
        part = cv[(cv.variant == variant) & (cv.format == fmt)]
        for name, marker, label in PLOTTED:
            r = part[part.rule == name]
            jitter = rng.uniform(-0.6, 0.6, len(r))
            ax.scatter(r.oracle_quality + jitter, r.quality, s=14, marker=marker, alpha=0.6, label=label)
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
        picks = [chosen_rows(quality, choice, name, f).set_index("file")[["bytes", metric]] for f in formats]
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
        q = chosen_rows(quality, choice, name, fmt)
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


def even_byte_boxes(table: pd.DataFrame, step_px: int = 10) -> list[int]:
    """Boxes from the smallest to the largest of `table` (variant_bytes: box, bytes_median, in box order) whose
    median bytes rise by one even ratio: the bytes wanted are geometric between the two ends, and each box is read
    off the measured curve (piecewise linear in log box against log bytes), rounded to `step_px`."""
    boxes, sizes = np.log(table.box.to_numpy(float)), np.log(table.bytes_median.to_numpy(float))
    if len(boxes) < 3 or not (np.diff(sizes) > 0).all():
        return []  # two points have no step to even out; a curve that does not rise cannot be read back
    wanted = np.linspace(sizes[0], sizes[-1], len(sizes))
    return [int(step_px * round(math.exp(b) / step_px)) for b in np.interp(wanted, sizes, boxes)]


def box_suggestion(table: pd.DataFrame, config) -> str:
    """Comment lines for the tuned variants.toml: the byte steps between the config's `inside` variants (one
    aspect: a box is their longer side) measured on these images, and the boxes that would even them."""
    inside = table[[config.variant(v).shape().fit == "inside" for v in table.variant]].reset_index(drop=True)
    boxes = even_byte_boxes(inside)
    if not boxes:
        return ""
    medians = inside.bytes_median.to_numpy(float)
    measured = ", ".join(f"{a}->{b} {y / x:.1f}x" for a, b, x, y in zip(inside.variant, inside.variant[1:], medians,
                                                                          medians[1:], strict=False))
    ratio = (medians[-1] / medians[0]) ** (1 / (len(medians) - 1))
    return (f"Byte steps on these images (ratio of median bytes): {measured}.\n"
            f"Suggestion, not applied: boxes {', '.join(map(str, boxes))} px for {', '.join(inside.variant)} would "
            f"step by about {ratio:.1f}x each (the report's variant_bytes table).")


def plot_variant_bytes(quality: pd.DataFrame, choice, table: pd.DataFrame):
    """KiB per image of each variant's shipped output against its box (log-log), one grey line per image and the
    median in black: even byte steps are even spacing here."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.6))
    per = []
    for r in table.itertuples():
        vc = choice.variants[r.variant]
        q = chosen_rows(quality, choice, r.variant, vc.formats[0])
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
        lines += ["", "", "Per-image quality (cross-validated by image):", ""]
        for r in table.itertuples():
            lines.append(f"- {r.variant} {r.format}, {RULE_NAMES.get(r.rule, r.rule)}: **{r.decision}** ({r.reason})")
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
