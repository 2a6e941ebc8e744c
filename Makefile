# make demo: set up and run the main job on the embedded default data.
# make test: set up and run the test suite.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup pg browser demo test lint bench clean
CHROMIUM := /usr/bin/chromium

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The CPU build of torch first, so nothing pulls a CUDA build.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The Data Manager's tests start a throw-away PostgreSQL cluster: install Debian's server when it is missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
pg:
	@ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || command -v postgres >/dev/null 2>&1 || \
	  ($(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql)

demo: setup
	$(BIN)/gaussian demo
	@echo "Open the dashboard on the demo home: $(BIN)/gaussian serve --home demo-home, then http://127.0.0.1:5050/"

# The browser tests drive Debian's chromium through Playwright (no browser download at test time).
browser:
	test -x $(CHROMIUM) || ($(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium)

test: setup browser pg
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2 tests

lint: setup
	$(BIN)/ruff check trader experiments analysis agents tests bench

bench: setup
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/encoders.py
	$(BIN)/python bench/cli.py
	$(BIN)/python bench/web.py
	$(BIN)/python bench/datamanager.py

clean:
	rm -rf $(VENV) build *.egg-info
