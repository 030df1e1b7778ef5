# Two commands: `make run` sets everything up and serves the app; `make test` sets up and runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TOOLS := .tools
BUN_VERSION := 1.4.5
BUN := $(TOOLS)/node_modules/.bin/bun
INSTALLED := $(VENV)/.installed

export REFLEX_TELEMETRY_ENABLED := false
export PATH := $(CURDIR)/$(TOOLS)/node_modules/.bin:$(PATH)

.PHONY: run test setup chromium unit e2e bench

run: setup
	$(BIN)/switchboard run

test: setup chromium
	$(BIN)/pytest -q --ignore=tests/e2e
	$(BIN)/pytest -q tests/e2e

setup: $(INSTALLED) $(BUN)

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Switchboard needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

$(BUN):
	@command -v npm >/dev/null || { echo "Switchboard's web app needs Node.js and npm"; exit 1; }
	mkdir -p $(TOOLS)
	npm install --prefix $(TOOLS) --no-audit --no-fund --loglevel=error bun@$(BUN_VERSION)
	$(BUN) --version

chromium:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "Browser tests need Debian's chromium: run 'sudo apt-get install chromium'"; exit 1; fi; }

unit: setup
	$(BIN)/pytest -q --ignore=tests/e2e

e2e: setup chromium
	$(BIN)/pytest -q tests/e2e

bench: setup
	$(BIN)/python -m bench.events
	$(BIN)/python -m bench.catalog
	$(BIN)/python -m bench.chat  # installs LiteLLM into bench/.litellm-venv the first time
