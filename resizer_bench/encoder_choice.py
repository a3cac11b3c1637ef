"""The encoder settings chooser: per variant x format, which swept setting set (sweep.ENCODER_SETS beside the
input's own) ships, at which quality.

For each set, its quality is the chooser's usual one (the cheapest swept quality whose p10 across images reaches
the target); sets are compared by their **mean bytes at the target** (interpolated between the two swept
qualities around it, as `perimage.fixed_bytes_at` does), so a set is not favoured because its grid happens to land
just above the target. A set other than the input's ships only when all of these hold:
- **fast**: the first viewer's wait on a miss at p50 is at most `max_miss_ratio` x the input set's: today's
  transform (the speed table's 1-thread latency when it has the case, else the sweep's decode + resize + encode)
  plus the encode time the set adds (sweep medians), scaled to the origin function's CPU share, plus `s3_ms` for
  the GET of the original and the PUT of the variant (as the per-image study's wait);
- **pays**: the cost model's monthly bill with it (bytes on every request, the encode time on every miss made at
  Lambda@Edge prices) is no higher than with the input's set;
- **clear margin**: it saves at least `margin` of the input set's bytes at the target (hysteresis, as for
  qualities: a re-tune regenerates every stored variant it touches);
- **holds under cross-validation by image**: the rule "pick the set and quality on the training images" against
  "pick the quality of the input's set", applied to held-out images fold by fold: its test bytes are lower and
  its test p10 is at most `cv_slack` below the other's. Too few images for two folds of `min_fold`: the input's
  set stays.
"""

import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from resizer.config import OFF_BY_DEFAULT

from . import cost
from .perimage import image_folds

TABLE_COLUMNS = ["variant", "format", "settings", "current", "quality", "bytes", "bytes_at_target", "p10", "worst",
                 "encode_ms", "miss_ms", "miss_ratio", "net_usd", "reached", "chosen", "reason"]


@dataclass(frozen=True)
class EncoderTarget:
    metric: str = "s2_equiv"
    threshold: float = 70.0
    quantile: float = 0.10
    margin: float = 0.03  # a new set must save this share of the input set's bytes at the target
    max_miss_ratio: float = 1.3  # a miss at p50 with the new set / with the input's
    folds: int = 5
    min_fold: int = 5
    cv_slack: float = 0.5  # the new rule's test p10 may be this much below the input rule's
    s3_ms: float = 60.0  # a miss's GET of the original + PUT of the variant
    seed: int = 0


def parse_settings(text: str) -> dict[str, object]:
    """sweep.settings_text back to values: "subsampling=4:4:4 mozjpeg=true effort=6" -> {...}."""
    def value(v: str) -> object:
        if v in ("true", "false"):
            return v == "true"
        for kind in (int, float):
            try:
                return kind(v)
            except ValueError:
                pass
        return v

    return {} if text.startswith("(") else {k: value(v) for k, v in (part.split("=", 1) for part in text.split())}


def settings_changes(chosen: str, current: str) -> dict[str, object]:
    """What a config's encoder table must say to turn the `current` set into the `chosen` one: the chosen values
    that differ, and `false` for a switch the chosen set leaves off."""
    new, old = parse_settings(chosen), parse_settings(current)
    changes = {k: v for k, v in new.items() if old.get(k) != v}
    changes.update({k: False for k in OFF_BY_DEFAULT if old.get(k) and k not in new})
    return changes


def with_miss(rows: pd.DataFrame) -> pd.DataFrame:
    """Sweep rows with `miss_ms`, a miss's transform: the image's decode, its costliest resize of the variant in
    any format (the sweep cuts every output of an image from one decode and one resize, which the first output
    pays: libvips decodes lazily) and the row's encode. Pass every format's rows of a variant."""
    first = rows.groupby(["file", "variant"]).resize_ms.transform("max")
    return rows.assign(miss_ms=rows.decode_ms + first + rows.encode_ms)


def curves(rows: pd.DataFrame, target: EncoderTarget) -> pd.DataFrame:
    """Per set x quality over the images every point has: images, the metric's quantile and minimum, mean bytes,
    median encode ms and median miss ms (`with_miss`, computed here from `rows` when they lack it)."""
    rows = rows if "miss_ms" in rows else with_miss(rows)
    grouped = rows.groupby(["settings", "quality"], observed=True, dropna=False)  # NA quality: lossless PNG
    table = grouped.agg(images=("file", "nunique"), p=(target.metric, lambda s: s.quantile(target.quantile)),
                        worst=(target.metric, "min"), bytes=("bytes", "mean"), encode_ms=("encode_ms", "median"),
                        miss_ms=("miss_ms", "median"), current=("current", "first")).reset_index()
    return table[table.images == table.images.max()].astype({"quality": "Int64"}).reset_index(drop=True)


def at_quality(qualities: pd.Series, quality) -> pd.Series:
    """Rows at `quality`; None or NA: the rows without one (lossless PNG)."""
    return qualities.isna() if quality is None or pd.isna(quality) else qualities == quality


def quality_text(quality) -> str:
    return "lossless" if quality is None or pd.isna(quality) else f"q{int(quality)}"


def bytes_at_target(curve: pd.DataFrame, threshold: float) -> float:
    """Mean bytes of one set at exactly p = threshold, linear between the swept qualities around it (their
    monotone envelope); NaN when no swept quality reaches it."""
    curve = curve.sort_values("quality")
    p = np.flip(np.minimum.accumulate(np.flip(curve.p.to_numpy())))
    b = curve.bytes.to_numpy()
    ok = np.flatnonzero(p >= threshold)
    if not len(ok):
        return math.nan
    j = ok[0]
    if j == 0 or p[j] == p[j - 1]:
        return float(b[j])
    t = (threshold - p[j - 1]) / (p[j] - p[j - 1])
    return float(b[j - 1] + t * (b[j] - b[j - 1]))


def _per_set(table: pd.DataFrame, target: EncoderTarget, current_quality: int | None) -> pd.DataFrame:
    """One row per set: its chosen quality (the input's quality is kept for the input's set when it passes and
    the cheapest passing one saves less than `margin`, as choose.choose_formats does; a new set regenerates every
    output anyway), bytes there and at the target, p10, worst, ms."""
    rows = []
    for text, curve in table.groupby("settings", sort=False):
        passing = curve[curve.p >= target.threshold]
        best = passing.nsmallest(1, "bytes") if len(passing) else curve.nlargest(1, "p")
        pick = best.iloc[0]
        mine = passing[at_quality(passing.quality, current_quality)]
        if bool(curve.current.iloc[0]) and len(mine) and pick.bytes > (1 - target.margin) * mine.bytes.iloc[0]:
            pick = mine.iloc[0]
        rows.append(dict(settings=text, current=bool(curve.current.iloc[0]), quality=pick.quality,
                         bytes=pick.bytes, bytes_at_target=bytes_at_target(curve, target.threshold), p10=pick.p,
                         worst=pick.worst, encode_ms=pick.encode_ms, miss_ms=pick.miss_ms, reached=bool(len(passing))))
    return pd.DataFrame(rows)


def _pick(sets: pd.DataFrame, target: EncoderTarget) -> pd.Series:
    """The set the rules ship among `sets` (`_per_set` rows with miss_ratio and net_usd): the input's unless
    another reaches the target, is fast, pays and saves the margin at the target."""
    current = sets[sets.current].iloc[0]
    eligible = sets[sets.reached & (sets.miss_ratio <= target.max_miss_ratio) & (sets.net_usd >= 0)
                    & (sets.bytes_at_target <= (1 - target.margin) * current.bytes_at_target)]
    return eligible.loc[eligible.bytes_at_target.idxmin()] if len(eligible) else current


def _priced(sets: pd.DataFrame, variant: str, target: EncoderTarget, traffic: cost.Traffic, prices: cost.Prices,
            today_miss_ms: float | None) -> pd.DataFrame:
    """`sets` with miss_ms (the transform at p50: today's plus the encode time the set adds), miss_ratio (the
    first viewer's wait on a miss over the input set's) and net_usd (monthly saving against the input's set for
    this variant's share of the traffic, all of it served in this format: bytes on every request, the miss on
    every output made)."""
    current = sets[sets.current].iloc[0]
    base_ms = today_miss_ms if today_miss_ms and today_miss_ms > 0 else current.miss_ms
    miss_ms = base_ms + sets.encode_ms - current.encode_ms
    share = traffic.variant_mix.get(variant, 0.0) / max(sum(traffic.variant_mix.values()), 1e-12)
    one = replace(traffic, requests_per_month=traffic.requests_per_month * share, variant_mix={variant: 1.0})
    scale = cost.cpu_factor(traffic.origin_memory_mb)

    def wait(ms: float) -> float:
        return ms * scale + target.s3_ms

    def bill(ms: float, size: float) -> float:
        return cost.monthly_cost(one, miss_ms={variant: wait(ms)}, response_bytes={variant: size},
                                 prices=prices)["total"]

    base_bill = bill(base_ms, current.bytes_at_target)
    return sets.assign(miss_ms=miss_ms, miss_ratio=[wait(ms) / wait(base_ms) for ms in miss_ms],
                       net_usd=[base_bill - bill(ms, b) for ms, b in zip(miss_ms, sets.bytes_at_target, strict=True)])


def choose_encoder(rows: pd.DataFrame, variant: str, target: EncoderTarget, *, current_quality: int | None = None,
                   traffic: cost.Traffic | None = None, prices: cost.Prices | None = None,
                   today_miss_ms: float | None = None, groups: dict | None = None) -> pd.DataFrame:
    """The comparison for one variant x format (`rows`: its sweep rows on one backend, every set): one row per
    set (TABLE_COLUMNS), `chosen` marking the shipped one and `reason` saying why (module docstring)."""
    fmt = rows.format.iloc[0]
    traffic, prices = traffic or cost.Traffic(), prices or cost.Prices()

    def decide(part: pd.DataFrame, cq: int | None) -> pd.DataFrame:
        sets = _priced(_per_set(curves(part, target), target, cq), variant, target, traffic, prices,
                      today_miss_ms)
        return sets.assign(pick=sets.settings == _pick(sets, target).settings)

    sets = decide(rows, current_quality)
    picked = sets[sets.pick].iloc[0]
    reason = _why(sets, picked, target)
    if not picked.current:
        holds, cv_note = _cross_validated(rows, target, current_quality, decide, groups)
        reason += f"; {cv_note}"
        if not holds:
            sets["pick"] = sets.current
    out = sets.assign(variant=variant, format=fmt, chosen=sets.pick,
                      reason=[reason if p else _why_not(r, sets, target) for p, r in zip(sets.pick, sets.itertuples(),
                                                                                         strict=True)])
    if not out[out.chosen].iloc[0].settings == picked.settings:
        out.loc[out.chosen, "reason"] = f"input set kept: {picked.settings} did not hold ({reason})"
    return out[TABLE_COLUMNS]


def _cross_validated(rows: pd.DataFrame, target: EncoderTarget, current_quality, decide, groups) -> tuple[bool, str]:
    """(holds, note): the set-choosing rule against the input-set rule on held-out images, fold by fold."""
    files = sorted(rows.file.unique())
    fold_of = image_folds(files, target.folds, groups=groups, seed=target.seed, min_test=target.min_fold)
    k = len(set(fold_of.values()))
    if k < 2:
        return False, f"not cross-validated ({len(files)} images: fewer than 2 folds of {target.min_fold})"
    served = {"new": [], "input": []}
    for fold in range(k):
        test_files = {f for f, g in fold_of.items() if g == fold}
        train, test = rows[~rows.file.isin(test_files)], rows[rows.file.isin(test_files)]
        sets = decide(train, current_quality)
        for which, pick in (("new", sets[sets.pick].iloc[0]), ("input", sets[sets.current].iloc[0])):
            served[which].append(test[(test.settings == pick.settings) & at_quality(test.quality, pick.quality)])
    new, old = (pd.concat(served[w]) for w in ("new", "input"))
    p_new, p_old = (float(x[target.metric].quantile(target.quantile)) for x in (new, old))
    saving = 1 - new.bytes.mean() / old.bytes.mean()
    holds = saving > 0 and p_new >= min(p_old, target.threshold) - target.cv_slack
    return holds, (f"under {k}-fold CV by image: {100 * saving:.1f}% fewer bytes, test p10 {p_new:.1f} vs "
                   f"{p_old:.1f}")


def _why(sets: pd.DataFrame, picked: pd.Series, target: EncoderTarget) -> str:
    current = sets[sets.current].iloc[0]
    if picked.current:
        return "input set kept: no other set reaches the target, is fast enough, pays and saves the margin"
    return (f"{100 * (1 - picked.bytes_at_target / current.bytes_at_target):.1f}% fewer bytes at the target than "
            f"{current.settings}, miss x{picked.miss_ratio:.2f}, ${picked.net_usd:,.2f}/month")


def _why_not(r, sets: pd.DataFrame, target: EncoderTarget) -> str:
    """Why set `r` was not shipped (the first rule it fails)."""
    current = sets[sets.current].iloc[0]
    if r.current:
        return "the input's set"
    if not r.reached:
        return "target not reached at any swept quality"
    if r.miss_ratio > target.max_miss_ratio:
        return f"too slow: miss x{r.miss_ratio:.2f} > {target.max_miss_ratio:g}"
    if r.net_usd < 0:
        return f"does not pay: ${r.net_usd:,.2f}/month"
    saving = 1 - r.bytes_at_target / current.bytes_at_target
    if saving < target.margin:
        return f"saves {100 * saving:.1f}% < margin {100 * target.margin:g}%"
    return "another set saves more"


def plot_sets(quality: pd.DataFrame, choice, *, threshold: float, quantile: float = 0.10,
              metric: str = "s2_equiv"):
    """Per variant x format with more than one set swept (chosen backend): mean bytes against the metric's
    quantile across images, one line per set over its swept qualities; the target as a dashed line, the shipped
    point ringed."""
    import matplotlib.pyplot as plt

    panels = [(name, fmt) for name, vc in choice.variants.items() if vc.encoders is not None and len(vc.encoders)
              for fmt in vc.encoders.format.unique()]
    if not panels:
        return None
    cols = min(3, len(panels))
    fig, axes = plt.subplots((len(panels) + cols - 1) // cols, cols, figsize=(4.4 * cols, 3.4 * math.ceil(
        len(panels) / cols)), squeeze=False)
    target = EncoderTarget(metric=metric, threshold=threshold, quantile=quantile)
    for ax, (name, fmt) in zip(axes.flat, panels, strict=False):
        rows = quality[(quality.variant == name) & (quality.format == fmt) & (quality.backend == choice.backend)
                       & quality.quality.notna()]
        table = choice.variants[name].encoders
        shipped = table[(table.format == fmt) & table.chosen].iloc[0]
        for text, curve in curves(rows, target).groupby("settings", sort=False):
            curve = curve.sort_values("quality")
            line, = ax.plot(curve.p, curve.bytes / 1024, "o-", ms=3, label=text + (" (input)" if
                                                                                  curve.current.iloc[0] else ""))
            if text == shipped.settings:
                at = curve[at_quality(curve.quality, shipped.quality)]
                ax.plot(at.p, at.bytes / 1024, "o", ms=11, mfc="none", color=line.get_color())
        ax.axvline(threshold, color="grey", ls="--", lw=0.8)
        ax.set_title(f"{name} {fmt}: ships {shipped.settings} {quality_text(shipped.quality)}", fontsize=8)
        ax.set_xlabel(f"p{round(100 * quantile)} {metric}", fontsize=8)
        ax.set_ylabel("mean KiB", fontsize=8)
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    return fig
