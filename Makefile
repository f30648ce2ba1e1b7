# The README's two Quick start commands are `make demo` and `make test`.
# Each one creates (or refreshes) its own virtual environment in .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/seed.py

lint: $(STAMP)
	$(BIN)/ruff check pyecs tests examples benchmarks scripts
	$(BIN)/ruff format --check pyecs tests examples benchmarks scripts
	$(BIN)/lint-imports --no-cache --no-logo
	$(BIN)/python scripts/check_cycles.py

typecheck: $(STAMP)
	$(BIN)/mypy --strict pyecs

unit: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

# The documentation site (build/site); any warning fails the build.
docs: $(STAMP)
	$(BIN)/mkdocs build --strict

test: lint typecheck docs unit

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .pytest_cache .ruff_cache
