# Every target bootstraps .venv itself: a fresh clone needs nothing but Python 3.11.
# Debian's own python3.11 when the machine has it: it parses ~15% faster (CPU time) than a plain source
# build such as pyenv's (docs/performance.md), and parsing is pure Python. Else, or
# when it cannot make a venv (no python3.11-venv package), python3.11 from PATH. PY=... chooses another.
PY ?= $(firstword $(wildcard /usr/bin/python3.11) python3.11)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/data/dagster
export PIFU_DATA_DIR ?= $(CURDIR)/data

.PHONY: run test bench ui clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV) || { rm -rf $(VENV); python3.11 -m venv $(VENV); }
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
