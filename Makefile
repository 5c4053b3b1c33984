# Every target bootstraps .venv itself: a fresh clone needs nothing but Python 3.11.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/data/dagster
export PIFU_DATA_DIR ?= $(CURDIR)/data

.PHONY: run test bench ui clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/pifu run samples/

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m pifu.bench

ui: $(STAMP)
	$(BIN)/pifu ui --host 127.0.0.1 --port 3000

clean:
	rm -rf $(VENV) data build *.egg-info
