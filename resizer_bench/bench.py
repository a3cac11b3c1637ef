"""`resizer bench`: run the workbench notebooks in order with papermill and write reports/<run-id>/.

    notebooks/<name>.ipynb   executed notebooks          html/<name>.html   the same, code hidden
    data/<table>.parquet+csv figures/<name>.png          summary/<name>.md  fragments -> summary.md
    variants.toml            the chosen config           run.json, index.html (opens with what to ship)
    data/compare.*           with --compare RUN_DIR: the headline numbers beside an earlier run's

A failing notebook stops the run; the partial report stays and names the failed notebook.
Importing this module is cheap (standard library only), so `resizer` can register the command without loading
the workbench; the rest is imported when the command runs.
"""

import argparse
import ast
import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .paths import RunDir

NOTEBOOKS = ("quality", "speed", "cold_start", "choose", "explore")
KERNEL_NAME = "resizer"
KERNEL_DISPLAY_NAME = "resizer (.venv)"


@dataclass
class NotebookRun:
    name: str
    status: str = "pending"  # pending | ok | failed | interrupted
    seconds: float | None = None
    notebook: str | None = None  # paths relative to the run folder
    html: str | None = None
    error: str | None = None


@dataclass
class BenchRun:
    run_dir: Path
    notebooks: list[NotebookRun] = field(default_factory=list)
    status: str = "running"

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def failed(self) -> NotebookRun | None:
        return next((nb for nb in self.notebooks if nb.status in ("failed", "interrupted")), None)


def parse_value(text: str):
    """A -p value: a Python or JSON literal when it parses as one (3, 0.5, True, true, [1, 2], "x"), else the
    string itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    try:
        return json.loads(text)
    except ValueError:
        return text


def new_run_id(seed: str = "") -> str:
    """UTC timestamp + a short hash (of the time, pid and parameters): sortable and unique per run."""
    now = datetime.now(UTC)
    digest = hashlib.sha256(f"{time.time_ns()}:{os.getpid()}:{seed}".encode()).hexdigest()[:6]
    return f"{now:%Y%m%dT%H%M%SZ}-{digest}"


def ensure_kernel(name: str = KERNEL_NAME) -> str:
    """The name of a Jupyter kernel that runs *this* interpreter (sys.executable), installing the kernelspec into
    sys.prefix when it is missing or points elsewhere (e.g. a stale venv).

    Falls back to "python3" when that cannot be fixed: jupyter_client starts its bare `python` argv with
    sys.executable."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    def ours() -> bool:
        try:
            argv = KernelSpecManager().get_kernel_spec(name).argv
        except NoSuchKernel:
            return False
        return bool(argv) and os.path.abspath(argv[0]) == os.path.abspath(sys.executable)

    if ours():
        return name
    subprocess.run([sys.executable, "-m", "ipykernel", "install", "--sys-prefix", "--name", name,
                    "--display-name", KERNEL_DISPLAY_NAME], capture_output=True, text=True)
    if ours():
        return name
    print(f"resizer bench: could not install kernel {name!r} for {sys.executable}; using 'python3'",
          file=sys.stderr)
    return "python3"


def select_notebooks(folder: Path, names: list[str] | None) -> list[str]:
    """The notebooks to run, in the canonical order; by default every one of NOTEBOOKS that exists."""
    if not names:
        return [n for n in NOTEBOOKS if (folder / f"{n}.ipynb").is_file()]
    missing = [n for n in names if not (folder / f"{n}.ipynb").is_file()]
    if missing:
        raise FileNotFoundError(f"no such notebook in {folder}: {', '.join(missing)}")
    order = {n: i for i, n in enumerate(NOTEBOOKS)}
    return sorted(dict.fromkeys(names), key=lambda n: order.get(n, len(order)))


def run_bench(dataset: str = "bundled", *, quick: bool = False, out: str | Path | None = None,
              params: dict | None = None, scheduler: str = "", sample: int = 0, seed: int = 0, workers: int = 0,
              notebooks: list[str] | None = None, notebooks_dir: str | Path | None = None,
              run_id: str | None = None, compare: str | Path | None = None, progress: bool = True) -> BenchRun:
    """Run the notebooks into <out or reports>/<run-id>/ and write the report; never raises for a notebook
    failure (see BenchRun.status / .failed), only for bad arguments (an unusable `compare` run folder too).
    `compare`: an earlier run folder whose headline numbers the report sets beside this run's."""
    import papermill
    from tqdm import tqdm

    from . import report
    from .headline import open_earlier_run
    from .paths import RunDir, repo_root

    root = repo_root()
    nb_dir = Path(notebooks_dir) if notebooks_dir else root / "notebooks"
    names = select_notebooks(nb_dir, notebooks)
    if not names:
        raise FileNotFoundError(f"no notebooks to run in {nb_dir}")
    if dataset != "bundled" and not dataset.startswith("s3://"):
        dataset = str(Path(dataset).expanduser().resolve())  # the kernels resolve relative paths elsewhere
    common = {"dataset": dataset, "quick": quick, "sample": sample, "seed": seed, "workers": workers,
              "scheduler": scheduler, **(params or {})}
    declared = {n: papermill.inspect_notebook(str(nb_dir / f"{n}.ipynb")) for n in names}
    unknown = sorted(set(params or {}) - {p for d in declared.values() for p in d})
    if unknown:
        raise ValueError(f"parameter(s) {', '.join(unknown)} not declared by any of: {', '.join(names)}")
    earlier = open_earlier_run(compare) if compare else None

    run_id = run_id or new_run_id(json.dumps(common, sort_keys=True, default=str))
    run = RunDir(Path(out).expanduser().resolve() / run_id if out else root / "reports" / run_id)
    run.path.mkdir(parents=True, exist_ok=False)
    common["run_dir"] = str(run.path)
    kernel = ensure_kernel()
    bench = BenchRun(run.path, [NotebookRun(n) for n in names])
    info = {"run_id": run_id, "started": datetime.now(UTC).isoformat(timespec="seconds"), "parameters": common,
            "kernel": kernel, **report.environment()}
    if earlier is not None:
        info["compared_with"] = earlier
    started = time.perf_counter()
    current = None
    try:
        for current in tqdm(bench.notebooks, desc="bench", unit="notebook", disable=not progress, position=0):
            _run_one(current, nb_dir, run, common, declared[current.name], kernel, progress)
            if current.status != "ok":
                break
            _finish(bench, run, info, time.perf_counter() - started, names)  # a report to look at while it runs
        bench.status = "failed" if bench.failed else "ok"
    except BaseException as exc:  # Ctrl-C: keep the partial report, then stop as asked
        if current is not None and current.status == "pending":
            current.status, current.error = "interrupted", f"{type(exc).__name__}: {exc}"
        bench.status = "interrupted"
        raise
    finally:
        _finish(bench, run, info, time.perf_counter() - started, names)
    return bench


def _run_one(nb: NotebookRun, nb_dir: Path, run: "RunDir", common: dict, declared: dict, kernel: str,
             progress: bool) -> None:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from . import report

    output = run.path / "notebooks" / f"{nb.name}.ipynb"
    output.parent.mkdir(parents=True, exist_ok=True)
    nb.notebook = output.relative_to(run.path).as_posix()
    t = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(nb_dir / f"{nb.name}.ipynb"), str(output),
            parameters={k: v for k, v in common.items() if k in declared},
            kernel_name=kernel, progress_bar=progress, cwd=str(nb_dir))
        nb.status = "ok"
    except PapermillExecutionError as exc:  # a cell raised
        nb.status, nb.error = "failed", f"{exc.ename}: {exc.evalue}"
    except Exception as exc:  # noqa: BLE001 - the kernel died or would not start: the notebook failed all the same
        nb.status, nb.error = "failed", f"{type(exc).__name__}: {exc}"
    finally:
        nb.seconds = round(time.perf_counter() - t, 2)
        if output.is_file():
            html = report.export_html(output, run.path / "html" / f"{nb.name}.html")
            nb.html = html.relative_to(run.path).as_posix()


def _finish(bench: BenchRun, run: "RunDir", info: dict, wall: float, names: list[str]) -> None:
    from . import report
    from .paths import RunDir

    failed = bench.failed
    info.update(
        status=bench.status, finished=datetime.now(UTC).isoformat(timespec="seconds"), wall_seconds=round(wall, 2),
        failed_notebook=failed.name if failed else None, error=failed.error if failed else None,
        notebooks=[vars(nb) for nb in bench.notebooks],
        config="variants.toml" if (run.path / "variants.toml").is_file() else None)
    report.write_summary(run, names)
    if info.get("compared_with"):
        report.write_comparison(run, RunDir(info["compared_with"]["path"]))
    report.write_run_json(run, info)
    report.write_index(run, info)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "bench", help="run the benchmark notebooks and write a report",
        description="Run the workbench notebooks (" + " -> ".join(NOTEBOOKS) + ") with papermill and write "
                    "reports/<run-id>/: executed notebooks, HTML, data, figures, summary.md, run.json, index.html "
                    "and the chosen variants.toml.")
    p.add_argument("--dataset", default="bundled", metavar="PATH|s3://BUCKET/PREFIX",
                   help="images to measure (default: scikit-image's bundled photos)")
    p.add_argument("--quick", action="store_true", help="few images and repeats (about a minute)")
    p.add_argument("--out", type=Path, metavar="DIR", help="reports root (default: reports/ in the repo)")
    p.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="notebook parameter; VALUE is a Python/JSON literal when it parses, else a string")
    p.add_argument("--scheduler", default="", metavar="ADDRESS", help="Dask scheduler (default: local processes)")
    p.add_argument("--sample", type=int, default=0, metavar="N", help="use N images drawn with --seed (0: all)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--workers", type=int, default=0, metavar="N", help="local worker processes (0: all cores)")
    p.add_argument("--notebooks", default="", metavar="NAME,...",
                   help=f"run only these (default: {','.join(NOTEBOOKS)})")
    p.add_argument("--compare", type=Path, metavar="RUN_DIR",
                   help="an earlier run folder: the report sets its savings, quality, speed, cold start and cost "
                        "beside this run's (index.html and data/compare.csv)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    names = [n.strip() for n in args.notebooks.split(",") if n.strip()] or None
    try:
        bench = run_bench(args.dataset, quick=args.quick, out=args.out,
                          params={name: parse_value(value) for name, value in args.param},
                          scheduler=args.scheduler, sample=args.sample, seed=args.seed, workers=args.workers,
                          notebooks=names, compare=args.compare, progress=True)
    except (FileNotFoundError, ValueError) as exc:
        print(f"resizer bench: {exc}", file=sys.stderr)
        return 2
    index = bench.run_dir / "index.html"
    if bench.ok:
        print(f"report: {index}")
        return 0
    failed = bench.failed
    print(f"resizer bench: notebook {failed.name!r} failed: {failed.error}\n"
          f"  executed notebook: {bench.run_dir / failed.notebook}\n"
          f"  partial report:    {index}", file=sys.stderr)
    return 1
