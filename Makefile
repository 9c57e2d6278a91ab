# The few entry points a newcomer needs. Every target makes the virtualenv it uses.
SHELL := /bin/bash
PYTHON ?= $(shell scripts/find-python)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TOOLS := .venv-tools
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: help install test test-fast lint typecheck validate build dev demo clean openapi bench

help:
	@echo "make demo      start the local stack, run the main job through the API, stop"
	@echo "make test      run the test suite (creates .venv)"
	@echo "make test-fast the unit and flow tests only: no local stack, under a minute"
	@echo "make dev       run the API locally (moto + gateway + stream pump) until Ctrl-C"
	@echo "make lint      ruff and mypy"
	@echo "make validate  sam validate --lint and cfn-lint on template.yaml"
	@echo "make build     sam build (the layer and the functions, for arm64 / python3.13)"
	@echo "make openapi   regenerate openapi.json from the functions' resolvers and template.yaml"
	@echo "make bench     the benchmarks against the platforms' own clients, the browser and cold starts"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The browser tests drive Debian's Chromium; scripts/install-chromium installs it when missing.
# Three workers (pytest-xdist), each with a local stack of its own: much of a test is waiting on a
# stack, so three beat two on two vCPUs (14.3 against 16.5 minutes here, before the moto changes
# of README; about 8 minutes since, with the local stack's later changes). Each worker starts with
# its share of the few long end-to-end modules (tests/conftest.py), then takes whatever is free
# (worksteal). TEST_WORKERS=0: one process.
TEST_WORKERS ?= 3
test: $(STAMP)
	scripts/install-chromium >/dev/null
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal

# What a change to the library needs first: the flows over the fakes and the unit tests, no stack.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit tests/flows

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

typecheck: $(STAMP)
	$(BIN)/mypy

# SAM CLI pins its own boto3, so it lives in a virtualenv of its own.
$(TOOLS)/.installed:
	test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS)/bin/python -m pip install --quiet aws-sam-cli 'cfn-lint==1.53.*'
	touch $@

validate: $(TOOLS)/.installed
	$(TOOLS)/bin/sam validate --lint --template template.yaml
	$(TOOLS)/bin/cfn-lint template.yaml

# The document GET /openapi.json serves; tests/unit/test_openapi.py fails while it is stale.
openapi: $(STAMP)
	$(BIN)/python -m sitedeploy_local.openapi

# Each benchmark installs the official client it races (wrangler, @netlify/api, @vercel/client) itself.
bench: $(STAMP)
	scripts/install-chromium >/dev/null
	$(BIN)/python -m bench.versus_wrangler --rounds 5
	$(BIN)/python -m bench.versus_clients --rounds 5
	$(BIN)/python -m bench.versus_amplify --rounds 5
	$(BIN)/python -m bench.browser_deploy --rounds 3
	$(BIN)/python -m bench.cold_start --runs 7
	$(BIN)/python -m bench.cold_import --runs 7

build: $(TOOLS)/.installed
	PATH="$(abspath $(TOOLS))/bin:$$PATH" $(TOOLS)/bin/sam build --template template.yaml

dev: $(STAMP)
	$(BIN)/python -m sitedeploy_local

demo: $(STAMP)
	$(BIN)/python -m sitedeploy_local.demo

clean:
	rm -rf $(VENV) $(TOOLS) .aws-sam .sitedeploy .pytest_cache .mypy_cache .ruff_cache
