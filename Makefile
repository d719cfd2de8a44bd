# Two entry points, as the README says: `make demo` and `make test`. Both set up .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: venv demo test lint bench lock audit

$(BIN)/activate:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch first, pinned: a looser spec pulls a multi-GB CUDA build; 2.13.0 is the CPU wheel on disk.
# Then every other dependency at the versions requirements.lock pins (the demo and dev extras
# included), then the project itself.
$(VENV)/.installed: requirements.lock pyproject.toml | $(BIN)/activate
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
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

# requirements.lock again from pyproject.toml (after changing a dependency). torch is resolved
# as the CPU build (so no CUDA packages enter the lock) and left out: it is installed first.
lock: venv
	echo "torch==2.13.0+cpu" > $(VENV)/torch-cpu.txt
	CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --extra dev --extra demo \
		--strip-extras --unsafe-package torch -c $(VENV)/torch-cpu.txt --no-emit-find-links \
		--no-emit-index-url --output-file requirements.lock pyproject.toml

# Known advisories in the locked versions (needs PyPI's JSON API or OSV: not in CI, which
# cannot reach either).
audit: venv
	$(BIN)/pip-audit -r requirements.lock --no-deps --disable-pip --progress-spinner off
