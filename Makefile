# The two commands: `make dev` runs the whole stack locally, `make test` runs every test.
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
export GOBIN := $(BIN)
export PATH := $(BIN):$(PATH)

STATICCHECK_VERSION := v0.8.2

# Go modules of this repository: the product (.) and the local AWS emulator
# (localaws/, a nested module the product requires through a replace). `go
# test ./...` in one does not descend into the other, so the Go targets below
# run in each of them and fail if any failed.
MODULES := . localaws
# in-modules runs $(1) in every module's directory, all of them even after a
# failure, and fails at the end if one did.
define in-modules
	@status=0; for m in $(MODULES); do \
		echo "[$$m] $(1)"; (cd $$m && $(1)) || status=1; \
	done; exit $$status
endef

.PHONY: dev test lint tools fmt

## dev: start the local stack (PostgreSQL, migrations, demo catalog, ...)
dev:
	$(GO) build -o $(BIN)/checkout-local ./cmd/checkout-local
	@exec $(BIN)/checkout-local

## test: every test of both modules, on real PostgreSQL (installs the test tools first)
test: tools
	$(call in-modules,$(GO) test -count=1 -timeout 20m ./...)

## tools: third-party checkers the tests drive (asl-validator from npm)
tools: tools/asl/node_modules

tools/asl/node_modules: tools/asl/package.json tools/asl/package-lock.json
	cd tools/asl && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

## lint: gofmt, go vet, staticcheck (both modules), cfn-lint (mk/sam.mk)
lint: $(BIN)/staticcheck lint-template
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(call in-modules,$(GO) vet ./... && $(BIN)/staticcheck ./...)

$(BIN)/staticcheck:
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

fmt:
	gofmt -w $$(git ls-files '*.go')

# Feature makefiles (template lint, benchmarks, ...).
-include $(wildcard mk/*.mk)
