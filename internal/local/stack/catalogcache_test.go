package stack_test

import (
	"context"
	"testing"
)

// TestCatalogReadsGoThroughRedis: over HTTP, a product read fills the
// stack's Redis, and an admin's price change shows on the next read (the
// change invalidates the entry; no stale price for the TTL).
func TestCatalogReadsGoThroughRedis(t *testing.T) {
	t.Parallel()
	e := startE2E(t, roomy)
	e.product("E2E-CACHED", 1500, 10)
	if r := e.do("GET", "/v1/products/E2E-CACHED", "", e2eAPIKey, nil, ""); r.status != 200 || r.body["amount"] != float64(1500) {
		t.Fatalf("first read: %d %s", r.status, r.raw)
	}
	if n, err := e.stack.Redis().Exists(context.Background(), "catalog:E2E-CACHED").Result(); err != nil || n != 1 {
		t.Fatalf("the entry is not in Redis after a read (%d, %v)", n, err)
	}
	if r := e.admin("PUT", "/v1/admin/products/E2E-CACHED", `{"name":"Test E2E-CACHED","amount":1700,"currency":"USD"}`); r.status != 200 {
		t.Fatalf("price change: %d %s", r.status, r.raw)
	}
	if r := e.do("GET", "/v1/products/E2E-CACHED", "", e2eAPIKey, nil, ""); r.status != 200 || r.body["amount"] != float64(1700) {
		t.Fatalf("after the price change: %d %s; want 1700 at once", r.status, r.raw)
	}
}
