"""The headline numbers of one run, read back from the tables its notebooks wrote: one row per number, naming the
table it comes from (the report links to it) and which direction is better (so a comparison with an earlier run
can say whether a change helped). summary.md's key numbers and `resizer bench --compare` both read them here.
"""

import json
from pathlib import Path

import pandas as pd

from .coldstart import MB
from .paths import RunDir

COLUMNS = ["measure", "subject", "value", "unit", "better", "table"]
COMPARE_COLUMNS = ["measure", "subject", "unit", "better", "earlier", "this", "delta", "change", "verdict"]
# (target, phase) of the cold-start table -> how the headline names it
COLD_START_PICKS = {("import vips", "import"): "import vips", ("import pillow", "import"): "import pillow",
                    ("artifact origin-response", "import"): "origin-response zip: handler import",
                    ("artifact origin-response", "first request"): "origin-response zip: first request"}


def headline_numbers(run: RunDir) -> pd.DataFrame:
    """Savings and quality per tuned variant, monthly cost, transform latency, throughput, peak memory, cold start
    and zip sizes: whichever of their tables the run has (a partial run has fewer)."""
    rows = []

    def add(measure: str, subject: str, value, unit: str, better: str, table: str) -> None:
        rows.append(dict(measure=measure, subject=subject, value=float(value), unit=unit, better=better,
                         table=table))

    if run.has_table("savings"):
        for r in run.read_table("savings").itertuples():
            add("bytes per image, original product", r.variant, r.bytes_base, "bytes", "lower", "savings")
            add("bytes per image, chosen config", r.variant, r.bytes_new, "bytes", "lower", "savings")
            add("saving per image, median", r.variant, r.saving_median, "share", "higher", "savings")
            add("quality p10, chosen config", r.variant, r.p10_new, "SSIMULACRA2", "higher", "savings")
    if run.has_table("cost"):
        for r in run.read_table("cost").itertuples():
            add("monthly cost", r.config, r.total, "USD", "lower", "cost")
    if run.has_table("speed"):
        speed = run.read_table("speed")
        for (backend, threads), group in speed.groupby(["backend", "threads"], sort=False):
            subject = f"{backend} at {threads} thread(s)"
            add("transform latency, median over cases", subject, group.latency_ms_median.median(), "ms", "lower",
                "speed")
            add("transform latency, cases", subject, len(group), "cases", "", "speed")
    if run.has_table("throughput"):
        for r in run.read_table("throughput").query("format == 'all'").itertuples():
            add("throughput, all formats", f"{r.backend} with {r.workers} processes", r.images_per_s, "transforms/s",
                "higher", "throughput")
    if run.has_table("rss"):
        for backend, mb in run.read_table("rss").groupby("backend", sort=False).rss_peak_mb.max().items():
            add("peak RSS of one transform", backend, mb, "MB", "lower", "rss")
    if run.has_table("cold_start"):
        cold = run.read_table("cold_start").set_index(["target", "phase"]).ms_median
        for key, label in COLD_START_PICKS.items():
            if key in cold:
                add("cold start, median", label, cold[key], "ms", "lower", "cold_start")
    if run.has_table("artifacts"):
        for r in run.read_table("artifacts").itertuples():
            add("zip size", r.artifact, r.bytes / MB, "MB", "lower", "artifacts")
    return pd.DataFrame(rows, columns=COLUMNS).astype({"value": float})


# unit -> how one number of it is printed (others: the number and the unit, 1 decimal under 10)
UNIT_FORMATS = {
    "bytes": lambda v: f"{v / 1024:.1f} KiB", "share": lambda v: f"{100 * v:.0f}%", "USD": lambda v: f"${v:,.2f}",
    "MB": lambda v: f"{v:.2f} MB", "cases": lambda v: f"{v:.0f} cases", "SSIMULACRA2": lambda v: f"{v:.1f}",
    "transforms/s": lambda v: f"{v:.1f}/s",
}


def format_value(value: float, unit: str) -> str:
    """One number as the report prints it."""
    if pd.isna(value):
        return "-"
    if unit in UNIT_FORMATS:
        return UNIT_FORMATS[unit](value)
    return f"{value:.0f} {unit}" if abs(value) >= 10 else f"{value:.1f} {unit}"


def format_delta(delta: float, unit: str) -> str:
    """A difference as the report prints it (percentage points for shares)."""
    if pd.isna(delta):
        return "-"
    if unit == "share":
        return f"{100 * delta:+.0f} pp"
    text = format_value(abs(delta), unit)
    return ("-" if delta < 0 else "+") + text


def open_earlier_run(path: str | Path) -> dict:
    """{"path", "run_id"} of the run folder `--compare` names, checked before anything runs: a folder with a
    readable run.json and at least one table the comparison reads."""
    folder = Path(path).expanduser().resolve()
    if not folder.is_dir():
        raise FileNotFoundError(f"--compare {path}: no such run folder")
    info = folder / "run.json"
    if not info.is_file():
        raise ValueError(f"--compare {path}: not a resizer bench run folder (no run.json)")
    try:
        run_id = str(json.loads(info.read_text(encoding="utf-8"))["run_id"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"--compare {path}: run.json is not a resizer bench run record ({exc})") from None
    if headline_numbers(RunDir(folder)).empty:
        raise ValueError(f"--compare {path}: the run has none of the tables compared (savings, cost, speed, "
                         "throughput, rss, cold_start, artifacts)")
    return {"path": str(folder), "run_id": run_id}


def compare_runs(this: RunDir, earlier: RunDir) -> pd.DataFrame:
    """This run's headline numbers beside the earlier run's: delta = this - earlier, change = delta / earlier,
    verdict = better / worse / same by the number's direction (blank when it has none or a run lacks it)."""
    ours, theirs = headline_numbers(this), headline_numbers(earlier)
    ours["order"] = range(len(ours))
    theirs["order"] = range(len(ours), len(ours) + len(theirs))  # numbers only the earlier run has come last
    merged = ours.merge(theirs, on=["measure", "subject"], how="outer", suffixes=("", "_earlier"))
    merged = merged.assign(order=merged.order.fillna(merged.order_earlier)).sort_values("order")
    merged["unit"] = merged.unit.fillna(merged.unit_earlier)
    merged["better"] = merged.better.fillna(merged.better_earlier)
    table = merged.rename(columns={"value": "this", "value_earlier": "earlier"})
    table["delta"] = table["this"] - table["earlier"]
    table["change"] = table.delta / table.earlier.where(table.earlier != 0)
    sign = {"higher": 1, "lower": -1}
    table["verdict"] = [
        "" if b not in sign or pd.isna(d) else "same" if d == 0 else "better" if d * sign[b] > 0 else "worse"
        for d, b in zip(table.delta, table.better, strict=True)]
    return table[COMPARE_COLUMNS].reset_index(drop=True)
