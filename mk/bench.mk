# Benchmarks (cmd/bench). Results go to bench-results/ (git-ignored).
#
#   make bench        inventory strategies side by side on one hot SKU, next to
#                     the raw one-row UPDATE and the seed's SELECT … FOR UPDATE,
#                     on a fresh durable PostgreSQL cluster (or DATABASE_URL):
#                     c = 1, 8, 32, 64 clients, medians of 3 runs (~5-10 min on
#                     2 cores). BENCH_FLAGS=-quick for a smoke run.
#   make bench-e2e    starts the local stack (stack.Start, as checkout-local)
#                     in process on free ports with a temporary data dir and
#                     the template's request limits lifted (WAF, usage plan),
#                     drives it over HTTP at 8, 32, 64 clients, stops it.
#                     BENCH_E2E_FLAGS=-quick for a smoke run.

BENCH_FLAGS ?=
BENCH_E2E_FLAGS ?=

.PHONY: bench bench-e2e

## bench: inventory strategies vs the one-row limit (bench-results/inventory.{json,md})
bench:
	$(GO) run ./cmd/bench $(BENCH_FLAGS)

## bench-e2e: checkouts/s over HTTP against a local stack it starts and stops (bench-results/e2e.{json,md})
bench-e2e:
	$(GO) run ./cmd/bench -e2e -start-stack $(BENCH_E2E_FLAGS)

# Torture (cmd/torture): TORTURE_FLAGS="-n 500 -keep" for a smaller run.
TORTURE_FLAGS ?=

.PHONY: torture

## torture: 2,000 checkouts under random Stripe, webhook and Lambda faults and two SIGKILLs, then checkoutctl invariants
torture:
	$(GO) run ./cmd/torture $(TORTURE_FLAGS)
