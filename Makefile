# The two quick-start commands: `make demo` and `make test`. Both build .venv themselves.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXAMPLE := examples/manifests

.PHONY: demo test lint typecheck pytest schema bench clean lock

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Every install takes the exact versions that were tested (requirements/constraints.txt);
# `make lock` refreshes them on purpose. Stamps re-run the install when either file changes.
LOCK := requirements/constraints.txt
PIP_INSTALL := $(BIN)/python -m pip install --quiet -c $(LOCK)

$(VENV)/.installed: pyproject.toml $(LOCK) | $(BIN)/python
	$(PIP_INSTALL) -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(LOCK) | $(BIN)/python
	$(PIP_INSTALL) -e '.[dev]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	BIN=$(BIN) scripts/demo.sh

# Benchmarks print their figures with PASS/FAIL (docs/performance.md).
bench: $(VENV)/.installed-dev
	$(PIP_INSTALL) -e '.[dev,bench]'
	$(BIN)/python bench/run.py

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

# gitlab-ci-local runs the GitLab template in the tests (tests/test_gitlab_ci.py), at the
# version package-lock.json pins; it copies the checkout with rsync, installed here from Debian's
# packages when missing (as root; otherwise: apt-get install rsync).
node_modules/.installed: package.json package-lock.json
	@command -v rsync >/dev/null || [ "$$(id -u)" != 0 ] || { apt-get update -qq && apt-get install -y -qq rsync >/dev/null; }
	@command -v rsync >/dev/null || { echo "gitlab-ci-local needs rsync: apt-get install rsync" >&2; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Debian packages some tests use, installed when missing (as root; otherwise those tests are
# skipped, saying which package to install): chromium renders the review page in
# tests/test_review_page.py; espeak-ng speaks the real speech tests/test_audio_signal.py
# measures. One `apt-get update` for both.
SYSTEM_PACKAGES := chromium espeak-ng
.PHONY: system-packages
system-packages:
	@missing=""; for p in $(SYSTEM_PACKAGES); do command -v $$p >/dev/null || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ]; then \
	  { apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; } || echo "could not install$$missing with apt-get" >&2; \
	fi; \
	for p in $(SYSTEM_PACKAGES); do command -v $$p >/dev/null || echo "$$p is missing: the tests that need it are skipped (apt-get install $$p)" >&2; done

# One worker per core; a module marked xdist_group keeps its tests (and fixture) together.
pytest: $(VENV)/.installed-dev node_modules/.installed system-packages
	$(BIN)/python -m pytest -q -n auto --dist loadgroup

test: lint typecheck pytest

# Regenerate the committed JSON Schemas after changing ivrsync/manifest/schema.py, the plan
# (ivrsync/plan/model.py) or the apply result (ivrsync/apply/report.py).
schema: $(VENV)/.installed
	$(BIN)/ivrsync schema --kind root > schema/ivrsync.schema.json
	$(BIN)/ivrsync schema --kind prompts > schema/prompts.schema.json
	$(BIN)/ivrsync schema --kind plan > schema/plan.schema.json
	$(BIN)/ivrsync schema --kind apply-result > schema/apply-result.schema.json

# Regenerate docs/reference/ (manifest keys, commands, example outputs) after changing them.
.PHONY: docs
docs: $(VENV)/.installed-dev
	$(BIN)/python scripts/gen_docs.py

# Re-resolve pyproject.toml's ranges to the newest allowed versions and pin them in $(LOCK).
# Deliberate: run it, then `make test`, and commit the lock with what it was tested with.
lock:
	PYTHON=$(PYTHON) scripts/lock.sh

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache node_modules
