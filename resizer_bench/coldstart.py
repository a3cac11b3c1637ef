"""Cold start, measured in fresh processes: interpreter start, importing the pipeline and each backend, and each
built Lambda@Edge artifact (unzip, import of the handler, first and second request), plus `-X importtime`'s top
offenders and the zip sizes against Lambda@Edge's limits.

Runs of different targets are interleaved (run 1 of every target, then run 2, ...) so that a burst of load on the
machine spreads over all targets instead of skewing one.
"""

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from .paths import resolve

CHILD = Path(__file__).with_name("coldstart_child.py")
# target -> (backend, statement); "import <backend>" is what a handler pays before its first transform.
IMPORTS = {
    "import pipeline": ("", "import resizer.image.pipeline"),
    "import vips": ("vips", "import resizer.image.pipeline, resizer.image.backends.vips"),
    "import pillow": ("pillow", "import resizer.image.pipeline, resizer.image.backends.pillow"),
}
TIMED_IMPORT = ("import json, time; t = time.perf_counter(); {statement}; "
                "print('RESULT ' + json.dumps({{'import': (time.perf_counter() - t) * 1000}}))")
MB = 2**20  # Lambda's "MB" in its package limits
BENCH_BUCKET = "resizer-bench-local"  # baked into locally built zips; the timed requests never reach S3


@dataclass(frozen=True)
class Artifacts:
    """Built zips and their build.json; `runnable` is False when they target another Python than this one."""

    folder: Path
    build: dict
    runnable: bool
    note: str = ""

    def zips(self) -> dict[str, Path]:
        return {name: self.folder / a["file"] for name, a in self.build["artifacts"].items()}


def child(argv: list[str], *, timeout: float = 120) -> tuple[float, dict]:
    """Run a fresh interpreter; (wall ms, the phases it printed on its `RESULT {json}` line)."""
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    wall = (time.perf_counter() - start) * 1000
    result = [line for line in done.stdout.splitlines() if line.startswith("RESULT")]
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])}... exited {done.returncode}:\n{done.stderr[-2000:]}")
    return wall, json.loads(result[-1].removeprefix("RESULT ")) if result else {}


def measure_imports(n: int, *, progress: bool = True):
    """Raw samples (target, backend, phase, run, ms): interpreter start (plain and -I -S) and each IMPORTS
    target; "process" is the child's whole wall time, "import" the import alone as timed inside it."""
    py = sys.executable
    targets = {"interpreter": ("", [py, "-c", "pass"]), "interpreter -I -S": ("", [py, "-I", "-S", "-c", "pass"])}
    targets |= {t: (b, [py, "-c", TIMED_IMPORT.format(statement=s)]) for t, (b, s) in IMPORTS.items()}
    rows = []
    with tqdm(total=n * len(targets), desc="imports", unit="process", disable=not progress) as bar:
        for run in range(n):
            for target, (backend, argv) in targets.items():
                wall, phases = child(argv)
                for phase, ms in {"process": wall, **phases}.items():
                    rows.append({"target": target, "backend": backend, "phase": phase, "run": run, "ms": ms})
                bar.update()
    return pd.DataFrame(rows)


def source_digest(python_version: str, config: str | None = None) -> str:
    """What a build depends on: the resizer package's files, the config and the target Python."""
    import resizer

    package = Path(resizer.__file__).parent
    h = hashlib.sha256(python_version.encode())
    for path in sorted(p for p in package.rglob("*") if p.suffix in (".py", ".toml") and p.is_file()):
        h.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    if config:
        h.update(Path(config).read_bytes())
    return h.hexdigest()[:16]


def find_artifacts(artifacts_dir: str = "", *, config: str | None = None) -> Artifacts | None:
    """The zips to measure: `artifacts_dir` (a `resizer build` output) when given, else a build for this
    interpreter (cached under the build cache, keyed by the sources). None when there is nothing to measure,
    with the reason printed."""
    here = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if artifacts_dir:
        folder = Path(artifacts_dir)
        build = json.loads((folder / "build.json").read_text(encoding="utf-8"))
        if build["python"] != here:
            return Artifacts(folder, build, False, f"built for python{build['python']}; this interpreter is "
                             f"{here}, so only the sizes are reported (rebuild with --python {here} to time them)")
        return Artifacts(folder, build, True)
    try:
        from resizer.build import build as build_zips
        from resizer.build import cache_dir
    except ImportError as exc:
        print(f"cold start: no artifacts measured (resizer.build unavailable: {exc})")
        return None
    folder = cache_dir() / "bench-artifacts" / source_digest(here, config)
    if not (folder / "build.json").is_file():
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=folder.parent))
        try:
            build_zips(config, BENCH_BUCKET, here, tmp)
        except Exception as exc:  # noqa: BLE001 - no network for the first download, a broken lock, ...
            shutil.rmtree(tmp, ignore_errors=True)
            print(f"cold start: no artifacts measured (resizer build --python {here} failed: {exc})")
            return None
        for stale in folder.parent.iterdir():  # finished builds of older sources: 30 MB each, never used again
            if not stale.name.startswith("."):
                shutil.rmtree(stale, ignore_errors=True)
        try:
            tmp.rename(folder)
        except OSError:  # a concurrent run finished the same build first: use that one
            shutil.rmtree(tmp, ignore_errors=True)
    build = json.loads((folder / "build.json").read_text(encoding="utf-8"))
    return Artifacts(folder, build, True, f"built for this interpreter (python{here}) into {folder}")


def measure_artifacts(artifacts: Artifacts, image: str | Path, n: int, *, variant: str, fmt: str,
                      unzip_runs: int = 1, top: int = 12, progress: bool = True):
    """(raw samples, import-time offenders) per artifact.

    Samples: "unzip" (extraction into a fresh folder, `unzip_runs` times), then n fresh `python -I -S` processes
    on the extracted folder: "import" (the entry module: Lambda's init phase, warm-up included), "first request",
    "second request" and "process" (wall time of the whole child)."""
    rows, offenders = [], []
    backend = artifacts.build.get("backend", "")
    zips = artifacts.zips()
    with tempfile.TemporaryDirectory(prefix="coldstart-") as tmp, \
            tqdm(total=len(zips) * (n + unzip_runs), desc="artifacts", unit="run", disable=not progress) as bar:
        for function, path in zips.items():
            target = f"artifact {function}"
            fn_backend = backend if function == "origin-response" else ""
            for run in range(unzip_runs):
                folder = Path(tmp, f"{function}-{run}")
                start = time.perf_counter()
                with zipfile.ZipFile(path) as zf:
                    zf.extractall(folder)
                rows.append({"target": target, "backend": fn_backend, "phase": "unzip", "run": run,
                             "ms": (time.perf_counter() - start) * 1000})
                bar.update()
            argv = [sys.executable, "-I", "-S", str(CHILD), str(folder), function, str(image), variant, fmt]
            for run in range(n):
                wall, phases = child(argv)
                for phase, ms in {**phases, "process": wall}.items():
                    rows.append({"target": target, "backend": fn_backend, "phase": phase, "run": run, "ms": ms})
                bar.update()
            code = f"import sys; sys.path.insert(0, {str(folder)!r}); import {function.replace('-', '_')}"
            offenders.append(_offenders(target, [sys.executable, "-I", "-S", "-X", "importtime", "-c", code], top))
    return pd.DataFrame(rows), pd.concat(offenders, ignore_index=True)


@dataclass
class ArtifactReport:
    samples: pd.DataFrame
    offenders: pd.DataFrame
    sizes: pd.DataFrame | None
    notes: list[str]


def artifact_report(artifacts_dir: str, image: str | Path, n: int, *, variant: str, fmt: str, unzip_runs: int = 1,
                    config: str | None = None, progress: bool = True) -> ArtifactReport:
    """Everything the notebook shows about the zips: timings when they run here, sizes whenever they exist."""
    artifacts = find_artifacts(str(resolve(artifacts_dir)) if artifacts_dir else "", config=config)
    if artifacts is None:
        return ArtifactReport(pd.DataFrame(), pd.DataFrame(), None, ["no artifacts measured (see the output above)"])
    sizes = artifact_sizes(artifacts)
    if not artifacts.runnable:
        return ArtifactReport(pd.DataFrame(), pd.DataFrame(), sizes, [artifacts.note])
    samples, offenders = measure_artifacts(artifacts, image, n, variant=variant, fmt=fmt, unzip_runs=unzip_runs,
                                           progress=progress)
    return ArtifactReport(samples, offenders, sizes, [artifacts.note])


def summarize(samples):
    """Per target x phase: n, median, p90 and IQR of the milliseconds."""
    grouped = samples.groupby(["target", "backend", "phase"], sort=False)["ms"]
    table = grouped.agg(n="size", ms_median="median", ms_p90=lambda s: s.quantile(0.9),
                        ms_p25=lambda s: s.quantile(0.25), ms_p75=lambda s: s.quantile(0.75),
                        ms_min="min").reset_index()
    table["ms_iqr"] = table["ms_p75"] - table["ms_p25"]
    return table


def parse_importtime(stderr: str):
    """`-X importtime` lines -> rows of (module, self_ms, cumulative_ms, depth)."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|", 2)
        rows.append({"module": name.strip(), "depth": (len(name) - len(name.lstrip()) - 1) // 2,
                     "self_ms": int(self_us) / 1000, "cumulative_ms": int(cumulative_us) / 1000})
    return rows


def import_offenders(top: int = 12):
    """The `top` modules by own import time for each IMPORTS target (one `-X importtime` run each)."""
    return pd.concat([_offenders(t, [sys.executable, "-X", "importtime", "-c", s], top)
                      for t, (_, s) in IMPORTS.items()], ignore_index=True)


def _offenders(target: str, argv: list[str], top: int):
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{target}: -X importtime run exited {done.returncode}:\n{done.stderr[-2000:]}")
    modules = pd.DataFrame(parse_importtime(done.stderr))
    total = modules.loc[modules["depth"] == 0, "cumulative_ms"].sum()
    best = modules.nlargest(top, "self_ms")
    return best.assign(target=target, rank=range(1, len(best) + 1), total_ms=total)[
        ["target", "rank", "module", "self_ms", "cumulative_ms", "depth", "total_ms"]]


def artifact_sizes(artifacts: Artifacts):
    """Zip sizes against Lambda@Edge's package limits (viewer 1 MB, origin 50 MB), from build.json."""
    rows = [{"artifact": name, "python": artifacts.build["python"], "backend": artifacts.build.get("backend", ""),
             "bytes": a["bytes"], "limit_bytes": a["limit"], "unpacked_bytes": a.get("unpacked_bytes"),
             "files": a.get("files"), "fraction_of_limit": a["bytes"] / a["limit"], "fits": a["bytes"] <= a["limit"]}
            for name, a in artifacts.build["artifacts"].items()]
    return pd.DataFrame(rows)


def pick_image(dataset) -> Path:
    """The dataset image nearest the median pixel count: a typical original for the timed requests."""
    images = dataset.images.assign(pixels=dataset.images["width"] * dataset.images["height"])
    median = images["pixels"].median()
    row = images.iloc[(images["pixels"] - median).abs().argsort().iloc[0]]
    return dataset.path(row["file"])


def plot(table, sizes=None):
    """Median ms (p90 whiskers) per target and phase; zip sizes as a share of their limit when given."""
    import matplotlib.pyplot as plt

    labels = [f"{t} · {p}" for t, p in zip(table["target"], table["phase"], strict=True)]
    panels = 2 if sizes is not None and not sizes.empty else 1
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels + 2, 0.32 * len(table) + 1.5), squeeze=False,
                             gridspec_kw={"width_ratios": [3, 1][:panels]})
    ax = axes[0][0]
    upper = (table["ms_p90"] - table["ms_median"]).clip(lower=0)
    ax.barh(labels, table["ms_median"], xerr=[[0] * len(table), upper],
            color=["#4c72b0" if p == "process" else "#dd8452" for p in table["phase"]])
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("ms (median, whisker to p90; log scale)")
    ax.set_title("Cold start in fresh processes")
    if panels == 2:
        right = axes[0][1]
        right.bar(sizes["artifact"], 100 * sizes["fraction_of_limit"], color="#55a868")
        for i, row in enumerate(sizes.itertuples()):
            right.annotate(f"{row.bytes / MB:.2f} MB\nof {row.limit_bytes / MB:.0f} MB",
                           (i, 100 * row.fraction_of_limit), ha="center", va="bottom", fontsize=8)
        right.set_ylim(0, 110)
        right.set_ylabel("% of Lambda@Edge's zip limit")
        right.set_title("Package size")
    fig.tight_layout()
    return fig


def summary_markdown(table, sizes=None, notes: tuple[str, ...] = ()) -> str:
    """The cold_start notebook's fragment of summary.md."""
    lines = ["## Cold start", "", "| target | phase | n | median ms | p90 ms |", "|---|---|---|---|---|"]
    for row in table.itertuples():
        lines.append(f"| {row.target} | {row.phase} | {row.n} | {row.ms_median:.0f} | {row.ms_p90:.0f} |")
    if sizes is not None and not sizes.empty:
        lines += ["", "| artifact | zip MB | limit MB | fits |", "|---|---|---|---|"]
        for row in sizes.itertuples():
            lines.append(f"| {row.artifact} | {row.bytes / MB:.2f} | {row.limit_bytes / MB:.0f} | "
                         f"{'yes' if row.fits else '**no**'} |")
    lines += ["", *(f"Note: {note}" for note in notes if note)]
    return "\n".join(lines).rstrip()
