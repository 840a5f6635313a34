# meetmesh — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_BOOT ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
export PYTHONPATH := $(CURDIR)/gen:$(CURDIR):$(CURDIR)/clients/python
STAMP := $(VENV)/.installed

.PHONY: help install run gen gen-ts vendor check fmt lint types protolint test bench clean models web web-build

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[1m%-10s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements-nodeps.txt
	@test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	@touch $(STAMP)

install: $(STAMP) ## create the virtual environment and install meetmesh with its dev tools

run: install gen ## set up and run the whole platform on the embedded defaults
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory web-build; \
	else echo "note: npm not found: the web client is not built (http://127.0.0.1:8800/ answers 404)"; fi
	@test -f var/model_repository/BUILD.json || $(MAKE) --no-print-directory models || \
	  echo "note: the AI models could not be built (the TTS engines come from deploy/install-system-packages.sh); meetmesh runs without AI"
	$(BIN)/meetmesh up

gen: install ## generate gen/ and envoy/ from protos/ (Python, stubs, descriptors, OpenAPI, Envoy, TypeScript)
	rm -rf gen/meetmesh gen/buf gen/openapi gen/meetmesh.binpb
	PYTHON=$(CURDIR)/$(PY) buf generate
	buf build -o gen/meetmesh.binpb
	@find gen -name '*_grpc.py' -exec sh -c 'grep -q "^class " "$$1" || rm "$$1"' _ {} \;
	$(PY) tools/gen_openapi.py
	$(PY) tools/gen_envoy.py
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory gen-ts; \
	else echo "npm not found: gen/ts (TypeScript) left as committed"; fi

gen-ts: node_modules
	buf generate --template buf.gen.ts.yaml

node_modules: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch node_modules

WEB := clients/web
$(WEB)/node_modules/.installed: $(WEB)/package.json $(WEB)/package-lock.json
	cd $(WEB) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

web-build: $(WEB)/node_modules/.installed ## build the web client into clients/web/dist (the edge serves it at /)
	cd $(WEB) && npm run --silent build

web: $(WEB)/node_modules/.installed ## web client dev server on :5173, proxying to a running platform's edge (make run)
	cd $(WEB) && npm run dev

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
	@if [ -d $(WEB)/node_modules ]; then cd $(WEB) && npx tsc --noEmit; else echo "clients/web: npm ci first to type-check the web client"; fi

protolint: install
	buf lint
	buf format -d --exit-code protos

check: lint types protolint ## format check, lint (ruff), types (mypy; strict for the kit), proto lint

test: install node_modules web-build ## run the test suite (needs PostgreSQL and Redis on 127.0.0.1, and Node 20)
	$(PY) -m pytest $(PYTEST_ARGS)

models: install ## build the Triton model repository under var/ (pinned packages, ~1 min on 2 cores)
	$(PY) -m services.ai.modelbuild --out var/model_repository

bench: install ## run the benchmarks (prints figures and ratios)
	$(PY) -m bench

clean: ## remove the virtual environment and local state
	rm -rf $(VENV) var node_modules $(WEB)/node_modules $(WEB)/dist .pytest_cache .mypy_cache .ruff_cache
