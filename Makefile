# The two commands a new user needs: `make up` runs the system, `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: up down status test lint unit integration e2e browser bench clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,bench]'
	@touch $@

up: $(STAMP)  ## create the venv if needed, migrate, seed on first run, start everything
	$(BIN)/lakefront up

down: $(STAMP)
	$(BIN)/lakefront down

status: $(STAMP)
	$(BIN)/lakefront status

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/bandit -c pyproject.toml -r src -q
	$(BIN)/python scripts/audit

test: $(STAMP) lint  ## everything CI runs: lint, import contracts, types, unit, integration, e2e, browser
	scripts/ensure-chromium
	$(BIN)/pytest

unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: $(STAMP)
	$(BIN)/pytest tests/integration

e2e: $(STAMP)
	$(BIN)/pytest tests/e2e

clean:
	rm -rf $(VENV) var test-artifacts .pytest_cache .mypy_cache .ruff_cache
