package sweeper_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/internal/inventory"
	"github.com/checkout-dev/checkout/internal/metrics"
	"github.com/checkout-dev/checkout/internal/partition"
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

// The sweep keeps the months ahead partitioned: on a clock far in the
// future it makes the partitions of that month and of the 3 after it, and
// publishes how far ahead they reach; the next sweep makes none. A sweep
// whose upkeep fails still succeeds, reports the upkeep's error and
// publishes nothing.
func TestSweepKeepsThePartitionsAhead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	inv := inventory.New(pool, inventory.Options{})
	later := func() time.Time { return time.Date(2040, time.May, 20, 0, 0, 0, 0, time.UTC) }
	rec := &recorder{}
	s := &sweeper.Sweeper{Inventory: inv, Metrics: rec, Partitions: &partition.Keeper{Pool: pool, Now: later}}
	res, err := s.Run(ctx)
	if err != nil || res.PartitionsCreated != 4*len(partition.Tables) || res.PartitionMonthsAhead != 3 || res.PartitionError != "" {
		t.Fatalf("first sweep: %+v, %v; want %d partitions created, 3 months ahead", res, err, 4*len(partition.Tables))
	}
	var name string
	if err := pool.QueryRow(ctx, `INSERT INTO audit_log (at, actor, action) VALUES ('2040-08-31 23:59:59Z', 't', 'future')
		RETURNING tableoid::regclass::text`).Scan(&name); err != nil || name != "audit_log_2040_08" {
		t.Errorf("a row of August 2040 went to %q (%v)", name, err)
	}
	res, err = s.Run(ctx)
	if err != nil || res.PartitionsCreated != 0 || res.PartitionMonthsAhead != 3 {
		t.Fatalf("second sweep: %+v, %v; want none created", res, err)
	}
	if got := rec.values(metrics.PartitionMonthsAhead, metrics.None); !slices.Equal(got, []float64{3, 3}) {
		t.Errorf("PartitionMonthsAhead published %v; want [3 3]", got)
	}

	// An upkeep that cannot run (too many months ahead for the function).
	broken := &sweeper.Sweeper{Inventory: inv, Metrics: rec, Partitions: &partition.Keeper{Pool: pool, Now: later, MonthsAhead: 99}}
	res, err = broken.Run(ctx)
	if err != nil || res.PartitionError == "" {
		t.Fatalf("sweep with a failing upkeep: %+v, %v; want the sweep to succeed and report the upkeep's error", res, err)
	}
	if got := rec.values(metrics.PartitionMonthsAhead, metrics.None); len(got) != 2 {
		t.Errorf("PartitionMonthsAhead published %v after a failed upkeep; want nothing more", got)
	}
}
