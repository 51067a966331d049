# The two commands of the quick start: `make dev` and `make test`.
# make test      ruff, mypy --strict, pytest in parallel without the `load` tests, then the `serial` ones (the check before a commit)
# make test-all  ruff, mypy --strict, every test: the parallel part, then the `load` tests one at a time (CI)
# make docs      the MkDocs site, --strict, into site/
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: dev test test-all lint typecheck pytest pytest-load soak docs bench clean install install-dev install-docs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamps re-run pip only when pyproject.toml changes.
$(VENV)/.runtime-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check -q -e '.[embedded]'
	@touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check -q -e '.[embedded,dev]'
	@touch $@ $(VENV)/.runtime-installed

$(VENV)/.docs-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check -q -e '.[docs]'
	@touch $@

$(VENV)/.bench-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check -q -e '.[embedded,dev,bench]'
	@touch $@ $(VENV)/.dev-installed $(VENV)/.runtime-installed

install: $(VENV)/.runtime-installed
install-dev: $(VENV)/.dev-installed
install-docs: $(VENV)/.docs-installed

dev: install
	$(BIN)/areafetch dev

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install-dev
	$(BIN)/mypy

# xdist workers: each has its own database; every test its own Redis key prefix and limiter namespace.
PYTEST_WORKERS ?= 6

# The parallel part, then the few tests that measure sub-second timing, alone (exit 5: none selected).
pytest: install-dev
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist worksteal -m 'not load and not serial and not soak' $(PYTEST_ARGS)
	$(BIN)/pytest -m 'serial and not load and not soak' $(PYTEST_ARGS) || [ $$? -eq 5 ]

# Long load tests and the ones that measure timing on the whole machine: alone, one after another.
pytest-load: install-dev
	$(BIN)/pytest -m 'load and not soak' $(PYTEST_ARGS) || [ $$? -eq 5 ]

test: lint typecheck pytest

test-all: lint typecheck pytest pytest-load

docs: install-docs
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# Not part of `make test`: SOAK_MINUTES (default 20) of mixed load with faults; CI runs it after the tests.
soak: install-dev
	$(BIN)/pytest tests/soak -m soak -s -q -p no:cacheprovider

bench: $(VENV)/.bench-installed
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .areafetch-dev site
