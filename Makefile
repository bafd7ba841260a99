# The two commands a new user needs: `make up` runs the system, `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The AWS deployment's scanners: checkov in a venv of its own (its pins clash with ours), the CDK CLI from npm.
CHECKOV := .venv-checkov/.installed
CDK_CLI := node_modules/.installed

.PHONY: up down status test lint unit integration e2e browser bench clean aws-checks

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,bench,aws,load]'
	@touch $@

$(CHECKOV): constraints-checkov.txt
	@test -x .venv-checkov/bin/python || $(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/pip install --quiet -r constraints-checkov.txt
	@touch $@

$(CDK_CLI): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
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

test: $(STAMP) $(CHECKOV) $(CDK_CLI) lint  ## everything CI runs: lint, import contracts, types, unit, integration, e2e, browser
	scripts/ensure-debian-packages
	$(BIN)/pytest

unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: $(STAMP)
	$(BIN)/pytest tests/integration

e2e: $(STAMP)
	$(BIN)/pytest tests/e2e

aws-checks: $(STAMP) $(CHECKOV) $(CDK_CLI)  ## the CDK app: one synth, template assertions, cdk-nag, cfn-lint, checkov, moto
	$(BIN)/pytest tests/unit/test_aws_settings.py tests/integration/test_aws_stack.py \
		tests/integration/test_aws_checks.py tests/integration/test_aws_services.py

clean:
	rm -rf $(VENV) .venv-checkov node_modules cdk.out var test-artifacts .pytest_cache .mypy_cache .ruff_cache
