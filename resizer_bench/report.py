"""The report of one `resizer bench` run: HTML exports of the executed notebooks, summary.md, run.json and an
index.html that opens with what to ship (decision.py), then the comparison with an earlier run when asked for,
and the evidence: tables, figures, notebooks, data and environment.

Written after every notebook, so a run that stops half-way still leaves a readable partial report.
"""

import html
import json
import logging
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from .executor import cpu_count
from .paths import RunDir

# The packages whose versions decide the numbers (distribution name -> label in run.json).
PACKAGES = {"pillow": "pillow", "pyvips": "pyvips", "pyvips-binary": "pyvips-binary", "numpy": "numpy",
            "scikit-image": "skimage", "pandas": "pandas", "papermill": "papermill", "nbconvert": "nbconvert",
            "dask": "dask"}
SUMMARY_TITLE = "# Benchmark summary"  # index.html shows summary.md under its own heading
COMPARE_TABLE = "compare"  # data/compare.parquet + .csv: the deltas against an earlier run (--compare)
# index.html marks every <img> (decoded?) and every in-page link (does its target exist?) once the page has
# loaded, so a headless browser's DOM dump tells which images loaded and which links resolve.
PAGE_CHECK = """<script>
window.addEventListener("load", () => {
  for (const img of document.images) img.dataset.loaded = String(img.complete && img.naturalWidth > 0);
  for (const a of document.querySelectorAll("a[href^='#']")) {
    a.dataset.resolves = String(document.getElementById(decodeURIComponent(a.hash.slice(1))) !== null);
  }
  document.body.dataset.pageChecked = "true";
});
</script>"""
STYLE = """<style>
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; margin: .5rem 0 1rem; } td, th { border: 1px solid #ccc; padding: .2rem .5rem; }
th { background: #f4f4f4; text-align: left; } .failed { color: #b00; font-weight: bold; } .ok { color: #070; }
figure { margin: 1rem 0; } figure img { max-width: 100%; border: 1px solid #ddd; } pre { background: #f6f6f6;
padding: .6rem; overflow-x: auto; } .summary { border-left: 4px solid #ddd; padding-left: 1rem; }
#decision { border: 2px solid #070; padding: 0 1rem .5rem; } caption { text-align: left; font-weight: bold; }
.better { color: #070; } .worse { color: #b00; } tr.changed td { font-weight: bold; }
.tiles { display: flex; flex-wrap: wrap; gap: .5rem; align-items: flex-start; } .tiles figure { margin: .2rem 0;
max-width: 20rem; } .tiles figcaption { font-size: .75rem; } img.pixelated { image-rendering: pixelated;
max-width: none; } figure.example { border-top: 1px solid #ddd; padding-top: .5rem; }
</style>"""


def export_html(notebook: Path, target: Path) -> Path:
    """The executed notebook as HTML with code inputs hidden: markdown, results and figures stay; stderr
    (progress bars, warnings) is left out of the HTML and kept in the executed .ipynb."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if not (o.output_type == "stream" and o.name == "stderr")]
    quiet = logging.getLogger(f"{__name__}.html")  # not "Alternative text is missing" for every matplotlib figure
    quiet.setLevel(logging.ERROR)
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True, log=quiet)
    body, _ = exporter.from_notebook_node(nb)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(body, encoding="utf-8")
    return target


def environment() -> dict:
    """Library versions, CPU and threading of this interpreter (the kernels run the same one)."""
    versions = {"python": platform.python_version()}
    for dist, label in PACKAGES.items():
        try:
            versions[label] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[label] = None
    threads = {"VIPS_CONCURRENCY": os.environ.get("VIPS_CONCURRENCY")}
    try:
        import pyvips

        versions["libvips"] = ".".join(str(pyvips.version(i)) for i in range(3))
        threads["vips_concurrency"] = pyvips.concurrency_get()
    except (ImportError, OSError) as exc:
        versions["libvips"] = f"unavailable: {exc}"
    return {
        "versions": versions,
        "machine": {"cpu_model": cpu_model(), "cores": os.cpu_count(), "cores_available": cpu_count(),
                    "platform": platform.platform(), "executable": sys.executable},
        "threads": threads,
        "git": git_state(),
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_state(root: Path | None = None) -> dict | None:
    """Commit and dirtiness of the checkout (read-only git calls), or None outside a git repository."""
    root = root or Path(__file__).resolve().parents[1]

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return None
    return {"commit": commit, "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def key_numbers(run: RunDir) -> list[str]:
    """The run's headline numbers (headline.py), one line per measure; the details are in each notebook's own
    section."""
    from .headline import format_value, headline_numbers

    numbers = headline_numbers(run)
    lines = [f"{measure}: " + ", ".join(f"{r.subject} {format_value(r.value, r.unit)}" for r in group.itertuples())
             for measure, group in numbers.groupby("measure", sort=False)]
    config = run.path / "variants.toml"
    if config.is_file():
        import tomllib

        chosen = tomllib.loads(config.read_text(encoding="utf-8"))
        lines.append(f"chosen config: backend {chosen.get('backend')!r}, variants "
                     f"{', '.join(chosen.get('variants', {}))} (variants.toml)")
    return lines


def write_summary(run: RunDir, notebooks: list[str]) -> Path:
    """summary.md: key numbers, then each notebook's fragment (summary/<notebook>.md) in run order."""
    parts = [SUMMARY_TITLE, ""]
    numbers = key_numbers(run)
    if numbers:
        parts += ["## Key numbers", "", *(f"- {line}" for line in numbers), ""]
    for name in notebooks:
        fragment = run.path / "summary" / f"{name}.md"
        if fragment.is_file():
            parts += [fragment.read_text(encoding="utf-8").strip(), ""]
    path = run.path / "summary.md"
    path.write_text("\n".join(parts).rstrip() + "\n", encoding="utf-8")
    return path


def write_run_json(run: RunDir, info: dict) -> Path:
    path = run.path / "run.json"
    path.write_text(json.dumps(info, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def write_comparison(run: RunDir, earlier: RunDir) -> Path:
    """data/compare.parquet + .csv: this run's headline numbers beside the earlier run's (headline.compare_runs)."""
    from .headline import compare_runs

    return run.write_table(compare_runs(run, earlier), COMPARE_TABLE)


def write_index(run: RunDir, info: dict) -> Path:
    """index.html: what to ship first, then the comparison with an earlier run, the run's status and notebooks,
    the summary, the evidence behind the decision, every figure inline, data, config and environment."""
    from .contact_sheet import contact_sheet_html
    from .decision import decision_html, evidence_html, figure_anchor
    from .pictures import pictures_html

    root = run.path
    e = html.escape
    out = ["<!doctype html>", "<html lang='en'><head><meta charset='utf-8'>",
           f"<title>resizer bench {e(info['run_id'])}</title>", STYLE, PAGE_CHECK, "</head><body>",
           f"<h1>resizer bench <code>{e(info['run_id'])}</code></h1>"]
    status = _status_html(info)
    out.append(decision_html(run, status))
    out.append(pictures_html(run))
    out.append(contact_sheet_html(run))
    if info.get("compared_with") and run.has_table(COMPARE_TABLE):
        out.append(_comparison_html(run, info["compared_with"]))

    out.append(f"<h2>Run</h2>{status}")
    out.append("<table><tr><th>notebook</th><th>status</th><th>wall s</th><th>files</th></tr>")
    for nb in info["notebooks"]:
        links = " · ".join(f"<a href='{e(nb[k])}'>{k}</a>" for k in ("html", "notebook") if nb.get(k))
        seconds = f"{nb['seconds']:.1f}" if nb.get("seconds") is not None else ""
        out.append(f"<tr><td>{e(nb['name'])}</td><td class='{e(nb['status'])}'>{e(nb['status'])}</td>"
                   f"<td>{seconds}</td><td>{links}</td></tr>")
    out.append("</table>")

    summary = root / "summary.md"
    if summary.is_file():
        text = summary.read_text(encoding="utf-8").removeprefix(SUMMARY_TITLE + "\n")
        out.append(f"<h2>Summary</h2><div class='summary'>{_markdown(text)}</div>")

    out.append(evidence_html(run))

    figures = _files(root, "figures", ".png")
    if figures:
        out.append("<h2>Figures</h2>")
        for fig in figures:
            stem = Path(fig).stem
            out.append(f"<figure id='{e(figure_anchor(stem))}'><img src='{e(fig)}' alt='{e(stem)}'>"
                       f"<figcaption>{e(stem)}</figcaption></figure>")

    tables = _files(root, "data", ".parquet")
    if tables:
        out.append("<h2>Data</h2><table><tr><th>table</th><th>files</th></tr>")
        for table in tables:
            csv = Path(table).with_suffix(".csv").as_posix()
            csv_link = f" · <a href='{e(csv)}'>csv</a>" if (root / csv).is_file() else ""
            out.append(f"<tr><td>{e(Path(table).stem)}</td><td><a href='{e(table)}'>parquet</a>{csv_link}</td></tr>")
        out.append("</table>")

    config = root / "variants.toml"
    if config.is_file():
        out.append("<h2 id='config'>Chosen config</h2><p><a href='variants.toml'>variants.toml</a> "
                   "(build with <code>resizer build --config variants.toml</code>)</p>"
                   f"<pre>{e(config.read_text(encoding='utf-8'))}</pre>")
    out.append("<h2>Parameters and environment</h2><p><a href='run.json'>run.json</a>: versions, CPU, parameters, "
               f"timings.</p><pre>{e(json.dumps(info.get('parameters', {}), indent=1))}</pre>"
               f"<pre>{e(json.dumps(info.get('versions', {}), indent=1))}</pre>")
    out.append("</body></html>")
    path = root / "index.html"
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


def _status_html(info: dict) -> str:
    e = html.escape
    status = info["status"]
    if status == "ok":
        return f"<p class='ok'>Completed in {info['wall_seconds']:.0f} s.</p>"
    if status == "running":
        return f"<p>Running for {info['wall_seconds']:.0f} s so far; reload to follow.</p>"
    failed = info.get("failed_notebook")
    where = f" in notebook <a href='{e(_html_of(failed))}'>{e(failed)}</a>" if failed else ""
    return f"<p class='failed'>Run {e(status)}{where}: {e(info.get('error') or '')}</p>"


def _comparison_html(run: RunDir, earlier: dict) -> str:
    """The compare table: this run's headline numbers beside the earlier run's, the better/worse verdict
    coloured."""
    import pandas as pd

    from .headline import format_delta, format_value

    e = html.escape
    table = run.read_table(COMPARE_TABLE)
    counts = table.verdict.value_counts()
    index = Path(os.path.relpath(Path(earlier["path"]) / "index.html", run.path)).as_posix()
    out = [f"<section id='compare'><h2>Against run <a href='{e(index)}'><code>{e(earlier['run_id'])}</code></a></h2>",
           f"<p>{counts.get('better', 0)} numbers better, {counts.get('worse', 0)} worse, {counts.get('same', 0)} "
           f"the same (<a href='data/{COMPARE_TABLE}.csv'>csv</a>). Speed and cold-start numbers are medians of "
           "few runs on a shared machine: small differences are noise.</p>",
           "<table><tr><th>measure</th><th>subject</th><th>earlier</th><th>this run</th><th>delta</th>"
           "<th>change</th><th>verdict</th></tr>"]
    for r in table.itertuples():
        change = "" if pd.isna(r.change) else f"{100 * r.change:+.0f}%"
        out.append(f"<tr><td>{e(r.measure)}</td><td>{e(r.subject)}</td><td>{format_value(r.earlier, r.unit)}</td>"
                   f"<td>{format_value(r.this, r.unit)}</td><td>{format_delta(r.delta, r.unit)}</td>"
                   f"<td>{change}</td><td class='{e(r.verdict)}'>{e(r.verdict)}</td></tr>")
    out.append("</table>")
    out.append(_encoders_compared_html(run, Path(earlier["path"])))
    out.append("</section>")
    return "\n".join(out)


def _encoders_compared_html(run: RunDir, earlier: Path) -> str:
    """Both runs' chosen encoder set and quality per variant x format (changed rows first)."""
    from .decision import CHOSEN_CONFIG, encoders_compared
    from .pictures import compare_html

    mine, theirs = run.path / CHOSEN_CONFIG, earlier / CHOSEN_CONFIG
    if not (mine.is_file() and theirs.is_file()):
        return "<p>Encoder settings: not compared (a run has no chosen config).</p>"
    e = html.escape
    both = encoders_compared(theirs.read_text(encoding="utf-8"), mine.read_text(encoding="utf-8"))
    both = both.sort_values("changed", ascending=False, kind="stable")
    out = [f"<table id='compare-encoders'><caption>Encoder settings shipped: {int(both.changed.sum())} of "
           f"{len(both)} variant &times; format pairs differ</caption><tr><th>variant</th><th>format</th>"
           "<th>earlier run</th><th>this run</th></tr>"]
    for r in both.itertuples():
        tag = " class='changed'" if r.changed else ""
        out.append(f"<tr{tag}><td>{e(r.variant)}</td><td>{e(r.format)}</td><td>{e(r.earlier)}</td>"
                   f"<td>{e(r.this)}</td></tr>")
    out.append("</table>")
    out.append(compare_html(run, earlier, both[both.changed]))
    return "\n".join(out)


def _html_of(notebook: str) -> str:
    return f"html/{notebook}.html"


def _files(root: Path, folder: str, suffix: str) -> list[str]:
    """Relative paths of the files in root/folder, in creation order (= notebook order)."""
    paths = sorted((root / folder).glob(f"*{suffix}"), key=lambda p: (p.stat().st_mtime_ns, p.name))
    return [p.relative_to(root).as_posix() for p in paths]


def _markdown(text: str) -> str:
    import mistune

    return mistune.create_markdown(plugins=["table"])(text)
