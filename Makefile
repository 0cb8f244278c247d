# The two commands: `make dev` runs the whole stack locally, `make test` runs every test.
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
export GOBIN := $(BIN)
export PATH := $(BIN):$(PATH)

STATICCHECK_VERSION := v0.8.2

.PHONY: dev test lint tools fmt

## dev: start the local stack (PostgreSQL, migrations, demo catalog, ...)
dev:
	$(GO) build -o $(BIN)/checkout-local ./cmd/checkout-local
	@exec $(BIN)/checkout-local

## test: every test, on real PostgreSQL (installs the test tools first)
test: tools
	$(GO) test -count=1 -timeout 20m ./...

## tools: third-party checkers the tests drive (asl-validator from npm)
tools: tools/asl/node_modules

tools/asl/node_modules: tools/asl/package.json tools/asl/package-lock.json
	cd tools/asl && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

## lint: gofmt, go vet, staticcheck, cfn-lint (mk/sam.mk)
lint: $(BIN)/staticcheck lint-template
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(BIN)/staticcheck ./...

$(BIN)/staticcheck:
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

fmt:
	gofmt -w $$(git ls-files '*.go')

# Feature makefiles (template lint, benchmarks, ...).
-include $(wildcard mk/*.mk)
