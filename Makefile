# Two set-up commands for a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint browser worker bench chaos histories clean bytecode

# What a worker imports, and every workflow re-imports in the sandbox, compiled ahead as pip compiles what it
# installs (the editable install leaves our own modules out): without it, and with PYTHONDONTWRITEBYTECODE set,
# every worker start and every new order workflow compiles them from source. Up-to-date files are skipped.
SOURCES := domain workflows activities store starter gateways bench worker.py settings.py

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

bytecode: $(STAMP)
	@$(BIN)/python -m compileall -q $(SOURCES)

run: bytecode
	$(BIN)/oms up

worker: bytecode
	$(BIN)/oms worker

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy domain workflows activities store starter gateways bench worker.py settings.py

# The console's browser tests drive a real Chromium: find one, or install one (Debian's package as root, else
# Playwright's), or stop here with one line naming what to install.
browser: $(STAMP)
	$(BIN)/python -m tests.browser.find_chromium

test: lint browser bytecode
	$(BIN)/pytest

bench: bytecode
	$(BIN)/python -m bench.order_list
	$(BIN)/python -m bench.fulfilment_run
	$(BIN)/python -m bench.throughput
	$(BIN)/python -m bench.actions
	$(BIN)/python -m bench.console

# Faults at scale: the fuzz tests at OMS_FUZZ_EXAMPLES random cases per test (10,000 unless set, new ones every
# run), then 1,000 orders and an import through a stack whose workers, dev server, SMTP server and gateway fail.
chaos: bytecode
	OMS_FUZZ_EXAMPLES=$${OMS_FUZZ_EXAMPLES:-10000} $(BIN)/pytest -p no:cacheprovider tests/fuzz --hypothesis-show-statistics
	$(BIN)/python -m bench.chaos

histories: $(STAMP)
	$(BIN)/python -m tests.replay.record $(STORIES)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
	find $(SOURCES) -name __pycache__ -type d -prune -exec rm -rf {} +
