package catalogcache_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/catalog"
	"github.com/checkout-dev/checkout/internal/catalogcache"
	"github.com/checkout-dev/checkout/internal/postgres"
	"github.com/checkout-dev/checkout/internal/redistest"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

// Each test starts a Redis of its own (stopped with the test): the
// package's TestMain belongs to pgtest.
func TestMain(m *testing.M) { pgtest.Main(m, postgres.Migrate) }

// TestReadThroughAndInvalidation, on a real Redis and a real database: the
// first read loads the entry, the next ones do not touch the database; a
// price change invalidates it, so the next read shows the new price; an
// entry expires after its TTL; an unknown SKU is NotFound and not cached.
func TestReadThroughAndInvalidation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := redistest.ClientOn(t, redistest.StartPrivate(t, redistest.Options{}))
	store := catalog.NewStore(pgtest.NewPool(t))
	if _, err := store.Put(ctx, catalog.Product{SKU: "TEE-1", Name: "T-shirt", Amount: 1999, Currency: "USD"}, "test"); err != nil {
		t.Fatal(err)
	}
	var loads atomic.Int64
	load := func(ctx context.Context, sku string) (catalog.Product, error) {
		loads.Add(1)
		return store.Get(ctx, sku)
	}
	c := catalogcache.New(rdb, load, time.Second, prefix, nil)
	for i := range 5 {
		p, err := c.Get(ctx, "TEE-1")
		if err != nil || p.Amount != 1999 {
			t.Fatalf("read %d: %+v %v", i, p, err)
		}
	}
	if n := loads.Load(); n != 1 {
		t.Fatalf("%d database reads for 5 reads; want 1", n)
	}
	// An admin changes the price: after the invalidation the new price shows.
	if _, err := store.Put(ctx, catalog.Product{SKU: "TEE-1", Name: "T-shirt", Amount: 2499, Currency: "USD"}, "test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Invalidate(ctx, "TEE-1"); err != nil {
		t.Fatal(err)
	}
	if p, err := c.Get(ctx, "TEE-1"); err != nil || p.Amount != 2499 {
		t.Fatalf("after the change: %+v %v; want 2499", p, err)
	}
	// The TTL: after it, the database is read again.
	before := loads.Load()
	time.Sleep(1200 * time.Millisecond)
	if _, err := c.Get(ctx, "TEE-1"); err != nil || loads.Load() != before+1 {
		t.Fatalf("after the TTL: %d loads (err %v); want one more", loads.Load()-before, err)
	}
	// Unknown SKUs: NotFound every time, nothing cached.
	for range 2 {
		if _, err := c.Get(ctx, "NOPE-1"); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("unknown SKU: %v; want NotFound", err)
		}
	}
	if n, err := rdb.Exists(ctx, prefix+"catalog:NOPE-1").Result(); err != nil || n != 0 {
		t.Fatalf("an unknown SKU was cached (%d, %v)", n, err)
	}
}

// TestRedisDownFallsBackToTheDatabase: with Redis gone, reads still answer
// from the database.
func TestRedisDownFallsBackToTheDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := redistest.StartPrivate(t, redistest.Options{})
	rdb, prefix := redistest.ClientOn(t, srv)
	store := catalog.NewStore(pgtest.NewPool(t))
	if _, err := store.Put(ctx, catalog.Product{SKU: "MUG-1", Name: "Mug", Amount: 1250, Currency: "USD"}, "test"); err != nil {
		t.Fatal(err)
	}
	c := catalogcache.New(rdb, store.Get, 0, prefix, nil)
	if _, err := c.Get(ctx, "MUG-1"); err != nil {
		t.Fatal(err)
	}
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	if p, err := c.Get(ctx, "MUG-1"); err != nil || p.Amount != 1250 {
		t.Fatalf("with Redis down: %+v %v; want the database's entry", p, err)
	}
}
