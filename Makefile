# Two commands for a fresh Linux machine with Python 3.11:
#   make run    create .venv, install requirements.txt, start the dashboard on the synthetic demo data
#   make test   create/update .venv, install requirements-dev.txt (+ Debian chromium if possible), run all tests
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8501
# Loopback by default: only this machine reaches the dashboard (ADDRESS=0.0.0.0 opens it to others).
ADDRESS ?= 127.0.0.1

.PHONY: run test venv deps dev-deps chromium clean screenshots

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Stamp files: pip runs again only when a requirements file changes.
$(VENV)/.deps: requirements.txt constraints.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip check
	touch $@

$(VENV)/.dev-deps: requirements-dev.txt requirements.txt constraints.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip check
	touch $(VENV)/.deps $@

deps: $(VENV)/.deps
dev-deps: $(VENV)/.dev-deps

# Two malloc arenas instead of glibc's 8 per core: with the default, the server's memory crept
# up over a long Live stream (+10.4 % in 30 min; with 2: +2.6 %; benchmarks/live_soak.py,
# docs/benchmarks.md). It must be in the environment at start-up: set from inside the app it
# did not help.
MALLOC_ARENA_MAX ?= 2

run: deps
	MALLOC_ARENA_MAX=$(MALLOC_ARENA_MAX) $(PY) -m streamlit run app.py --server.port $(PORT) --server.address $(ADDRESS)

# Browser tests need Debian's chromium; install it when missing and apt-get is usable, else they skip.
chromium:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  echo "Installing Debian chromium for the browser tests..."; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	    || echo "chromium could not be installed: browser tests will be skipped"; \
	elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
	  (sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	    || echo "chromium could not be installed: browser tests will be skipped"; \
	else echo "No chromium and no usable apt-get: browser tests will be skipped"; fi

test: dev-deps chromium
	$(PY) -m pytest -q $(PYTEST_ARGS)

# The README's pictures (docs/images/*.png) from the running app, headless Chromium, synthetic data.
screenshots: dev-deps chromium
	MALLOC_ARENA_MAX=$(MALLOC_ARENA_MAX) $(PY) scripts/screenshots.py

clean:
	rm -rf $(VENV) .pytest_cache .cache
