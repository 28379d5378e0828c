# Two commands set everything up on a fresh machine:
#   make chat   - install (first time), index seeds/, open the web chat on http://127.0.0.1:7860
#   make test   - install (first time), then lint, type-check and run the whole test suite
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The Infinity embedding server the tests start (RAG_EMBEDDING=openai-compatible): a venv of
# its own, as a separate server would have, since its pins clash with the project's.
INFINITY_VENV := .venv-infinity
INFINITY_STAMP := $(INFINITY_VENV)/.installed

.PHONY: setup chat test lint browser infinity clean-index

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The CPU build of torch first (it lies on this machine's disk); then the project.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

$(INFINITY_STAMP): requirements-infinity.txt
	test -x $(INFINITY_VENV)/bin/python || python3 -m venv $(INFINITY_VENV)
	$(INFINITY_VENV)/bin/python -m pip install --quiet --upgrade pip
	# CPU torch first, as for the main venv, so nothing pulls a CUDA build.
	$(INFINITY_VENV)/bin/python -m pip install --quiet torch==2.13.0
	$(INFINITY_VENV)/bin/python -m pip install --quiet -r requirements-infinity.txt
	touch $(INFINITY_STAMP)

infinity: $(INFINITY_STAMP)

chat: setup
	$(PY) app.py --open

browser:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

lint: setup
	$(VENV)/bin/ruff check rag tests app.py
	$(VENV)/bin/ruff format --check rag tests app.py
	$(VENV)/bin/mypy

# The three installs share no files: run them side by side (about 2 minutes less on a fresh machine).
test:
	$(MAKE) --no-print-directory -j3 setup infinity browser
	$(MAKE) --no-print-directory lint
	$(PY) -m pytest -q -ra --durations=25 tests

clean-index:
	find index -mindepth 1 ! -name .gitkeep -exec rm -rf {} +
