"""Where things are: the repo root (notebooks run from notebooks/ in JupyterLab and from anywhere under papermill)
and the layout of a run folder: data/<table>.parquet + .csv, figures/<name>.png, summary/<notebook>.md."""

from pathlib import Path

import pandas as pd

MARKER = "pyproject.toml"


def repo_root(start: str | Path | None = None) -> Path:
    """The nearest folder at or above `start` (default: the cwd) holding pyproject.toml; falls back to the
    checkout this package was imported from, so an installed workbench still finds its repo."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / MARKER).is_file():
            return folder
    package_root = Path(__file__).resolve().parents[1]
    if (package_root / MARKER).is_file():
        return package_root
    raise FileNotFoundError(f"no {MARKER} at or above {here}")


def resolve(path: str | Path, root: Path | None = None) -> Path:
    """`path` made absolute: relative paths are taken against the repo root, not the notebook's cwd."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else (root or repo_root()) / path


class RunDir:
    """A run folder; the subfolders are created on first write."""

    def __init__(self, run_dir: str | Path, root: Path | None = None):
        self.path = resolve(run_dir, root)

    def _sub(self, *parts: str) -> Path:
        path = self.path.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def table_path(self, name: str, ext: str = "parquet") -> Path:
        return self.path / "data" / f"{name}.{ext}"

    def write_table(self, frame: pd.DataFrame, name: str) -> Path:
        """Write `frame` as data/<name>.parquet (typed, with metadata in attrs) and data/<name>.csv."""
        path = self._sub("data", f"{name}.parquet")
        frame.to_parquet(path, index=False)
        frame.to_csv(path.with_suffix(".csv"), index=False)
        return path

    def read_table(self, name: str) -> pd.DataFrame:
        return pd.read_parquet(self.table_path(name))

    def has_table(self, name: str) -> bool:
        return self.table_path(name).is_file()

    def save_figure(self, fig, name: str) -> Path:
        path = self._sub("figures", f"{name}.png")
        fig.savefig(path, dpi=110, bbox_inches="tight")
        return path

    def write_summary(self, notebook: str, markdown: str) -> Path:
        path = self._sub("summary", f"{notebook}.md")
        path.write_text(markdown.rstrip() + "\n", encoding="utf-8")
        return path

    def file(self, name: str) -> Path:
        """A top-level file of the run (e.g. variants.toml)."""
        return self._sub(name)
