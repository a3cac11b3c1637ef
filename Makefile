# Two commands for a newcomer (README): `make bench` runs the workbench, `make test` runs the tests.
# Everything goes into a project virtual environment (.venv); the system Python is never touched.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup bench bench-full test lint typecheck lab lock clean

$(STAMP): pyproject.toml workbench/pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -e . -e ./workbench
	$(BIN)/python -m ipykernel install --sys-prefix --name resizer --display-name "resizer (.venv)" >/dev/null
	touch $@

setup: $(STAMP)

bench: setup
	$(BIN)/resizer bench --quick

bench-full: setup
	$(BIN)/resizer bench

lint: setup
	$(BIN)/ruff check .

# mypy, strict on the runtime package ([tool.mypy] in pyproject.toml)
typecheck: setup
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q

lab: setup
	$(BIN)/jupyter lab notebooks/

lock: setup
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^resizer' > requirements.lock

clean:
	rm -rf $(VENV) dist reports out .mypy_cache
