package inventory_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/inventory"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

// queryCounter counts every statement and batch a pool sends.
type queryCounter struct{ n atomic.Int64 }

func (q *queryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	q.n.Add(1)
	return ctx
}
func (q *queryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (q *queryCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	q.n.Add(1)
	return ctx
}
func (q *queryCounter) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (q *queryCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// cacheFixture is a fixture whose pool counts its round trips and whose
// store runs the sold-out cache with its LISTEN connection.
func cacheFixture(t *testing.T, strategy inventory.Strategy, maxAge time.Duration) (*fixture, *queryCounter) {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(pgtest.NewDB(t))
	if err != nil {
		t.Fatal(err)
	}
	qc := &queryCounter{}
	cfg.ConnConfig.Tracer = qc
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	c := &clock{now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	store := inventory.New(pool, inventory.Options{Strategy: strategy, Now: c.Now, Actor: "test", Logger: quiet,
		SoldOutMaxAge: maxAge})
	if err := store.StartSoldOutCache(ctx); err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, ctx: context.Background(), pool: pool, store: store, clock: c}, qc
}

// eventually polls cond every 10ms for up to 2s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 2s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// reserveOK reports whether a fresh checkout can reserve cart now; any error
// but OutOfStock fails the test.
func (f *fixture) reserveOK(t *testing.T, cart []inventory.Line) bool {
	t.Helper()
	_, err := f.store.Reserve(f.ctx, f.checkout(), cart, f.expires())
	if err != nil && !apperr.Is(err, apperr.OutOfStock) {
		t.Fatalf("reserve: %v", err)
	}
	return err == nil
}

// TestSoldOutCache: once a SKU sells out, rejections come from memory (no
// database round trip, nothing written); a restock and a release each make
// the next reserve succeed shortly after they commit.
func TestSoldOutCache(t *testing.T) {
	t.Parallel()
	for _, s := range []inventory.Strategy{inventory.Bucketed, inventory.Pessimistic} {
		t.Run(string(s), func(t *testing.T) {
			t.Parallel()
			f, qc := cacheFixture(t, s, time.Minute) // only notifications invalidate here
			f.product("HOT", 2)
			f.product("COLD", 5)
			first := f.checkout()
			_, err := f.store.Reserve(f.ctx, first, lines("HOT", 2), f.expires())
			mustOK(t, err)
			// A refusal sees the shortage in the database and remembers it.
			// The notifications of the set-up's own stock changes may still
			// arrive and clear that memory once, so refuse until a refusal
			// comes from the cache: from then on nothing else is in flight.
			eventually(t, "HOT remembered as sold out", func() bool {
				hits := f.store.SoldOutStats().Hits
				if f.reserveOK(t, lines("HOT", 1)) {
					t.Fatal("reserved a sold-out SKU")
				}
				return f.store.SoldOutStats().Hits > hits
			})
			buyers := f.checkouts(50)
			before, hits := qc.n.Load(), f.store.SoldOutStats().Hits
			for _, id := range buyers {
				_, err := f.store.Reserve(f.ctx, id, lines("COLD", 1, "HOT", 1), f.expires())
				ae := wantKind(t, err, apperr.OutOfStock, "out_of_stock")
				if ae.Details["sku"] != "HOT" || ae.Details["available"] != 0 || ae.Details["requested"] != 1 {
					t.Fatalf("details %v", ae.Details)
				}
			}
			avail, err := f.store.Available(f.ctx, []string{"HOT"})
			mustOK(t, err)
			if avail["HOT"] != 0 {
				t.Errorf("available %v", avail)
			}
			if n := qc.n.Load() - before; n != 0 {
				t.Errorf("%d database round trips for 51 cached refusals, want 0", n)
			}
			if got := f.store.SoldOutStats().Hits - hits; got != 51 {
				t.Errorf("%d cache hits, want 51", got)
			}
			f.wantLevel("HOT", 2, 2)
			f.wantLevel("COLD", 5, 0)
			if n := f.count(`SELECT count(*) FROM reservations`); n != 1 {
				t.Errorf("%d reservation rows, want 1", n)
			}
			// A retry of the reservation this process made still replays.
			res, err := f.store.Reserve(f.ctx, first, lines("HOT", 2), f.expires())
			mustOK(t, err)
			if !res.Replayed {
				t.Error("retry not replayed")
			}

			// Restock: the next reserve succeeds soon after the commit.
			_, err = f.store.SetOnHand(f.ctx, "HOT", 3)
			mustOK(t, err)
			eventually(t, "reserve after restock", func() bool { return f.reserveOK(t, lines("HOT", 1)) })
			if f.reserveOK(t, lines("HOT", 1)) {
				t.Fatal("reserved past the restocked units")
			}
			eventually(t, "cached again", func() bool { return f.store.SoldOutStats().Entries == 1 })

			// Release: the same.
			released, err := f.store.Release(f.ctx, first)
			mustOK(t, err)
			if !released {
				t.Fatal("nothing released")
			}
			eventually(t, "reserve after release", func() bool { return f.reserveOK(t, lines("HOT", 2)) })
			f.wantLevel("HOT", 3, 3)
		})
	}
}

// TestSoldOutCacheExpiryNotifies: the sweeper's release invalidates too.
func TestSoldOutCacheExpiryNotifies(t *testing.T) {
	t.Parallel()
	f, _ := cacheFixture(t, inventory.Bucketed, time.Minute)
	f.product("HOT", 1)
	_, err := f.store.Reserve(f.ctx, f.checkout(), lines("HOT", 1), f.expires())
	mustOK(t, err)
	if f.reserveOK(t, lines("HOT", 1)) {
		t.Fatal("reserved a sold-out SKU")
	}
	f.clock.Advance(time.Hour)
	n, err := f.store.ExpireDue(f.ctx, 10)
	mustOK(t, err)
	if n != 1 {
		t.Fatalf("expired %d", n)
	}
	eventually(t, "reserve after expiry", func() bool { return f.reserveOK(t, lines("HOT", 1)) })
}

// TestSoldOutCacheReconnectClears: when the LISTEN connection is lost, the
// listener reconnects and forgets every entry, since notifications may have
// been missed meanwhile.
func TestSoldOutCacheReconnectClears(t *testing.T) {
	t.Parallel()
	f, _ := cacheFixture(t, inventory.Bucketed, time.Hour)
	f.product("HOT", 1)
	_, err := f.store.Reserve(f.ctx, f.checkout(), lines("HOT", 1), f.expires())
	mustOK(t, err)
	if f.reserveOK(t, lines("HOT", 1)) {
		t.Fatal("reserved a sold-out SKU")
	}
	// Stock comes back without a notification (triggers off for this
	// session): only a reconnect can make the cache forget.
	conn, err := f.pool.Acquire(f.ctx)
	mustOK(t, err)
	_, err = conn.Exec(f.ctx, `SET session_replication_role = replica`)
	mustOK(t, err)
	_, err = conn.Exec(f.ctx, `UPDATE inventory SET on_hand = on_hand + 1 WHERE sku = 'HOT'`)
	mustOK(t, err)
	_, err = conn.Exec(f.ctx, `RESET session_replication_role`)
	mustOK(t, err)
	conn.Release()
	if f.reserveOK(t, lines("HOT", 1)) {
		t.Fatal("the cache was not used (the restock did not notify)")
	}
	if f.store.SoldOutStats().Entries != 1 {
		t.Fatalf("stats %+v", f.store.SoldOutStats())
	}
	if n := f.count(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query ILIKE 'listen%'`); n != 1 {
		t.Fatalf("terminated %d listeners, want 1", n)
	}
	eventually(t, "reconnect", func() bool {
		st := f.store.SoldOutStats()
		return st.Reconnects == 1 && st.Listening
	})
	if st := f.store.SoldOutStats(); st.Entries != 0 {
		t.Errorf("entries after reconnect %+v", st)
	}
	if !f.reserveOK(t, lines("HOT", 1)) {
		t.Error("reserve refused after the reconnect")
	}
}

// TestSoldOutCacheMaxAge: without a listener (Options.SoldOutCache, as in
// Lambda) an entry lives at most SoldOutMaxAge.
func TestSoldOutCacheMaxAge(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	c := &clock{now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	store := inventory.New(pool, inventory.Options{Now: c.Now, Logger: quiet, SoldOutCache: true, SoldOutMaxAge: 100 * time.Millisecond})
	f := &fixture{t: t, ctx: context.Background(), pool: pool, store: store, clock: c}
	f.product("HOT", 0)
	if f.reserveOK(t, lines("HOT", 1)) {
		t.Fatal("reserved a sold-out SKU")
	}
	if st := store.SoldOutStats(); !st.Enabled || st.Listening || st.Entries != 1 {
		t.Fatalf("stats %+v", st)
	}
	_, err := store.SetOnHand(f.ctx, "HOT", 1)
	mustOK(t, err)
	eventually(t, "reserve after max age", func() bool { return f.reserveOK(t, lines("HOT", 1)) })
}
