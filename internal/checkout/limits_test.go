package checkout_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/checkout"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

func wantLimit(t *testing.T, err error, code string) *apperr.Error {
	t.Helper()
	ae := apperr.As(err)
	if ae == nil || ae.Kind != apperr.State || ae.Code != code {
		t.Fatalf("err = %v; want State %s", err, code)
	}
	return ae
}

// cappedStore is a store on the seed catalog with TEE-1 capped at 2 per
// customer and room for 100 unfinished checkouts (the cap under test).
func cappedStore(t *testing.T) *checkout.Store {
	t.Helper()
	pool := pgtest.NewPool(t)
	seed(t, pool)
	if _, err := pool.Exec(context.Background(), `UPDATE products SET max_per_customer = 2 WHERE sku = 'TEE-1'`); err != nil {
		t.Fatal(err)
	}
	s := checkout.NewStore(pool)
	s.SetMaxUnfinished(100)
	return s
}

func TestUnfinishedCheckoutsAreCapped(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	seed(t, pool)
	s := checkout.NewStore(pool)
	ctx := context.Background()
	var first checkout.Checkout
	for i := range checkout.DefaultMaxUnfinished {
		c, _, err := s.CreateOrGet(ctx, "ann", fmt.Sprintf("k%d", i), visa(checkout.Item{SKU: "TEE-1", Quantity: 1}))
		if err != nil {
			t.Fatalf("checkout %d: %v", i, err)
		}
		if i == 0 {
			first = c
		}
	}
	before := count(t, pool, "checkouts")
	_, _, err := s.CreateOrGet(ctx, "ann", "one-too-many", visa(checkout.Item{SKU: "TEE-1", Quantity: 1}))
	ae := wantLimit(t, err, checkout.CodeTooManyUnfinished)
	if ae.Details["limit"] != checkout.DefaultMaxUnfinished {
		t.Errorf("details %v", ae.Details)
	}
	if n := count(t, pool, "checkouts"); n != before {
		t.Fatalf("%d checkouts after a refused one; want %d", n, before)
	}
	// A retry of an existing checkout is not a new one: no limit applies.
	if _, created, err := s.CreateOrGet(ctx, "ann", "k0", visa(checkout.Item{SKU: "TEE-1", Quantity: 1})); err != nil || created {
		t.Fatalf("retry of k0: created=%v err=%v", created, err)
	}
	// Another customer is not affected; a finished checkout frees a slot.
	if _, _, err := s.CreateOrGet(ctx, "bob", "k0", visa(checkout.Item{SKU: "TEE-1", Quantity: 1})); err != nil {
		t.Fatalf("bob: %v", err)
	}
	if err := s.Finish(ctx, first.ID, checkout.Failed("payment_declined", "declined")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateOrGet(ctx, "ann", "after-one-ended", visa(checkout.Item{SKU: "TEE-1", Quantity: 1})); err != nil {
		t.Fatalf("after one ended: %v", err)
	}
}

func TestPurchaseLimitPerCustomer(t *testing.T) {
	t.Parallel()
	s := cappedStore(t)
	ctx := context.Background()
	// More than the cap in one line: refused, naming the line.
	_, _, err := s.CreateOrGet(ctx, "ann", "big", visa(checkout.Item{SKU: "MUG-1", Quantity: 5}, checkout.Item{SKU: "TEE-1", Quantity: 3}))
	ae := wantLimit(t, err, checkout.CodePurchaseLimit)
	if ae.Field != "items[1].quantity" || ae.Details["sku"] != "TEE-1" || ae.Details["limit"] != 2 {
		t.Fatalf("error %+v", ae)
	}
	// Up to the cap, over several checkouts: the second unit fits, the third does not.
	c1, _, err := s.CreateOrGet(ctx, "ann", "one", visa(checkout.Item{SKU: "TEE-1", Quantity: 1}))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateOrGet(ctx, "ann", "two", visa(checkout.Item{SKU: "TEE-1", Quantity: 1})); err != nil {
		t.Fatal(err)
	}
	_, _, err = s.CreateOrGet(ctx, "ann", "three", visa(checkout.Item{SKU: "TEE-1", Quantity: 1}))
	if ae := wantLimit(t, err, checkout.CodePurchaseLimit); ae.Details["held"] != 2 {
		t.Fatalf("details %v; want held 2", ae.Details)
	}
	// A failed checkout does not count; a completed one does.
	if err := s.Finish(ctx, c1.ID, checkout.Failed("payment_declined", "declined")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateOrGet(ctx, "ann", "three", visa(checkout.Item{SKU: "TEE-1", Quantity: 1})); err != nil {
		t.Fatalf("after one failed: %v", err)
	}
	// Uncapped SKUs and other customers are free.
	if _, _, err := s.CreateOrGet(ctx, "ann", "mugs", visa(checkout.Item{SKU: "MUG-1", Quantity: 9})); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateOrGet(ctx, "bob", "two", visa(checkout.Item{SKU: "TEE-1", Quantity: 2})); err != nil {
		t.Fatal(err)
	}
}

// TestLimitsHoldUnderConcurrency: 20 concurrent checkouts of one customer
// for a SKU capped at 2 create exactly 2 (the customer's creations
// serialise).
func TestLimitsHoldUnderConcurrency(t *testing.T) {
	t.Parallel()
	s := cappedStore(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, limited := 0, 0
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := s.CreateOrGet(context.Background(), "ann", fmt.Sprintf("k%d", i), visa(checkout.Item{SKU: "TEE-1", Quantity: 1}))
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				ok++
			} else if ae := apperr.As(err); ae != nil && ae.Code == checkout.CodePurchaseLimit {
				limited++
			} else {
				t.Errorf("checkout %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if ok != 2 || limited != 18 {
		t.Fatalf("%d created, %d limited; want 2 and 18", ok, limited)
	}
}
