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
# The SDK flavours (docs/sdk.md) cover the public proto packages only, never `*.internal.*`;
# the Python and TypeScript ones also carry google.rpc's error details.
SDK_PROTOS := $(addprefix --path ,$(sort $(shell find protos/meetmesh -name '*.proto' -not -path '*/internal/*')))
RPC_DETAILS := --path protos_vendor/google/rpc/error_details.proto

.PHONY: help setup install node run up-stack gen gen-ts gen-betterproto gen-go gen-jvm sdk vendor check fmt lint types protolint test bench clean models web web-build

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[1m%-10s\033[0m %s\n", $$1, $$2}'

setup: ## install everything: Debian packages, Go tools, the venv, npm modules, the AI models
	@$(SETUP)

install: ## create the virtual environment and install meetmesh with its dev tools
	@$(SETUP) python

node:
	@$(SETUP) node

run: setup gen web-build ## set up and run the whole platform on the embedded defaults
	$(BIN)/meetmesh up

up-stack: setup gen web-build ## run the whole platform on real servers (PostgreSQL, Redis, FerretDB, S3) under ./var
	$(BIN)/meetmesh up --stack

gen: install ## generate gen/, envoy/, docs/configuration.md and the SDK flavours from protos/ and the settings classes (TypeScript, Go, JVM where npm, go, mvn exist)
	rm -rf gen/meetmesh gen/buf gen/openapi gen/meetmesh.binpb
	PYTHON=$(CURDIR)/$(PY) buf generate
	buf build -o gen/meetmesh.binpb
	@find gen -name '*_grpc.py' -exec sh -c 'grep -q "^class " "$$1" || rm "$$1"' _ {} \;
	$(PY) tools/gen_openapi.py
	$(PY) tools/gen_envoy.py
	$(PY) tools/gen_config_docs.py
	@$(MAKE) --no-print-directory gen-betterproto
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory gen-ts; \
	else echo "npm not found: gen/ts and clients/ts (TypeScript) left as committed"; fi
	@if command -v go >/dev/null 2>&1; then $(MAKE) --no-print-directory gen-go; \
	else echo "go not found: clients/go left as committed"; fi
	@if command -v mvn >/dev/null 2>&1; then $(MAKE) --no-print-directory gen-jvm; \
	else echo "mvn not found: clients/kotlin/generated (not committed) not generated"; fi

gen-ts: node
	buf generate --template buf.gen.ts.yaml
	buf generate --template buf.gen.ts-npm.yaml $(SDK_PROTOS) $(RPC_DETAILS)

gen-betterproto: # Python dataclasses (betterproto2-compiler, from requirements-nodeps.txt)
	rm -rf clients/python-betterproto/meetmesh_betterproto
	buf generate --template buf.gen.betterproto.yaml $(SDK_PROTOS) $(RPC_DETAILS) \
	  --path protos_vendor/google/rpc/status.proto 2> >(grep -v '^Writing ' >&2)

gen-go: # Go: protoc-gen-go and protoc-gen-go-grpc, Go tools pinned in deploy/tools/protoc-plugins
	cd deploy/tools/protoc-plugins && GOBIN=$(CURDIR)/var/tools/bin go install tool
	rm -rf clients/go/meetmesh
	buf generate --template buf.gen.go.yaml $(SDK_PROTOS)

gen-jvm: # Kotlin/JVM: protoc and the grpc plugins from Maven Central (clients/kotlin/pom.xml)
	mvn -B -q -f clients/kotlin/pom.xml initialize
	chmod +x clients/kotlin/target/protoc-plugins/protoc clients/kotlin/target/protoc-plugins/protoc-gen-grpc-java
	buf generate --template buf.gen.jvm.yaml $(SDK_PROTOS)

sdk: gen ## build every SDK package into dist/sdk (pip wheel, npm pack, go build, mvn package)
	mkdir -p dist/sdk
	$(PY) -m pip wheel --no-deps -q -w dist/sdk clients/python-proto clients/python clients/python-betterproto
	cd clients/ts && npm pack --pack-destination ../../dist/sdk
	cd clients/go && go build ./... && go vet ./...
	mvn -B -q -f clients/kotlin/pom.xml package && cp clients/kotlin/target/meetmesh-proto-*.jar dist/sdk/

web-build: node ## build the web client and the API reference (clients/web/dist, clients/docs/dist: the edge serves them at / and /docs)
	cd clients/web && npm run --silent build
	cd clients/docs && npm run --silent build

web: node ## web client dev server on :5173, proxying to a running platform's edge (make run)
	cd clients/web && npm run dev

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
	@if [ -d clients/web/node_modules ]; then cd clients/web && npx tsc --noEmit; else echo "clients/web: make node first to type-check the web client"; fi

protolint: install
	buf lint
	buf format -d --exit-code protos

check: lint types protolint ## format check, lint (ruff), types (mypy; strict for every service and the kit), proto lint

test: setup web-build ## set up what is missing, then run the test suite (it starts its own servers)
	$(PY) -m pytest $(PYTEST_ARGS)

models: install ## (re)build the Triton model repository under var/ (pinned packages, 5-10 min on 2 cores)
	$(PY) -m services.ai.modelbuild --out var/model_repository

bench: setup web-build ## run the benchmarks (prints figures and ratios)
	$(PY) -m bench

clean: ## remove the virtual environment and local state (./var: data, tools, models)
	rm -rf $(VENV) var node_modules clients/web/node_modules clients/web/dist .pytest_cache .mypy_cache .ruff_cache
