package sweeper_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/inventory"
	"github.com/checkout-dev/checkout/internal/metrics"
	"github.com/checkout-dev/checkout/internal/redistest"
	"github.com/checkout-dev/checkout/internal/stockgate"
	"github.com/checkout-dev/checkout/internal/sweeper"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

var quiet = slog.New(slog.DiscardHandler)

// recorder keeps the entries a sweep publishes.
type recorder struct {
	mu      sync.Mutex
	entries []metrics.Entry
}

func (r *recorder) Record(_ context.Context, e metrics.Entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries = append(r.entries, e)
}

// values returns the values of metric name in unit published so far.
func (r *recorder) values(name string, unit metrics.Unit) []float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []float64
	for _, e := range r.entries {
		for _, m := range e.Metrics {
			if m.Name == name && m.Unit == unit {
				out = append(out, m.Value)
			}
		}
	}
	return out
}

// discrepancies returns the InventoryDiscrepancy values published so far.
func (r *recorder) discrepancies() []float64 {
	return r.values(metrics.InventoryDiscrepancy, metrics.Count)
}

// gated is a database with two products, A-1 (armed in the gate) and B-1
// (not armed), a stock gate on srv, the buyers' gated store and the
// sweeper's (its clock 30 minutes ahead, so that holds expiring in a
// minute are due).
type gated struct {
	ctx          context.Context
	pool         *pgxpool.Pool
	gate         *stockgate.Gate
	store, later *inventory.Store
}

func newGated(t *testing.T, srv *redistest.Server, timeout time.Duration) *gated {
	t.Helper()
	g := &gated{ctx: context.Background(), pool: pgtest.NewPool(t)}
	rdb, prefix := redistest.ClientOn(t, srv)
	var err error
	if g.gate, err = stockgate.New(rdb, stockgate.Options{Namespace: prefix + "gate", Timeout: timeout}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.pool.Exec(g.ctx, `INSERT INTO products (sku, name, amount, currency) VALUES ('A-1', 'a', 100, 'USD'), ('B-1', 'b', 100, 'USD');
		INSERT INTO inventory (sku, on_hand) VALUES ('A-1', 10), ('B-1', 10)`); err != nil {
		t.Fatal(err)
	}
	opts := inventory.Options{Strategy: inventory.Gated, Gate: g.gate, GateBuckets: 4, Logger: quiet}
	g.store = inventory.New(g.pool, opts)
	opts.Now = func() time.Time { return time.Now().Add(30 * time.Minute) }
	g.later = inventory.New(g.pool, opts)
	if _, err := g.store.ArmGate(g.ctx, "A-1"); err != nil {
		t.Fatal(err)
	}
	return g
}

// reserve holds n units of sku for a new checkout, expiring in a minute.
func (g *gated) reserve(t *testing.T, sku string, n int) {
	t.Helper()
	id := uuid.New()
	if _, err := g.pool.Exec(g.ctx, `INSERT INTO checkouts (id, user_id, idempotency_key, request_fingerprint, amount, currency, payment_method)
		VALUES ($1, 'u', $2, '\x00', 100, 'USD', 'pm_card_visa')`, id, id.String()); err != nil {
		t.Fatal(err)
	}
	if _, err := g.store.Reserve(g.ctx, id, []inventory.Line{{SKU: sku, Quantity: n}}, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
}

// TestSweepSyncsTheStockGate: each run expires the due holds, then finds
// the gate's error (a lie, high or low, or a SKU Redis lost), repairs it,
// reports it in its result and as InventoryDiscrepancy; the next run finds
// the gate exact and publishes 0.
func TestSweepSyncsTheStockGate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		spoil       func(t *testing.T, g *gated)
		discrepancy int
		rearmed     int
	}{
		{"the gate lies high", func(t *testing.T, g *gated) {
			if _, err := g.gate.Arm(g.ctx, stockgate.ArmRequest{SKU: "A-1", Available: 25}); err != nil {
				t.Fatal(err)
			}
		}, 15, 0},
		{"the gate lies low", func(t *testing.T, g *gated) {
			if _, err := g.gate.Arm(g.ctx, stockgate.ArmRequest{SKU: "A-1", Available: 4}); err != nil {
				t.Fatal(err)
			}
		}, 6, 0},
		{"Redis lost the SKU", func(t *testing.T, g *gated) {
			if _, err := g.gate.Disarm(g.ctx, "A-1"); err != nil {
				t.Fatal(err)
			}
		}, 0, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := newGated(t, redistest.Shared(t), 10*time.Second)
			tc.spoil(t, g)
			g.reserve(t, "B-1", 2) // not armed: the database alone; due for the sweeper
			rec := &recorder{}
			sw := &sweeper.Sweeper{Inventory: g.later, Log: quiet, Metrics: rec}

			res, err := sw.Run(g.ctx)
			if err != nil || res.Released != 1 || res.GateSKUs != 1 || res.GateDiscrepancy != tc.discrepancy ||
				res.GateRearmed != tc.rearmed || res.GateError != "" {
				t.Fatalf("first sweep %+v, err %v; want 1 released, 1 SKU synced, discrepancy %d, %d rearmed",
					res, err, tc.discrepancy, tc.rearmed)
			}
			st, err := g.store.GateStatus(g.ctx, "A-1")
			if err != nil || !st.InGate || st.GateAvailable != 10 || st.Discrepancy != 0 {
				t.Fatalf("after the sweep: %+v, %v; want 10 units in the gate, no discrepancy", st, err)
			}
			res, err = sw.Run(g.ctx)
			if err != nil || res.Released != 0 || res.GateSKUs != 1 || res.GateDiscrepancy != 0 || res.GateRearmed != 0 {
				t.Fatalf("second sweep %+v, err %v; want nothing to do", res, err)
			}
			if got := rec.discrepancies(); len(got) != 2 || got[0] != float64(tc.discrepancy) || got[1] != 0 {
				t.Fatalf("InventoryDiscrepancy published %v; want [%d 0]", got, tc.discrepancy)
			}
		})
	}
}

// TestSweepWithoutAGate: a store with no gate sweeps as before, syncs
// nothing and publishes nothing.
func TestSweepWithoutAGate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	if _, err := pool.Exec(ctx, `INSERT INTO products (sku, name, amount, currency) VALUES ('A-1', 'a', 100, 'USD');
		INSERT INTO inventory (sku, on_hand) VALUES ('A-1', 10)`); err != nil {
		t.Fatal(err)
	}
	for _, strategy := range []inventory.Strategy{inventory.Gated, inventory.Bucketed} {
		t.Run(string(strategy), func(t *testing.T) {
			g := &gated{ctx: ctx, pool: pool, store: inventory.New(pool, inventory.Options{Strategy: strategy, Logger: quiet})}
			g.reserve(t, "A-1", 3)
			later := inventory.New(pool, inventory.Options{Strategy: strategy, Logger: quiet,
				Now: func() time.Time { return time.Now().Add(30 * time.Minute) }})
			rec := &recorder{}
			res, err := (&sweeper.Sweeper{Inventory: later, Log: quiet, Metrics: rec}).Run(ctx)
			if err != nil || res.Released != 1 || res.GateSKUs != 0 || res.GateDiscrepancy != 0 || res.GateError != "" {
				t.Fatalf("sweep %+v, err %v; want 1 released and no gate", res, err)
			}
			if len(rec.entries) != 0 {
				t.Fatalf("published %+v without a gate; want nothing", rec.entries)
			}
		})
	}
}

// TestSweepWithRedisDown: with the gate's Redis killed, the sweep still
// releases the due holds and answers no error; the failed sync is in
// GateError and publishes no figure it did not measure.
func TestSweepWithRedisDown(t *testing.T) {
	t.Parallel()
	srv := redistest.StartPrivate(t, redistest.Options{})
	g := newGated(t, srv, time.Second)
	g.reserve(t, "A-1", 2) // held by the gate
	g.reserve(t, "B-1", 1)
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	res, err := (&sweeper.Sweeper{Inventory: g.later, Log: quiet, Metrics: rec}).Run(g.ctx)
	if err != nil || res.Released != 2 || res.GateError == "" || res.GateDiscrepancy != 0 {
		t.Fatalf("sweep %+v, err %v; want 2 released, the sync's error reported, no error", res, err)
	}
	if got := rec.discrepancies(); len(got) != 0 {
		t.Fatalf("InventoryDiscrepancy published %v with Redis down; want nothing", got)
	}
	var reserved int
	if err := g.pool.QueryRow(g.ctx, `SELECT count(*) FROM reservations WHERE status = 'reserved'`).Scan(&reserved); err != nil || reserved != 0 {
		t.Fatalf("%d reservations still reserved (err %v); want 0", reserved, err)
	}
}
