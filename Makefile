# make demo: set up and run the main job on the embedded default data.
# make test: set up and run the test suite.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench clean browser
CHROMIUM := /usr/bin/chromium

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The CPU build of torch first, so nothing pulls a CUDA build.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: setup
	$(BIN)/gaussian demo
	@echo "Open the dashboard on the demo home: $(BIN)/gaussian serve --home demo-home, then http://127.0.0.1:5050/"

# The browser tests drive Debian's chromium through Playwright (no browser download at test time).
browser:
	test -x $(CHROMIUM) || (apt-get update && apt-get install -y chromium)

test: setup browser
	$(BIN)/python -m pytest -q -p no:cacheprovider tests

lint: setup
	$(BIN)/ruff check trader experiments analysis agents tests bench

bench: setup
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/encoders.py
	$(BIN)/python bench/cli.py
	$(BIN)/python bench/web.py

clean:
	rm -rf $(VENV) build *.egg-info
