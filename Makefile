# Two set-up commands for a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint browser worker bench histories clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/oms up

worker: $(STAMP)
	$(BIN)/oms worker

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy domain workflows activities store starter gateways bench worker.py settings.py

# The console's browser tests drive a real Chromium: find one, or install one (Debian's package as root, else
# Playwright's), or stop here with one line naming what to install.
browser: $(STAMP)
	$(BIN)/python -m tests.browser.find_chromium

test: lint browser
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python -m bench.order_list
	$(BIN)/python -m bench.fulfilment_run
	$(BIN)/python -m bench.throughput
	$(BIN)/python -m bench.actions
	$(BIN)/python -m bench.console

histories: $(STAMP)
	$(BIN)/python -m tests.replay.record $(STORIES)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
