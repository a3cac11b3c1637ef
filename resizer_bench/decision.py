"""The top of index.html: what to ship, read from the run folder the choose notebook completed (variants.toml
against variants.input.toml, and the savings, choose, backend, cold_start and cost tables).

Every number links to the table it comes from, shown further down the page by `evidence_html`, so a reader can
check it without leaving the report.
"""

import html

import pandas as pd

from resizer.config import SWEEPABLE, parse_config

from .contact_sheet import contact_sheet_links
from .encoder_choice import quality_text
from .headline import COLD_START_PICKS, format_value
from .paths import RunDir
from .perimage_choose import RULE_NAMES
from .pictures import pictures_links
from .sweep import settings_text

CHOSEN_CONFIG = "variants.toml"
INPUT_CONFIG = "variants.input.toml"
# The tables the decision links to, in the order the evidence shows them.
EVIDENCE_TABLES = ("savings", "choose", "encoder_choice", "perimage", "format_by_image", "variant_bytes", "backend",
                   "cold_start", "cost", "delivery")
# Encoder settings the workbench sweeps beside quality: a changed one links to the encoder comparison
ENCODER_FIELDS = tuple(f".{k}" for k in SWEEPABLE)


def table_anchor(name: str) -> str:
    return f"table-{name}"


def figure_anchor(stem: str) -> str:
    return f"figure-{stem}"


def effective_settings(config_text: str) -> dict[str, object]:
    """Every setting of a config as the handlers see it (global encoder defaults merged into each variant),
    keyed by a dotted path, so two configs compare setting by setting whatever their TOML layout."""
    config = parse_config(config_text)
    settings = {"backend": config.backend, "derived_prefix": config.derived_prefix, "bucket": config.bucket,
                "region": config.region}
    settings.update({f"limits.{k}": v for k, v in config.limits._asdict().items()})
    for name, variant in config.variants.items():
        settings[f"variants.{name}.size"] = variant.size
        if variant.geometry is not None:  # width/height, fit, gravity, ...: the box as the config spells it
            settings.update({f"variants.{name}.{k}": v for k, v in variant.geometry._asdict().items()})
        settings[f"variants.{name}.eager"] = variant.eager
        settings[f"variants.{name}.formats"] = list(variant.formats)
        for fmt, encoder in variant.encoders.items():
            settings.update({f"variants.{name}.encoders.{fmt}.{k}": v for k, v in encoder._asdict().items()
                             if v is not None})
    return settings


def shipped_encoders(config_text: str) -> pd.DataFrame:
    """Per variant x format a config offers (its ladder and the fallbacks): the encoder set and quality it ships."""
    config = parse_config(config_text)
    return pd.DataFrame([dict(variant=name, format=fmt, settings=settings_text(v.encoder(fmt)),
                              quality=v.encoder(fmt).quality) for name, v in config.variants.items()
                         for fmt in v.formats + tuple(f for f in ("jpeg", "png") if f not in v.formats)],
                        columns=["variant", "format", "settings", "quality"])


def encoders_compared(earlier_text: str, this_text: str) -> pd.DataFrame:
    """Both runs' shipped encoder set and quality per variant x format ("settings q80"; "-": not offered), and
    whether they differ."""
    def shipped(text: str) -> pd.DataFrame:
        table = shipped_encoders(text)
        return table.assign(shipped=table.settings + table.quality.map(lambda q: "" if pd.isna(q) else f" q{q:.0f}"))

    both = shipped(earlier_text).merge(shipped(this_text), on=["variant", "format"], how="outer",
                                       suffixes=("_earlier", "_this"))
    both = both.rename(columns={"shipped_earlier": "earlier", "shipped_this": "this"}).fillna({"earlier": "-",
                                                                                               "this": "-"})
    return both.assign(changed=both.earlier != both.this)[["variant", "format", "earlier", "this", "changed"]]


def config_changes(input_text: str, chosen_text: str) -> pd.DataFrame:
    """The settings whose effective value differs between the input and the chosen config (None: not set)."""
    before, after = effective_settings(input_text), effective_settings(chosen_text)
    keys = list(before) + [k for k in after if k not in before]
    rows = [dict(setting=k, input=before.get(k), chosen=after.get(k)) for k in keys if before.get(k) != after.get(k)]
    return pd.DataFrame(rows, columns=["setting", "input", "chosen"])


def decision_html(run: RunDir, status_html: str) -> str:
    """The "What to ship" section; without a chosen config it says so and shows the run's status."""
    e = html.escape
    out = ["<section id='decision'>", "<h2>What to ship</h2>"]
    chosen_path = run.path / CHOSEN_CONFIG
    if not chosen_path.is_file():
        out += [f"<p>Nothing to ship yet: the choose notebook has not written {CHOSEN_CONFIG}.</p>", status_html,
                "</section>"]
        return "\n".join(out)

    def link(text: str, table: str) -> str:
        """`text` linking to the evidence table `table` when the run has it."""
        return f"<a href='#{table_anchor(table)}'>{text}</a>" if run.has_table(table) else text

    chosen_text = chosen_path.read_text(encoding="utf-8")
    chosen = parse_config(chosen_text)
    out.append(f"<p>Ship <a href='{CHOSEN_CONFIG}'>{CHOSEN_CONFIG}</a>: <code>resizer build --config "
               f"{CHOSEN_CONFIG} --bucket NAME</code> (the full file: <a href='#config'>below</a>).</p>")

    input_path = run.path / INPUT_CONFIG
    if input_path.is_file():
        changes = config_changes(input_path.read_text(encoding="utf-8"), chosen_text)
        if changes.empty:
            out.append(f"<p>No setting differs from the input config (<a href='{INPUT_CONFIG}'>{INPUT_CONFIG}</a>)."
                       "</p>")
        else:
            out.append(f"<table id='config-changes'><caption>Changed against the input config "
                       f"(<a href='{INPUT_CONFIG}'>{INPUT_CONFIG}</a>)</caption>"
                       "<tr><th>setting</th><th>input</th><th>chosen</th></tr>")
            for r in changes.itertuples():
                evidence = ("backend" if r.setting == "backend" else
                            "perimage" if r.setting.endswith((".per_image", ".search")) else
                            "encoder_choice" if r.setting.endswith(ENCODER_FIELDS) else "choose")
                out.append(f"<tr><td><code>{e(r.setting)}</code></td><td>{e(_setting(r.input))}</td>"
                           f"<td>{link(e(_setting(r.chosen)), evidence)}</td></tr>")
            out.append("</table>")

    out.append(_variants_html(run, chosen, link))
    out.append(pictures_links(run))
    out.append(contact_sheet_links(run))
    out.append(_encoders_html(run, link))
    out.append(_per_image_html(run, link))

    if run.has_table("backend"):
        note = run.read_table("backend").attrs.get("note", "")
        out.append(f"<p>Backend <b>{e(chosen.backend)}</b>: {link(e(note), 'backend')}.</p>")
    else:
        out.append(f"<p>Backend <b>{e(chosen.backend)}</b>.</p>")

    if run.has_table("cold_start"):
        cold = run.read_table("cold_start").set_index(["target", "phase"]).ms_median
        picks = [(label, cold[key]) for key, label in COLD_START_PICKS.items()
                 if key in cold and (not key[0].startswith("import ") or key[0] == f"import {chosen.backend}")]
        if picks:
            out.append("<p>Cold start (medians): " + ", ".join(
                f"{e(label)} {link(format_value(ms, 'ms'), 'cold_start')}" for label, ms in picks) + ".</p>")

    out.append(_delivery_html(run, link))

    if run.has_table("cost"):
        total = run.read_table("cost").set_index("config").total
        out.append("<p>Monthly cost for the traffic profile: original product "
                   f"{link(format_value(total['original product'], 'USD'), 'cost')}, chosen config "
                   f"{link(format_value(total['chosen config'], 'USD'), 'cost')}.</p>")
    else:
        out.append("<p>Monthly cost: not computed (no tuned variant, or the speed table lacks its cases; see the "
                   "choose notebook).</p>")
    out.append("</section>")
    return "\n".join(out)


def _variants_html(run: RunDir, chosen, link) -> str:
    """Per variant: what it ships, bytes against the original product, the saving and the quality reached."""
    e = html.escape
    savings = run.read_table("savings").set_index("variant") if run.has_table("savings") else pd.DataFrame()
    decisions = run.read_table("choose") if run.has_table("choose") else pd.DataFrame()
    figure = (f" (<a href='#{figure_anchor('savings')}'>figure</a>)"
              if (run.path / "figures" / "savings.png").is_file() else "")
    rows = ["<table id='per-variant'><caption>Per variant, against the original product (the original's format "
            f"at q80){figure}</caption><tr><th>variant</th><th>ships</th><th>bytes per image (mean): original "
            "product &rarr; chosen</th><th>saving per image: median [IQR]</th><th>quality p10 (SSIMULACRA2): "
            "original product &rarr; chosen</th><th>target reached</th></tr>"]
    for name, variant in chosen.variants.items():
        ladder = " > ".join(variant.formats)
        if name not in savings.index:
            kept = decisions[decisions.variant == name].note if len(decisions) else pd.Series(dtype=str)
            why = kept.iloc[0] if len(kept) else "not tuned"
            rows.append(f"<tr><td>{e(name)}</td><td>{e(ladder)}</td><td colspan='4'>{link(e(why), 'choose')}</td>"
                        "</tr>")
            continue
        s = savings.loc[name]
        shipped = decisions[(decisions.variant == name) & (decisions.format == variant.formats[0])]
        reached = ("yes" if shipped.reached.iloc[0] else "no") if len(shipped) else "-"
        rows.append(
            f"<tr><td>{e(name)}</td><td>{link(e(s.chosen), 'choose')} (ladder {e(ladder)})</td>"
            f"<td>{link(format_value(s.bytes_base, 'bytes'), 'savings')} &rarr; "
            f"{link(format_value(s.bytes_new, 'bytes'), 'savings')}</td>"
            f"<td>{link(format_value(s.saving_median, 'share'), 'savings')} "
            f"[{format_value(s.saving_q25, 'share')}, {format_value(s.saving_q75, 'share')}] (n={s.n})</td>"
            f"<td>{link(format_value(s.p10_base, 'SSIMULACRA2'), 'savings')} &rarr; "
            f"{link(format_value(s.p10_new, 'SSIMULACRA2'), 'savings')}</td>"
            f"<td>{link(reached, 'choose')}</td></tr>")
    rows.append("</table>")
    return "\n".join(rows)


def _encoders_html(run: RunDir, link) -> str:
    """Per variant x format with more than one encoder set swept: the set and quality it ships, what that saves at
    the target against the input's set, and the runner-up with the reason it lost."""
    if not run.has_table("encoder_choice"):
        return "<p>Encoder settings: one set per format swept in this run (the input's).</p>"
    e = html.escape
    table = run.read_table("encoder_choice")
    figure = (f" (<a href='#{figure_anchor('encoder_sets')}'>bytes against score per set</a>)"
              if (run.path / "figures" / "encoder_sets.png").is_file() else "")
    changed = table[table.chosen & ~table.current]
    out = [f"<table id='encoders'><caption>Encoder settings: {len(changed)} of "
           f"{len(table.groupby(['variant', 'format']))} variant &times; format pairs change their set{figure}"
           "</caption><tr><th>variant</th><th>format</th><th>ships</th><th>bytes at the target vs the input's set"
           "</th><th>p10 / worst</th><th>encode ms</th><th>miss vs today (p50)</th><th>net per month</th>"
           "<th>runner-up, and why not</th></tr>"]
    for (variant, fmt), part in table.groupby(["variant", "format"], sort=False):
        ship = part[part.chosen].iloc[0]
        current = part[part.current].iloc[0]
        others = part[~part.chosen].sort_values("bytes_at_target")
        runner = (f"{e(others.iloc[0].settings)} {quality_text(others.iloc[0].quality)}: {e(others.iloc[0].reason)}"
                  if len(others) else "-")
        saving = 1 - ship.bytes_at_target / current.bytes_at_target
        label = ("<b>changed</b>: " if not ship.current else "kept: ") + e(
            f"{ship.settings} {quality_text(ship.quality)}")
        out.append(f"<tr><td>{e(variant)}</td><td>{e(fmt)}</td><td>{link(label, 'encoder_choice')}</td>"
                   f"<td>{link(format_value(-saving, 'share'), 'encoder_choice')}</td>"
                   f"<td>{ship.p10:.1f} / {ship.worst:.1f}</td><td>{ship.encode_ms:.0f}</td>"
                   f"<td>{_ratio(ship.miss_ratio)}</td><td>{link(format_value(ship.net_usd, 'USD'), 'encoder_choice')}"
                   f"</td><td>{link(runner, 'encoder_choice')}</td></tr>")
    out.append("</table>")
    return "\n".join(out)


def _delivery_html(run: RunDir, link) -> str:
    """Whether to keep Origin Shield on and which variants to make on upload, with each choice's modelled first
    view (resizer_bench/delivery.py)."""
    if not run.has_table("delivery"):
        return "<p>Delivery (Origin Shield, eager variants): not modelled in this run (no speed table).</p>"
    e = html.escape
    table = run.read_table("delivery")
    distance, shield_usd = table.attrs.get("distance", ""), table.attrs.get("shield_usd", float("nan"))
    gains = table.lazy_ms - table.shield_ms
    if (gains > 0).all():
        span = (f"{gains.min():.0f} ms" if round(gains.min()) == round(gains.max()) else
                f"{gains.min():.0f}-{gains.max():.0f} ms")
        shield = (f"<b>keep Origin Shield on</b> (<code>resizer build</code>'s default): with the bucket "
                  f"{e(distance)} from the viewer's edge, a first view is {link(span, 'delivery')} shorter; its "
                  f"requests cost "
                  f"{link(format_value(shield_usd, 'USD'), 'delivery')} a month for the traffic profile")
    else:
        shield = (f"<b>Origin Shield off</b> (<code>--origin-shield off</code>): at {e(distance)} it shortens no "
                  f"first view and costs {format_value(shield_usd, 'USD')} a month")
    eager = table[table.eager]
    names = ", ".join(f"<code>{e(v)}</code>" for v in eager.variant) or "none"
    out = [f"<p>Delivery: {shield}. Make eagerly on upload (<code>eager = true</code>): {names}.</p>",
           "<table id='delivery'><caption>First view, modelled (ms)</caption><tr><th>variant</th><th>no shield</th>"
           "<th>shield</th><th>eager + shield</th><th>eager?</th></tr>"]
    for r in table.itertuples():
        out.append(f"<tr><td>{e(r.variant)}</td><td>{r.lazy_ms:.0f}</td><td>{r.shield_ms:.0f}</td>"
                   f"<td>{r.eager_ms:.0f}</td><td>{link(('yes: ' if r.eager else 'no: ') + e(r.why), 'delivery')}"
                   "</td></tr>")
    out.append("</table>")
    return "\n".join(out)


def _per_image_html(run: RunDir, link) -> str:
    """Per variant x format: whether the edge picks each image's quality, and why (or why not); then the
    report-only studies (format by image, bytes per variant) in a line each."""
    e = html.escape
    out = []
    figure = (f" (<a href='#{figure_anchor('perimage_chosen_vs_needed')}'>chosen vs needed quality</a>)"
              if (run.path / "figures" / "perimage_chosen_vs_needed.png").is_file() else "")
    if run.has_table("perimage"):
        table = run.read_table("perimage")
        shipped = int((table.decision != "fixed").sum())
        pairs = len(table.groupby(["variant", "format"]))
        out.append(f"<table id='per-image'><caption>Per-image quality: {shipped} of {pairs} variant &times; "
                   f"format pairs pick each image's quality (at the edge, or searched offline by "
                   f"<code>resizer warm</code>){figure}</caption><tr><th>variant</th><th>format</th><th>rule</th>"
                   "<th>decision</th><th>bytes vs best fixed quality at equal p10 (cross-validated)"
                   "</th><th>first viewer's wait vs today (p50)</th><th>net per month</th><th>why</th></tr>")
        for r in table.itertuples():
            saving = format_value(r.saving, "share") if getattr(r, "cv", "") == "yes" else "not cross-validated"
            out.append(f"<tr><td>{e(r.variant)}</td><td>{e(r.format)}</td><td>{e(RULE_NAMES.get(r.rule, r.rule))}</td>"
                       f"<td><b>{e(r.decision)}</b></td>"
                       f"<td>{link(e(saving), 'perimage')}</td><td>{link(_ratio(r.wait_ratio), 'perimage')}</td>"
                       f"<td>{link(format_value(r.net_usd, 'USD'), 'perimage')}</td>"
                       f"<td>{link(e(r.reason), 'perimage')}</td></tr>")
        out.append("</table>")
    else:
        out.append("<p>Per-image quality: not studied in this run (no per-image ladder).</p>")
    if run.has_table("format_by_image"):
        rows = run.read_table("format_by_image")
        out.append("<p>Format by image (report only): serving each image the smaller format would save "
                   + "; ".join(f"{e(r.variant)} {link(format_value(r.saving, 'share'), 'format_by_image')} "
                               f"({e(r.basis)})" for r in rows.itertuples()) + ".</p>")
    if run.has_table("variant_bytes"):
        sizes = run.read_table("variant_bytes").dropna(subset=["byte_step"])
        fig = (f" (<a href='#{figure_anchor('variant_bytes')}'>figure</a>)"
               if (run.path / "figures" / "variant_bytes.png").is_file() else "")
        if len(sizes):
            out.append("<p>Byte step between variants (report only; median bytes ratio, box ratio): "
                       + ", ".join(f"{e(r.variant)} {link(f'{r.byte_step:.1f}x', 'variant_bytes')} "
                                   f"({r.box_step:.1f}x)" for r in sizes.itertuples()) + f"{fig}.</p>")
    return "\n".join(out)


def _setting(value) -> str:
    if value is None:
        return "(not set)"
    if isinstance(value, list):
        return " > ".join(map(str, value))
    return str(value)


def evidence_html(run: RunDir) -> str:
    """The tables the decision links to, each under its anchor, with links to its files."""
    present = [name for name in EVIDENCE_TABLES if run.has_table(name)]
    if not present:
        return ""
    out = ["<h2>Evidence behind the decision</h2>"]
    for name in present:
        frame = run.read_table(name)
        out.append(f"<section id='{table_anchor(name)}'><h3>{html.escape(name)} "
                   f"<small>(<a href='data/{name}.csv'>csv</a> · <a href='data/{name}.parquet'>parquet</a>)</small>"
                   f"</h3>{frame.to_html(index=False, border=0, na_rep='', float_format=_float)}</section>")
    return "\n".join(out)


def _float(x: float) -> str:
    return f"{x:.4g}"


def _ratio(value: float) -> str:
    return "-" if pd.isna(value) else f"{value:.2f}x"
