# Two commands set everything up on a fresh machine:
#   make chat   - install (first time), index seeds/, open the web chat on http://127.0.0.1:7860
#   make test   - install (first time), then lint, type-check and run the whole test suite
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup chat test lint browser clean-index

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The CPU build of torch first (it lies on this machine's disk); then the project.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

chat: setup
	$(PY) app.py --open

browser:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

lint: setup
	$(VENV)/bin/ruff check rag tests app.py
	$(VENV)/bin/ruff format --check rag tests app.py
	$(VENV)/bin/mypy

test: setup browser lint
	$(PY) -m pytest -q -ra --durations=15 tests

clean-index:
	find index -mindepth 1 ! -name .gitkeep -exec rm -rf {} +
