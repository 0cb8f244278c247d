package catalog_test

import (
	"context"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/catalog"
	"github.com/checkout-dev/checkout/internal/postgres"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m, postgres.Migrate) }

func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPutCreatesUpdatesAndAudits(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	s := catalog.NewStore(pool)
	ctx := context.Background()
	p := catalog.Product{SKU: "TEE-1", Name: "T-shirt", Amount: 1999, Currency: "USD"}
	if created, err := s.Put(ctx, p, "admin:ann"); err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	if n := count(t, pool, `SELECT count(*) FROM inventory WHERE sku = 'TEE-1' AND on_hand = 0`); n != 1 {
		t.Fatalf("%d empty inventory rows; want 1", n)
	}
	if created, err := s.Put(ctx, p, "admin:ann"); err != nil || created {
		t.Fatalf("same values again: %v %v", created, err)
	}
	p.Amount = 2499
	if created, err := s.Put(ctx, p, "admin:bob"); err != nil || created {
		t.Fatalf("update: %v %v", created, err)
	}
	got, err := s.Get(ctx, "TEE-1")
	if err != nil || got != p {
		t.Fatalf("get %+v %v; want %+v", got, err, p)
	}
	if n := count(t, pool, `SELECT count(*) FROM audit_log WHERE sku = 'TEE-1' AND action IN ('product_created', 'product_updated')`); n != 2 {
		t.Fatalf("%d audit rows; want 2 (created, updated; the repeat writes none)", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM audit_log WHERE action = 'product_updated' AND actor = 'admin:bob'
		AND amount = 2499 AND (detail->'previous'->>'amount')::bigint = 1999`); n != 1 {
		t.Fatal("the update's audit row does not name the actor, the new price and the previous one")
	}
	if _, err := s.Get(ctx, "NOPE"); !apperr.Is(err, apperr.NotFound) {
		t.Fatalf("get unknown: %v; want NotFound", err)
	}
}

func TestPutIfMissingNeverOverwrites(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	s := catalog.NewStore(pool)
	ctx := context.Background()
	if _, err := s.Put(ctx, catalog.Product{SKU: "MUG-1", Name: "Mug", Amount: 1200, Currency: "USD"}, "admin:ann"); err != nil {
		t.Fatal(err)
	}
	created, err := s.PutIfMissing(ctx, catalog.Product{SKU: "MUG-1", Name: "Other", Amount: 1, Currency: "EUR"}, "seed")
	if err != nil || created {
		t.Fatalf("%v %v; want not created", created, err)
	}
	if got, _ := s.Get(ctx, "MUG-1"); got.Name != "Mug" || got.Amount != 1200 {
		t.Fatalf("overwritten: %+v", got)
	}
}

func TestBadProductWritesNothing(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	s := catalog.NewStore(pool)
	for _, tc := range []struct {
		p     catalog.Product
		field string
	}{
		{catalog.Product{SKU: "bad sku", Name: "x", Amount: 1, Currency: "USD"}, "sku"},
		{catalog.Product{SKU: "A", Name: "", Amount: 1, Currency: "USD"}, "name"},
		{catalog.Product{SKU: "A", Name: "mug\x00", Amount: 1, Currency: "USD"}, "name"},
		{catalog.Product{SKU: "A", Name: "mug\x1b[31m", Amount: 1, Currency: "USD"}, "name"},
		{catalog.Product{SKU: "A", Name: "mug \u202egpj.exe", Amount: 1, Currency: "USD"}, "name"},
		{catalog.Product{SKU: "A", Name: "mug\u2066x\u2069", Amount: 1, Currency: "USD"}, "name"},
		{catalog.Product{SKU: "A", Name: "x", Amount: -1, Currency: "USD"}, "amount"},
		{catalog.Product{SKU: "A", Name: "x", Amount: catalog.MaxAmount + 1, Currency: "USD"}, "amount"},
		{catalog.Product{SKU: "A", Name: "x", Amount: 1, Currency: "usd"}, "currency"},
	} {
		_, err := s.Put(context.Background(), tc.p, "admin:ann")
		if ae := apperr.As(err); ae == nil || ae.Kind != apperr.Invalid || ae.Field != tc.field {
			t.Errorf("%+v: %v; want Invalid %s", tc.p, err, tc.field)
		}
	}
	if n := count(t, pool, `SELECT count(*) FROM products`) + count(t, pool, `SELECT count(*) FROM audit_log`); n != 0 {
		t.Fatalf("%d rows written by bad input", n)
	}
}

func TestConcurrentCreatesMakeOneProduct(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	s := catalog.NewStore(pool)
	var wg sync.WaitGroup
	created := make(chan bool, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := s.Put(context.Background(), catalog.Product{SKU: "HOT-1", Name: "Hot", Amount: 100, Currency: "USD"}, "admin:ann")
			if err != nil {
				t.Error(err)
			}
			created <- c
		}()
	}
	wg.Wait()
	close(created)
	n := 0
	for c := range created {
		if c {
			n++
		}
	}
	if n != 1 || count(t, pool, `SELECT count(*) FROM products`) != 1 || count(t, pool, `SELECT count(*) FROM inventory`) != 1 {
		t.Fatalf("%d creations reported; want one product, one inventory row", n)
	}
}
