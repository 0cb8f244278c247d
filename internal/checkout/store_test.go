package checkout_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/checkout"
	"github.com/checkout-dev/checkout/internal/postgres"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m, postgres.Migrate) }

func seed(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	_, err := pool.Exec(context.Background(), `
		INSERT INTO products (sku, name, amount, currency) VALUES
			('TEE-1', 'T-shirt', 1999, 'USD'), ('MUG-1', 'Mug', 1250, 'USD'), ('EUR-1', 'Euro thing', 500, 'EUR');
		INSERT INTO inventory (sku, on_hand) VALUES ('TEE-1', 10), ('MUG-1', 10), ('EUR-1', 10)`)
	if err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, pool *pgxpool.Pool, table string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func visa(items ...checkout.Item) checkout.Request {
	return checkout.Request{Items: items, Currency: "USD", PaymentMethod: "pm_card_visa"}
}

func TestCreateOrGetPricesFromCatalog(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	seed(t, pool)
	s := checkout.NewStore(pool)
	c, created, err := s.CreateOrGet(context.Background(), "user-1", "key-1",
		visa(checkout.Item{SKU: "TEE-1", Quantity: 2}, checkout.Item{SKU: "MUG-1", Quantity: 1}))
	if err != nil || !created {
		t.Fatalf("CreateOrGet: created=%v err=%v", created, err)
	}
	if c.Amount != 2*1999+1250 || c.Currency != "USD" || c.Status != checkout.StatusPending {
		t.Fatalf("got amount %d %s status %s; want 5248 USD pending", c.Amount, c.Currency, c.Status)
	}
	if len(c.Items) != 2 || c.Items[0].SKU != "MUG-1" || c.Items[1].UnitAmount != 1999 {
		t.Fatalf("items = %+v", c.Items)
	}
	// Same key, same cart in another order: the same checkout, not a new one.
	again, created, err := s.CreateOrGet(context.Background(), "user-1", "key-1",
		visa(checkout.Item{SKU: "MUG-1", Quantity: 1}, checkout.Item{SKU: "TEE-1", Quantity: 2}))
	if err != nil || created || again.ID != c.ID {
		t.Fatalf("repeat: id %s created=%v err=%v; want %s, false, nil", again.ID, created, err, c.ID)
	}
	// The same key belongs to each user separately.
	other, created, err := s.CreateOrGet(context.Background(), "user-2", "key-1", visa(checkout.Item{SKU: "TEE-1", Quantity: 1}))
	if err != nil || !created || other.ID == c.ID {
		t.Fatalf("other user: created=%v err=%v", created, err)
	}
}

func TestSameKeyConcurrentlyCreatesOne(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	seed(t, pool)
	s := checkout.NewStore(pool)
	ids := make([]uuid.UUID, 20)
	errs := make([]error, 20)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, _, err := s.CreateOrGet(context.Background(), "user-1", "same-key", visa(checkout.Item{SKU: "TEE-1", Quantity: 1}))
			ids[i], errs[i] = c.ID, err
		}()
	}
	wg.Wait()
	for i := range ids {
		if errs[i] != nil || ids[i] != ids[0] {
			t.Fatalf("call %d: id %s err %v; want %s", i, ids[i], errs[i], ids[0])
		}
	}
	if n := count(t, pool, "checkouts"); n != 1 {
		t.Fatalf("%d checkouts; want 1", n)
	}
}

func TestReusedKeyWithOtherRequestIsRejected(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	seed(t, pool)
	s := checkout.NewStore(pool)
	ctx := context.Background()
	if _, _, err := s.CreateOrGet(ctx, "u", "k", visa(checkout.Item{SKU: "TEE-1", Quantity: 1})); err != nil {
		t.Fatal(err)
	}
	for _, req := range []checkout.Request{
		visa(checkout.Item{SKU: "TEE-1", Quantity: 2}),
		visa(checkout.Item{SKU: "MUG-1", Quantity: 1}),
		{Items: []checkout.Item{{SKU: "TEE-1", Quantity: 1}}, Currency: "USD", PaymentMethod: "pm_card_mastercard"},
	} {
		_, _, err := s.CreateOrGet(ctx, "u", "k", req)
		if ae := apperr.As(err); ae == nil || ae.Kind != apperr.Conflict || ae.Code != "idempotency_key_reused" {
			t.Errorf("%+v: err = %v; want idempotency_key_reused", req, err)
		}
	}
	if n := count(t, pool, "checkouts"); n != 1 {
		t.Fatalf("%d checkouts; want 1", n)
	}
	if n := count(t, pool, "checkout_items"); n != 1 {
		t.Fatalf("%d checkout items; want 1", n)
	}
}

func TestBadInputIsRejectedAndWritesNothing(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	seed(t, pool)
	s := checkout.NewStore(pool)
	many := make([]checkout.Item, checkout.MaxLines+1)
	for i := range many {
		many[i] = checkout.Item{SKU: fmt.Sprintf("SKU-%d", i), Quantity: 1}
	}
	tee := func(q int) checkout.Item { return checkout.Item{SKU: "TEE-1", Quantity: q} }
	cases := []struct {
		name  string
		key   string
		req   checkout.Request
		field string
	}{
		{"zero quantity", "k", visa(tee(0)), "items[0].quantity"},
		{"negative quantity", "k", visa(tee(-3)), "items[0].quantity"},
		{"huge quantity", "k", visa(tee(1 << 30)), "items[0].quantity"},
		{"unknown sku", "k", visa(tee(1), checkout.Item{SKU: "NOPE", Quantity: 1}), "items[1].sku"},
		{"malformed sku", "k", visa(checkout.Item{SKU: "bad sku!", Quantity: 1}), "items[0].sku"},
		{"empty sku", "k", visa(checkout.Item{Quantity: 1}), "items[0].sku"},
		{"empty cart", "k", visa(), "items"},
		{"too many lines", "k", visa(many...), "items"},
		{"duplicate sku", "k", visa(tee(1), checkout.Item{SKU: "MUG-1", Quantity: 1}, tee(2)), "items[2].sku"},
		{"currency mismatch", "k", checkout.Request{Items: []checkout.Item{{SKU: "EUR-1", Quantity: 1}}, Currency: "USD", PaymentMethod: "pm_card_visa"}, "currency"},
		{"lower-case currency", "k", checkout.Request{Items: []checkout.Item{tee(1)}, Currency: "usd", PaymentMethod: "pm_card_visa"}, "currency"},
		{"missing currency", "k", checkout.Request{Items: []checkout.Item{tee(1)}, PaymentMethod: "pm_card_visa"}, "currency"},
		{"missing payment method", "k", checkout.Request{Items: []checkout.Item{tee(1)}, Currency: "USD"}, "payment_method"},
		{"missing key", "", visa(tee(1)), "Idempotency-Key"},
		{"key too long", strings.Repeat("k", 300), visa(tee(1)), "Idempotency-Key"},
		{"key with space", "a b", visa(tee(1)), "Idempotency-Key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := s.CreateOrGet(context.Background(), "user-1", tc.key, tc.req)
			ae := apperr.As(err)
			if ae == nil || ae.Kind != apperr.Invalid || ae.Field != tc.field {
				t.Fatalf("err = %v; want Invalid naming %q", err, tc.field)
			}
		})
	}
	if n := count(t, pool, "checkouts") + count(t, pool, "checkout_items"); n != 0 {
		t.Fatalf("%d rows written by bad input; want 0", n)
	}
}

func TestFinishIsIdempotentAndFinal(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	seed(t, pool)
	s := checkout.NewStore(pool)
	ctx := context.Background()
	c, _, err := s.CreateOrGet(ctx, "u", "k", visa(checkout.Item{SKU: "TEE-1", Quantity: 1}))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(ctx, c.ID, checkout.Failed("payment_declined", "Your card was declined.")); err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(ctx, c.ID, checkout.Failed("payment_declined", "again")); err != nil {
		t.Fatalf("second identical Finish: %v", err)
	}
	if err := s.Finish(ctx, c.ID, checkout.Outcome{Status: checkout.StatusCompleted}); !apperr.Is(err, apperr.State) {
		t.Fatalf("completing a failed checkout: err = %v; want State", err)
	}
	if err := s.Finish(ctx, c.ID, checkout.NeedsReview("refund_failed", "refund failed")); err != nil {
		t.Fatalf("failed → needs_review: %v", err)
	}
	got, err := s.Get(ctx, c.ID)
	if err != nil || got.Status != checkout.StatusNeedsReview || got.FailureCode != "refund_failed" {
		t.Fatalf("got %s/%s err %v", got.Status, got.FailureCode, err)
	}
	if err := s.Finish(ctx, c.ID, checkout.Outcome{Status: checkout.StatusProcessing}); !apperr.Is(err, apperr.Invalid) {
		t.Fatalf("non-final status: err = %v; want Invalid", err)
	}
	if _, err := s.GetForUser(ctx, c.ID, "someone-else"); !apperr.Is(err, apperr.NotFound) {
		t.Fatalf("other user's checkout: err = %v; want NotFound", err)
	}
}
