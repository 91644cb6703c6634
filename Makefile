# The two quick-start commands: `make demo` and `make test`. Both build .venv themselves.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXAMPLE := examples/manifests

.PHONY: demo test lint typecheck pytest schema bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamps re-run the install when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	BIN=$(BIN) scripts/demo.sh

# Benchmarks print their figures with PASS/FAIL (docs/performance.md).
bench: $(VENV)/.installed-dev
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python bench/run.py

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

pytest: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -q

test: lint typecheck pytest

# Regenerate the committed JSON Schemas after changing ivrsync/manifest/schema.py.
schema: $(VENV)/.installed
	$(BIN)/ivrsync schema --kind root > schema/ivrsync.schema.json
	$(BIN)/ivrsync schema --kind prompts > schema/prompts.schema.json

# Regenerate docs/reference/ (manifest keys, commands, example outputs) after changing them.
.PHONY: docs
docs: $(VENV)/.installed-dev
	$(BIN)/python scripts/gen_docs.py

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache
