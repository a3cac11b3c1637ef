"""The chooser: from the quality sweep, the speed and the cold-start tables to a variants config.

Per variant (only when at least `min_images` images are larger than its box; otherwise its settings stay):
- per format, the quality with the fewest mean bytes whose `quantile` (p10) of the metric across images reaches
  the target (SSIMULACRA2 6-scale equivalent >= 70: "high quality" in Cloudinary's calibration); when no tested
  quality reaches it, the best-scoring one, flagged. A seeded bootstrap over images gives the p10's 95% CI.
- the format ladder: the variant's offered formats ordered by mean bytes at their chosen quality.
The backend (one per config), by this rule: the lower expected miss latency, i.e. the variant-mix-weighted
median transform latency (speed table, 1 thread, the ladder's first format) plus `cold_start_share` x the
backend's import time (cold-start table). Missing speed or cold-start data: the input config's backend stays.
"""

import json
import re
import tomllib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from resizer.config import BACKENDS, backend_refusal, parse_config

from . import cost
from .encoder_choice import EncoderTarget, choose_encoder, settings_changes, with_miss
from .sweep import LOSSY, TUNED, box_label


@dataclass(frozen=True)
class Target:
    metric: str = "s2_equiv"  # column of the quality table
    threshold: float = 70.0
    quantile: float = 0.10
    min_images: int = 5
    boot: int = 2000
    seed: int = 0
    # keep the input config's quality (when tested and reaching the target) unless the cheapest passing one saves
    # at least this share of its mean bytes: a re-tune by one noisy step would regenerate a whole library, since
    # derived keys are addressed by their settings
    margin: float = 0.03


@dataclass
class VariantChoice:
    name: str
    images: int  # images larger than the box in the sweep
    changed: bool  # False: the input config's settings are kept (see `note`)
    note: str
    formats: tuple[str, ...]  # the ladder (input order when kept)
    qualities: dict[str, int] = field(default_factory=dict)  # format -> chosen quality
    table: pd.DataFrame | None = None  # per format: the chosen point and its statistics
    settings: dict[str, str] = field(default_factory=dict)  # format -> the chosen encoder set (sweep.settings_text)
    changes: dict[str, dict] = field(default_factory=dict)  # format -> what the config must change to write it
    encoders: pd.DataFrame | None = None  # per format x swept set: the comparison (encoder_choice.TABLE_COLUMNS)


@dataclass
class Choice:
    backend: str
    backend_note: str
    variants: dict[str, VariantChoice]
    backend_table: pd.DataFrame | None = None

    def encoder_table(self) -> pd.DataFrame:
        """Every variant's encoder comparison (data/encoder_choice.csv)."""
        parts = [v.encoders for v in self.variants.values() if v.encoders is not None and len(v.encoders)]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

    def summary(self) -> pd.DataFrame:
        rows = []
        for v in self.variants.values():
            base = dict(variant=v.name, images=v.images, changed=v.changed, ladder=" > ".join(v.formats),
                        note=v.note)
            if v.table is None or v.table.empty:
                rows.append(base)
            else:
                rows += [{**base, **r} for r in v.table.to_dict(orient="records")]
        return pd.DataFrame(rows)


def bootstrap_quantile(values, q: float, *, boot: int = 2000, seed: int = 0, ci: float = 0.95):
    """(estimate, low, high): the q-quantile of `values` and a percentile-bootstrap CI (resampling values)."""
    x = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    samples = np.quantile(x[rng.integers(0, len(x), size=(boot, len(x)))], q, axis=1)
    tail = (1 - ci) / 2
    return float(np.quantile(x, q)), float(np.quantile(samples, tail)), float(np.quantile(samples, 1 - tail))


def points(quality: pd.DataFrame, target: Target) -> pd.DataFrame:
    """Per variant x backend x format x quality (grid points only, one row per image): images, the metric's
    target quantile, its median, mean bytes and bpp."""
    grid = quality[quality.quality.notna() & quality.format.isin(LOSSY) & quality[target.metric].notna()]
    grouped = grid.groupby(["variant", "backend", "format", "quality"], observed=True)
    table = grouped.agg(images=("file", "nunique"), p=(target.metric, lambda s: s.quantile(target.quantile)),
                        median=(target.metric, "median"), bytes=("bytes", "mean"), bpp=("bpp", "mean"))
    table = table.reset_index().astype({"quality": int})
    # a point only some images have (the q80 baseline of JPEG originals, off the grid) is not comparable
    full = table.groupby(["variant", "backend", "format"]).images.transform("max")
    return table[table.images == full].reset_index(drop=True)


FORMAT_COLUMNS = ["format", "quality", "images", "p", "p_low", "p_high", "median", "bytes", "bpp", "reached", "tested",
                  "kept_current", "margin_saving"]


def choose_formats(quality: pd.DataFrame, variant: str, backend: str, target: Target,
                   current: dict[str, int | None] | None = None) -> pd.DataFrame:
    """Per format: the chosen quality for `variant` on `backend`, with its p10 (and CI), mean bytes, and
    whether the target was reached. `current`: format -> the input config's quality, kept when it was tested,
    reaches the target and the cheapest passing quality saves less than `target.margin` of its bytes
    (`kept_current`; `margin_saving`: what the cheapest passing one would have saved against it)."""
    mine = quality[(quality.variant == variant) & (quality.backend == backend)]
    table = points(mine, target) if (mine.quality.notna() & mine.format.isin(LOSSY)).any() else pd.DataFrame()
    rows = []
    for fmt, group in (table.groupby("format", sort=False) if len(table) else ()):
        passing = group[group.p >= target.threshold]
        best = passing.nsmallest(1, "bytes") if len(passing) else group.nlargest(1, "p")
        row = best.iloc[0]
        mine = passing[passing.quality == (current or {}).get(fmt)]
        kept, gain = False, np.nan
        if len(mine):
            gain = float(1 - row.bytes / mine.iloc[0].bytes)
            if gain < target.margin:
                row, kept = mine.iloc[0], True
        values = quality[(quality.variant == variant) & (quality.backend == backend) & (quality.format == fmt)
                         & (quality.quality == row.quality)][target.metric]
        est, low, high = bootstrap_quantile(values, target.quantile, boot=target.boot, seed=target.seed)
        rows.append(dict(format=fmt, quality=int(row.quality), images=int(row.images), p=est, p_low=low, p_high=high,
                         median=row["median"], bytes=row.bytes, bpp=row.bpp, reached=bool(len(passing)),
                         tested=",".join(map(str, sorted(group.quality))), kept_current=kept,
                         margin_saving=gain))
    return pd.DataFrame(rows, columns=FORMAT_COLUMNS).astype({"reached": bool, "kept_current": bool})


def import_ms(cold_start: pd.DataFrame | None) -> dict[str, float]:
    """backend -> median import ms, from either schema: (backend, import_ms_median) or the cold-start
    notebook's (target, backend, phase, ms_median) rows with phase "import"."""
    if cold_start is None or cold_start.empty:
        return {}
    if "import_ms_median" in cold_start:
        rows = cold_start[["backend", "import_ms_median"]]
    else:
        rows = cold_start[(cold_start.phase == "import") & cold_start.target.str.startswith("import ")]
        rows = rows.rename(columns={"ms_median": "import_ms_median"})[["backend", "import_ms_median"]]
    rows = rows[rows.backend.astype(str) != ""]
    return rows.groupby("backend").import_ms_median.median().to_dict()


def latency_ms(speed: pd.DataFrame | None, threads: int = 1) -> dict[tuple[str, str, str], float]:
    """(backend, variant, format) -> median transform ms at `threads` threads (the fewest measured when absent)."""
    if speed is None or speed.empty:
        return {}
    if "threads" in speed:
        speed = speed[speed.threads == (threads if threads in set(speed.threads) else speed.threads.min())]
    return speed.groupby(["backend", "variant", "format"]).latency_ms_median.median().to_dict()


def choose_backend(ladders: dict[str, tuple[str, ...]], mix: dict[str, float], speed, cold_start, *,
                   default: str, cold_start_share: float = 0.02, threads: int = 1,
                   refused: dict[str, str] | None = None):
    """(backend, note, table): the backend with the lower expected miss ms (module docstring) among those the
    config does not refuse (`refused`: backend -> why it cannot make the config, `config.backend_refusal`)."""
    latency, imports = latency_ms(speed, threads), import_ms(cold_start)
    refused = refused or {}
    rows = []
    for backend in BACKENDS:
        parts = [(mix.get(v, 0), latency.get((backend, v, ladder[0]))) for v, ladder in ladders.items() if ladder]
        weight = sum(w for w, ms in parts if ms is not None)
        transform = sum(w * ms for w, ms in parts if ms is not None) / weight if weight else np.nan
        cold = imports.get(backend, np.nan)
        rows.append(dict(backend=backend, transform_ms=transform, import_ms=cold,
                         expected_miss_ms=transform + cold_start_share * cold, refused=refused.get(backend, "")))
    table = pd.DataFrame(rows)
    able = table[table.refused == ""]
    if len(able) == 1:
        only = str(able.backend.iloc[0])
        return only, f"{only}: the only backend that makes this config ({'; '.join(refused.values())})", table
    if able.expected_miss_ms.isna().any():
        return default, f"kept {default}: speed or cold-start measurements missing for a backend", table
    best = able.loc[able.expected_miss_ms.idxmin()]
    other = able.loc[able.expected_miss_ms.idxmax()]
    note = (f"{best.backend}: expected miss {best.expected_miss_ms:.0f} ms vs {other.expected_miss_ms:.0f} ms "
            f"({other.backend}); transform {best.transform_ms:.0f} vs {other.transform_ms:.0f} ms, import "
            f"{best.import_ms:.0f} vs {other.import_ms:.0f} ms x cold-start share {cold_start_share:g}")
    return str(best.backend), note, table


def chosen_rows(quality: pd.DataFrame, choice: "Choice", variant: str, fmt: str) -> pd.DataFrame:
    """The sweep rows of what the choice ships for (variant, format): chosen backend, encoder set and quality."""
    vc = choice.variants[variant]
    rows = quality[(quality.variant == variant) & (quality.backend == choice.backend) & (quality.format == fmt)
                   & (quality.quality == vc.qualities[fmt])]
    return rows[rows.settings == vc.settings[fmt]] if fmt in vc.settings else rows


def choose_sets(quality: pd.DataFrame, variant: str, backend: str, target: Target, *, current: dict,
                encoder_target: EncoderTarget, traffic: cost.Traffic, prices: cost.Prices,
                today_ms: dict) -> pd.DataFrame:
    """Per format of `variant` on `backend`: the encoder sets compared (`encoder_choice.choose_encoder`); empty
    when the sweep has one set only (or predates sets)."""
    if "settings" not in quality:
        return pd.DataFrame()
    rows = with_miss(quality[(quality.variant == variant) & (quality.backend == backend)])
    rows = rows[(rows.quality.notna() | (rows.format == "png")) & rows.format.isin(TUNED) & rows[target.metric].notna()]
    parts = [choose_encoder(group, variant, encoder_target, current_quality=current.get(fmt), traffic=traffic,
                            prices=prices, today_miss_ms=today_ms.get((backend, variant, fmt)))
             for fmt, group in rows.groupby("format", sort=False) if group.settings.nunique() > 1]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def choose(quality: pd.DataFrame, config_text: str, *, speed: pd.DataFrame | None = None,
           cold_start: pd.DataFrame | None = None, target: Target = Target(), mix: dict[str, float] | None = None,
           cold_start_share: float = 0.02, threads: int = 1, encoder_target: EncoderTarget | None = None,
           traffic: cost.Traffic | None = None, prices: cost.Prices | None = None) -> Choice:
    """Decide backend, per-variant ladder, per-format encoder set and quality (module docstring;
    encoder_choice's for the sets)."""
    config = parse_config(config_text)
    encoder_target = encoder_target or EncoderTarget(metric=target.metric, threshold=target.threshold,
                                                     quantile=target.quantile, margin=target.margin,
                                                     seed=target.seed)
    traffic = traffic or cost.Traffic(variant_mix=mix or cost.Traffic().variant_mix)
    prices = prices or cost.Prices()
    today_ms = latency_ms(speed, threads)
    mix = mix or {v: 1.0 for v in config.variants}
    counts = quality.groupby("variant").file.nunique().to_dict()
    # the sweep's coverage (kept in the table's metadata) also counts images of variants it did not sweep
    larger = {c["variant"]: c["larger"] for c in quality.attrs.get("coverage", [])}

    def per_variant(backend: str) -> dict[str, VariantChoice]:
        out = {}
        for name, variant in config.variants.items():
            n = int(counts.get(name, 0))
            if n < target.min_images:
                if name in larger or n:
                    why = (f"{larger.get(name, n)} image(s) larger than {box_label(variant)} "
                           f"(fewer than min_images={target.min_images})")
                else:
                    why = "not in the quality sweep"
                out[name] = VariantChoice(name, n, False, f"kept: {why}", variant.formats)
                continue
            current = {f: e.quality for f, e in variant.encoders.items()}
            sets = choose_sets(quality, name, backend, target, current=current, encoder_target=encoder_target,
                               traffic=traffic, prices=prices, today_ms=today_ms)
            shipped = sets[sets.chosen].set_index("format").settings.to_dict() if len(sets) else {}
            inputs = sets[sets.current].set_index("format").settings.to_dict() if len(sets) else {}
            mine = quality[quality.variant == name]
            if "settings" in mine:  # each format's rows of its shipped set (the input's where only it was swept)
                wanted = mine.format.map(shipped)
                mine = mine[mine.settings.eq(wanted) | (wanted.isna() & mine.current)]
            changes = {f: settings_changes(shipped[f], inputs[f]) for f in shipped if shipped[f] != inputs[f]}
            # a new set regenerates every stored output anyway: no hysteresis on its quality
            table = choose_formats(mine, name, backend, target, {f: q for f, q in current.items() if f not in changes})
            size = table.set_index("format").bytes
            ladder = tuple(sorted(variant.formats, key=lambda f: size.get(f, np.inf)))
            missed = table[~table.reached].format.tolist()
            note = "chosen" + (f"; target not reached by {', '.join(missed)} (best tested kept)" if missed else "")
            same = table[table.kept_current].format.tolist()
            if same:
                note += (f"; input quality kept for {', '.join(same)} (a new one saves < {100 * target.margin:g}% "
                         "bytes)")
            if "png" in changes:  # a palette's quality travels with its set (choose_formats tunes the lossy ones)
                png = sets[(sets.format == "png") & sets.chosen].quality.iloc[0]
                changes["png"] = {**changes["png"], **({} if pd.isna(png) else {"quality": int(png)})}
            if changes:
                note += "; encoder settings changed for " + ", ".join(
                    f"{f} ({shipped[f]})" for f in changes)
            out[name] = VariantChoice(name, n, True, note, ladder, dict(zip(table.format, table.quality,
                                                                            strict=True)), table,
                                      settings=shipped, changes=changes, encoders=sets)
        return out

    first = per_variant(config.backend)
    ladders = {name: vc.formats for name, vc in first.items()}
    refused = {b: ": ".join(r) for b in BACKENDS if (r := backend_refusal(b, config.variants))}
    backend, note, table = choose_backend(ladders, mix, speed, cold_start, default=config.backend,
                                          cold_start_share=cold_start_share, threads=threads, refused=refused)
    return Choice(backend, note, first if backend == config.backend else per_variant(backend), table)


# --- writing the config ---------------------------------------------------------------------------------------

def config_toml(config_text: str, choice: Choice, header: str = "", per_image: dict | None = None) -> str:
    """The input config with only the backend, the changed variants' format order, their per-format encoder
    quality and the encoder settings of a changed set (`VariantChoice.changes`) replaced, and `per_image`
    ((variant, format) -> the encoder's `per_image` or `search` table, from `perimage_choose.fit_rules`) added
    (comments of the input are not kept: TOML is rewritten from its data)."""
    raw = tomllib.loads(config_text)
    raw["backend"] = choice.backend
    for (name, fmt), tables in (per_image or {}).items():
        raw["variants"][name].setdefault("encoders", {}).setdefault(fmt, {}).update(tables)
    for name, vc in choice.variants.items():
        if not vc.changed:
            continue
        spec = raw["variants"][name]
        spec["formats"] = list(vc.formats)
        encoders = spec.setdefault("encoders", {})
        for fmt, q in vc.qualities.items():
            encoders.setdefault(fmt, {})["quality"] = int(q)
        for fmt, changes in vc.changes.items():
            encoders.setdefault(fmt, {}).update(changes)
    lines = [f"# {line}".rstrip() for line in header.strip().splitlines()] if header else []
    text = "\n".join(lines + ([""] if lines else []) + _toml_table(raw, ())) + "\n"
    parse_config(text, "<chosen>")  # never write a config the loader refuses
    return text


_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(key: str) -> str:
    return key if _BARE.match(key) else json.dumps(key)


def _value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _toml_table(table: dict, path: tuple[str, ...]) -> list[str]:
    lines = [f"{_key(k)} = {_value(v)}" for k, v in table.items() if not isinstance(v, dict)]
    for k, v in table.items():
        if isinstance(v, dict):
            sub = _toml_table(v, (*path, k))
            has_values = any(not isinstance(x, dict) for x in v.values()) or not v
            lines += ([""] + [f"[{'.'.join(map(_key, (*path, k)))}]"] if has_values else []) + sub
    return lines


# --- savings against the original product ----------------------------------------------------------------------

def _baseline_and_chosen(quality: pd.DataFrame, choice: Choice, name: str,
                         baseline_backend: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One variant's rows: the original product's outputs (baseline) and the chosen first-ladder outputs."""
    vc = choice.variants[name]
    fmt = vc.formats[0]
    base = quality[(quality.variant == name) & quality.baseline & (quality.backend == baseline_backend)]
    return base, chosen_rows(quality, choice, name, fmt)


def savings(quality: pd.DataFrame, choice: Choice, *, metric: str = "s2_equiv",
            baseline_backend: str = "vips") -> pd.DataFrame:
    """Per changed variant and image: bytes of the original product's output (the original's format at quality
    80, on `baseline_backend` like its sharp/libvips) vs the chosen config's first-ladder output (what a browser
    accepting it gets); then per variant: n, mean bytes of both, the median saving and its IQR across images,
    and the metric's p10 of both."""
    rows = []
    for name, vc in choice.variants.items():
        if not vc.changed:
            continue
        fmt = vc.formats[0]
        base, new = _baseline_and_chosen(quality, choice, name, baseline_backend)
        pair = base.merge(new, on="file", suffixes=("_base", "_new"))
        rows.append(pair.assign(variant=name, chosen=f"{fmt} q{vc.qualities[fmt]}")[[
            "variant", "file", "format_base", "chosen", "bytes_base", "bytes_new", f"{metric}_base",
            f"{metric}_new"]])
    if not rows:
        return pd.DataFrame()
    per_image = pd.concat(rows, ignore_index=True)
    per_image["saving"] = 1 - per_image.bytes_new / per_image.bytes_base
    return per_image


def savings_summary(per_image: pd.DataFrame, metric: str = "s2_equiv", quantile: float = 0.10) -> pd.DataFrame:
    grouped = per_image.groupby(["variant", "chosen"], sort=False)
    return grouped.agg(n=("file", "nunique"), baseline=("format_base", lambda s: "/".join(sorted(set(s)))),
                       bytes_base=("bytes_base", "mean"), bytes_new=("bytes_new", "mean"),
                       saving_median=("saving", "median"), saving_q25=("saving", lambda s: s.quantile(0.25)),
                       saving_q75=("saving", lambda s: s.quantile(0.75)),
                       p10_base=(f"{metric}_base", lambda s: s.quantile(quantile)),
                       p10_new=(f"{metric}_new", lambda s: s.quantile(quantile))).reset_index()


def plot_savings(summary: pd.DataFrame):
    """Mean bytes per variant, original product vs chosen (labels: n and the median saving with its IQR)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(4.5, 1.6 * len(summary)), 3.6))
    x = np.arange(len(summary))
    ax.bar(x - 0.2, summary.bytes_base / 1024, 0.4, label="original product (own format, q80)")
    ax.bar(x + 0.2, summary.bytes_new / 1024, 0.4, label="chosen config")
    for i, r in enumerate(summary.itertuples()):
        ax.annotate(f"-{100 * r.saving_median:.0f}% [{100 * r.saving_q25:.0f}-{100 * r.saving_q75:.0f}]",
                    (i, max(r.bytes_base, r.bytes_new) / 1024), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, [f"{r.variant}\n{r.chosen}\nn={r.n}" for r in summary.itertuples()], fontsize=8)
    ax.set_ylabel("mean KiB per image")
    ax.set_title("Bytes per variant; label: median saving per image [IQR]", fontsize=10)
    ax.legend(fontsize=8)
    ax.margins(y=0.15)
    fig.tight_layout()
    return fig


# --- inputs of the cost model ----------------------------------------------------------------------------------

def serving_profile(quality: pd.DataFrame, choice: Choice, speed: pd.DataFrame | None, *,
                    baseline_backend: str = "vips", threads: int = 1) -> pd.DataFrame:
    """Per changed variant: mean bytes served and median transform ms, for the original product (its format
    per image at q80 on `baseline_backend`) and for the chosen config (first ladder format on the chosen
    backend). ms come from the speed table (NaN when it lacks the case)."""
    latency = latency_ms(speed, threads)
    rows = []
    for name, vc in choice.variants.items():
        if not vc.changed:
            continue
        fmt = vc.formats[0]
        base, new = _baseline_and_chosen(quality, choice, name, baseline_backend)
        base_ms = [latency.get((baseline_backend, name, f), np.nan) for f in base.format]
        rows.append(dict(variant=name, images=new.file.nunique(), bytes_base=base.bytes.mean(),
                         bytes_new=new.bytes.mean(), ms_base=float(np.mean(base_ms)) if base_ms else np.nan,
                         ms_new=latency.get((choice.backend, name, fmt), np.nan)))
    return pd.DataFrame(rows, columns=["variant", "images", "bytes_base", "bytes_new", "ms_base", "ms_new"])


def summary_markdown(choice: Choice, target: Target, saved: pd.DataFrame, costs: pd.DataFrame | None) -> str:
    """The choose notebook's fragment of summary.md."""
    lines = ["## Chosen configuration", "",
             f"Target: {target.metric} p{round(100 * target.quantile)} >= {target.threshold:g} across images "
             f"(95% bootstrap CI over images, seed {target.seed}). Backend: **{choice.backend}** "
             f"({choice.backend_note}).", ""]
    for vc in choice.variants.values():
        if not vc.changed:
            lines.append(f"- **{vc.name}**: {vc.note}.")
            continue
        t = vc.table.set_index("format")
        picks = ", ".join(f"{f} q{q} (p10 {t.loc[f, 'p']:.1f} [{t.loc[f, 'p_low']:.1f}, {t.loc[f, 'p_high']:.1f}], "
                          f"{t.loc[f, 'bytes'] / 1024:.1f} KiB)" for f, q in vc.qualities.items())
        lines.append(f"- **{vc.name}** ({vc.images} images): ladder {' > '.join(vc.formats)}; {picks}"
                     + ("" if vc.note == "chosen" else f"; {vc.note.removeprefix('chosen; ')}"))
    if not saved.empty:
        lines += ["", "Against the original product (the original's format at q80):", ""]
        lines += [f"- {r.variant}: {r.chosen} saves {100 * r.saving_median:.0f}% per image (median, IQR "
                  f"{100 * r.saving_q25:.0f}-{100 * r.saving_q75:.0f}%, n={r.n}); p10 {r.p10_base:.1f} -> "
                  f"{r.p10_new:.1f}" for r in saved.itertuples()]
    if costs is not None and not costs.empty:
        base, new = costs.loc["original product", "total"], costs.loc["chosen config", "total"]
        lines += ["", f"Monthly cost for the traffic profile: ${base:,.2f} -> ${new:,.2f}."]
    return "\n".join(lines)
