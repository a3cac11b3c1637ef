"""Committed notebooks are clean (no outputs, no execution state) and parameterizable the same way, so papermill,
`resizer bench` and JupyterLab all run them with the same defaults."""

import ast
from pathlib import Path

import nbformat
import pytest

from resizer_bench.bench import NOTEBOOKS

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "notebooks"
PATHS = sorted(FOLDER.glob("*.ipynb"))
# The parameters every notebook takes, with the defaults it must run with on its own.
COMMON = {"dataset": "bundled", "run_dir": "reports/dev", "quick": False, "sample": 0, "seed": 0, "workers": 0,
          "scheduler": ""}


def _defaults(source: str) -> dict:
    """Top-level `name = literal` assignments of a parameters cell."""
    values = {}
    for node in ast.parse(source).body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1, ast.unparse(node)
        values[node.targets[0].id] = ast.literal_eval(node.value)
    return values


def test_every_notebook_is_run_by_the_bench():
    assert PATHS
    assert {p.stem for p in PATHS} <= set(NOTEBOOKS)


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_is_clean(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert "papermill" not in nb.metadata and "widgets" not in nb.metadata
    for cell in nb.cells:
        assert "execution" not in cell.metadata and "papermill" not in cell.metadata, cell.id
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.id
        assert "injected-parameters" not in cell.metadata.get("tags", []), cell.id


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_has_one_parameters_cell_with_the_common_defaults(path):
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0].cell_type == "code"
    defaults = _defaults(tagged[0].source)
    assert {name: defaults.get(name) for name in COMMON} == COMMON
