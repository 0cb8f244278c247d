package sweeper_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/internal/inventory"
	"github.com/checkout-dev/checkout/internal/postgres"
	"github.com/checkout-dev/checkout/internal/redistest"
	"github.com/checkout-dev/checkout/internal/sweeper"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

func TestMain(m *testing.M) {
	pgtest.AtExit(redistest.StopShared) // the stock gate tests' Redis
	pgtest.Main(m, postgres.Migrate)
}

func TestSweepReleasesOnlyExpiredHolds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	if _, err := pool.Exec(ctx, `INSERT INTO products (sku, name, amount, currency) VALUES ('A-1', 'a', 100, 'USD');
		INSERT INTO inventory (sku, on_hand) VALUES ('A-1', 1000)`); err != nil {
		t.Fatal(err)
	}
	inv := inventory.New(pool, inventory.Options{})
	// 250 holds expiring in a minute (more than one batch) and 3 in an hour.
	for i := 0; i < 253; i++ {
		id := uuid.New()
		if _, err := pool.Exec(ctx, `INSERT INTO checkouts (id, user_id, idempotency_key, request_fingerprint, amount, currency, payment_method)
			VALUES ($1, 'u', $2, '\x00', 100, 'USD', 'pm_card_visa')`, id, fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
		expires := time.Now().Add(time.Minute)
		if i >= 250 {
			expires = time.Now().Add(time.Hour)
		}
		if _, err := inv.Reserve(ctx, id, []inventory.Line{{SKU: "A-1", Quantity: 2}}, expires); err != nil {
			t.Fatal(err)
		}
	}
	// The sweeper's clock is 30 minutes ahead: 250 holds are due, 3 are not.
	later := inventory.New(pool, inventory.Options{Now: func() time.Time { return time.Now().Add(30 * time.Minute) }})
	res, err := (&sweeper.Sweeper{Inventory: later}).Run(ctx)
	if err != nil || res.Released != 250 {
		t.Fatalf("released %d, err %v; want 250, nil", res.Released, err)
	}
	l, err := inv.Level(ctx, "A-1")
	if err != nil || l.Reserved != 6 || l.OnHand != 1000 {
		t.Fatalf("level %+v %v; want 6 reserved of 1000", l, err)
	}
	if res, err := (&sweeper.Sweeper{Inventory: later}).Run(ctx); err != nil || res.Released != 0 {
		t.Fatalf("second sweep released %d, err %v; want 0", res.Released, err)
	}
}
