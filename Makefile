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

# Until `dmfrec demo` (issue #5) exists: train and evaluate DMF against the baselines on the
# built-in synthetic shop, then print recommendations from the trained model.
demo: venv
	$(BIN)/dmfrec evaluate --format synthetic --protocol time
	$(BIN)/dmfrec train --format synthetic --out var/models/demo
	$(BIN)/dmfrec recommend --model var/models/demo --customer c00001 -n 10

test: venv
	$(BIN)/ruff check .
	$(BIN)/pytest

bench: venv
	$(BIN)/python -m benchmarks.quality
