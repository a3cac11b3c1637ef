"""environment.yml (conda) declares what pyproject.toml and workbench/pyproject.toml (pip) do, with the same bounds."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _normalise(requirement: str) -> tuple[str, str]:
    name, spec = re.match(r"^\s*([A-Za-z0-9_.\-]+(?:\[[^\]]+\])?)\s*(.*)$", requirement).groups()
    return name.lower().replace("_", "-"), spec.replace(" ", "")


def test_environment_yml_matches_pyproject():
    runtime = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    workbench = tomllib.loads((ROOT / "workbench" / "pyproject.toml").read_text())["project"]
    declared = set(map(_normalise, runtime["dependencies"] + workbench["dependencies"]))
    for extra in runtime["optional-dependencies"].values():
        declared |= set(map(_normalise, extra))
    declared.discard(_normalise(runtime["name"]))  # the workbench's requirement on the runtime: `-e .` below
    env = yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
    conda = [d for d in env if isinstance(d, str) and not d.startswith(("python", "pip"))]
    pip = next(d["pip"] for d in env if isinstance(d, dict))
    assert [d for d in pip if d.startswith("-e ")] == ["-e .", "-e ./workbench"]
    assert set(map(_normalise, conda + [d for d in pip if not d.startswith("-e ")])) == declared
