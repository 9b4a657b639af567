# kvnb — two commands: `make lab` (set up + JupyterLab with the bundled server) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.kvnb-installed
PYTEST_ARGS ?=
PARTICIPANTS ?= 12
HUB_PORT ?= 8000
# JupyterHub's proxy is an npm package: installed into the venv (never globally), found there by kvnb hub.
NODE_DIR := $(VENV)/node
CHP_STAMP := $(NODE_DIR)/.chp-installed

.PHONY: hub lab solutions screenshots test lint format learner check-learner bench system-deps strip-notebooks clean help
.DEFAULT_GOAL := help

help:
	@echo "make lab     set everything up and open JupyterLab with the bundled nats-server on my-notebooks/"
	@echo "             (your copies of the course notebooks, without solutions; your edits are kept)"
	@echo "make solutions  the same on the solved notebooks (notebooks/)"
	@echo "make hub     a workshop: classroom server + JupyterHub (PARTICIPANTS=12 HUB_PORT=8000); needs Node.js"
	@echo "make test    set everything up and run every test (unit, fault, notebooks, browser)"
	@echo "make lint    ruff"
	@echo "make learner regenerate the learner copies of the notebooks (solutions removed)"
	@echo "make screenshots  run every notebook in chromium; widget pictures to docs/img/"
	@echo "make bench   benchmarks against raw nats-py (writes docs/benchmarks.md), then the 20-round stress tests"

# uv installs in seconds where pip takes half a minute; when it is not on PATH, pip bootstraps it
# into the venv (one small wheel), and everything after that goes through uv.
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := $(VENV)/bin/uv
endif

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "kvnb needs Python 3.11 or newer; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	@command -v uv >/dev/null 2>&1 || $(PY) -m pip install --quiet --disable-pip-version-check uv

$(STAMP): pyproject.toml | $(PY)
	@echo "kvnb: installing kvnb and its Python dependencies into $(VENV) with uv ..."
	$(UV) pip install --quiet --python $(PY) -e '.[dev]'
	@echo "kvnb: Python packages installed."
	@touch $@

$(CHP_STAMP): | $(PY)
	@command -v npm >/dev/null 2>&1 || { echo "kvnb: JupyterHub's proxy needs Node.js and npm. Fix: apt-get install nodejs npm (or your system's package)"; exit 1; }
	@echo "kvnb: installing configurable-http-proxy (JupyterHub's proxy) into $(NODE_DIR) with npm ..."
	npm install --silent --no-audit --no-fund --prefix $(NODE_DIR) configurable-http-proxy@4
	@touch $@

hub: $(STAMP) $(CHP_STAMP)
	$(VENV)/bin/kvnb hub --participants $(PARTICIPANTS) --port $(HUB_PORT)

# Debian packages the tests need: chromium (browser tests) and redis-server (KV vs Redis).
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
	  echo "kvnb: installing Debian packages:$$missing (about a minute) ..."; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

lab: $(STAMP)
	$(VENV)/bin/kvnb lab

solutions: $(STAMP)
	$(VENV)/bin/kvnb lab --solutions

test: $(STAMP) system-deps $(CHP_STAMP)
	$(PY) -m ruff check kvnb tests bench
	$(PY) -m kvnb.notebook_tools check notebooks
	$(PY) -m kvnb.learner --check notebooks learner
	$(PY) -m pytest tests notebooks -m "not stress" --nbval-lax --kvnb-server \
		--nbval-sanitize-with notebooks/nbval_sanitize.cfg $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check kvnb tests bench

format: $(STAMP)
	$(PY) -m ruff check --fix kvnb tests bench

strip-notebooks: $(STAMP)
	$(PY) -m kvnb.notebook_tools strip notebooks

learner: $(STAMP)
	$(PY) -m kvnb.notebook_tools learner notebooks learner

check-learner: $(STAMP)
	$(PY) -m kvnb.learner --check notebooks learner

# Run every notebook in JupyterLab + chromium, photograph each widget (light and dark) into
# test-output/learners-eye/, and copy one picture of each kind of widget to docs/img/ for the README.
screenshots: $(STAMP) system-deps
	KVNB_DOCS_IMG=1 $(PY) -m pytest tests/browser/test_learners_eye.py -p no:cacheprovider

bench: $(STAMP) system-deps $(CHP_STAMP)
	$(PY) -m bench
	$(PY) -m pytest tests -m stress -p no:cacheprovider

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache test-output
