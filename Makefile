# Two entry points, as the README says: `make demo` and `make test`. Both set up .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: venv demo test lint bench

$(BIN)/activate:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch first, pinned: a looser spec pulls a multi-GB CUDA build; 2.13.0 is the CPU wheel on disk.
$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

# The whole loop on embedded defaults (SQLite, an embedded Redis): webhook, worker, training,
# evaluation, storefront URLs; Ctrl-C stops it.
demo: venv
	$(BIN)/dmfrec demo

test: venv
	$(BIN)/ruff check .
	$(BIN)/pytest

bench: venv
	$(BIN)/python -m benchmarks.quality
