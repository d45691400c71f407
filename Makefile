# Two set-up commands for a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint worker bench histories clean

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

test: lint
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python -m bench.order_list
	$(BIN)/python -m bench.fulfilment_run
	$(BIN)/python -m bench.actions

histories: $(STAMP)
	$(BIN)/python -m tests.replay.record $(STORIES)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
