package inventory_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/inventory"
	"github.com/checkout-dev/checkout/internal/postgres"
	"github.com/checkout-dev/checkout/internal/redistest"
	"github.com/checkout-dev/checkout/internal/stockgate"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

func TestMain(m *testing.M) {
	pgtest.AtExit(redistest.StopShared) // the gated fixtures' Redis
	pgtest.Main(m, postgres.Migrate)
}

// quiet drops the store's logs in tests.
var quiet = slog.New(slog.DiscardHandler)

// clock is an injectable, settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fixture is one fresh database with a store using one strategy.
type fixture struct {
	t     testing.TB
	ctx   context.Context
	pool  *pgxpool.Pool
	store *inventory.Store
	clock *clock
	gate  *stockgate.Gate // Gated only
}

func newFixture(t testing.TB, strategy inventory.Strategy) *fixture {
	t.Helper()
	pool := pgtest.NewPool(t)
	c := &clock{now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	opts := inventory.Options{Strategy: strategy, Now: c.Now, Actor: "test", Logger: quiet,
		// A lock wait in these tests only ends in a timeout on a machine so
		// loaded that 5 s pass; a deadlock is still detected in 1 s.
		LockTimeout: 30 * time.Second}
	if strategy == inventory.Gated {
		opts.Gate, opts.GateBuckets = newGate(t, redistest.Shared(t)), testBuckets
	}
	store := inventory.New(pool, opts)
	return &fixture{t: t, ctx: context.Background(), pool: pool, store: store, clock: c, gate: opts.Gate}
}

// newGate returns a stock gate of the test's own on srv.
func newGate(t testing.TB, srv *redistest.Server) *stockgate.Gate {
	t.Helper()
	rdb, prefix := redistest.ClientOn(t, srv)
	g, err := stockgate.New(rdb, stockgate.Options{Namespace: prefix + "gate", Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// forEachStrategy runs fn as one subtest per strategy, each on its own
// database, in parallel.
func forEachStrategy(t *testing.T, fn func(t *testing.T, f *fixture)) {
	t.Helper()
	for _, s := range inventory.Strategies {
		t.Run(string(s), func(t *testing.T) {
			t.Parallel()
			fn(t, newFixture(t, s))
		})
	}
}

// testBuckets is how many buckets every SKU of a Bucketed fixture is split
// over, so that the shared tests exercise the buckets, not only the
// inventory row.
const testBuckets = 4

// product adds a catalog entry and, when onHand >= 0, its inventory row (split
// over testBuckets buckets for the Bucketed strategy).
func (f *fixture) product(sku string, onHand int) {
	f.t.Helper()
	if _, err := f.pool.Exec(f.ctx, `INSERT INTO products (sku, name, amount, currency) VALUES ($1, $1, 1999, 'USD')`, sku); err != nil {
		f.t.Fatalf("insert product %s: %v", sku, err)
	}
	if onHand < 0 {
		return
	}
	if _, err := f.pool.Exec(f.ctx, `INSERT INTO inventory (sku, on_hand) VALUES ($1, $2)`, sku, onHand); err != nil {
		f.t.Fatalf("insert inventory %s: %v", sku, err)
	}
	switch f.store.Strategy() {
	case inventory.Bucketed:
		if _, err := f.store.SetBuckets(f.ctx, sku, testBuckets); err != nil {
			f.t.Fatalf("split %s: %v", sku, err)
		}
	case inventory.Gated: // armed, which splits it over testBuckets buckets
		if _, err := f.store.ArmGate(f.ctx, sku); err != nil {
			f.t.Fatalf("arm %s: %v", sku, err)
		}
	}
}

// checkouts inserts n checkout rows (reservations reference them).
func (f *fixture) checkouts(n int) []uuid.UUID {
	f.t.Helper()
	ids := make([]uuid.UUID, n)
	keys := make([]string, n)
	for i := range ids {
		ids[i] = uuid.New()
		keys[i] = ids[i].String()
	}
	fp := make([]byte, 32)
	_, _ = rand.Read(fp)
	_, err := f.pool.Exec(f.ctx, `
		INSERT INTO checkouts (id, user_id, idempotency_key, request_fingerprint, amount, currency, payment_method)
		SELECT id, 'user-1', key, $3, 1999, 'USD', 'pm_card_visa'
		FROM unnest($1::uuid[], $2::text[]) AS u(id, key)`, ids, keys, fp)
	if err != nil {
		f.t.Fatalf("insert checkouts: %v", err)
	}
	return ids
}

func (f *fixture) checkout() uuid.UUID { f.t.Helper(); return f.checkouts(1)[0] }

// expires is a reservation deadline 15 minutes after the fixture's clock.
func (f *fixture) expires() time.Time { return f.clock.Now().Add(15 * time.Minute) }

// level reads the stock rows directly (not through the store): the
// inventory row plus its buckets (the inventory_levels view), after checking
// that no stock row breaks the invariants.
func (f *fixture) level(sku string) (onHand, reserved int) {
	f.t.Helper()
	if n := f.count(`SELECT count(*) FROM (SELECT on_hand, reserved FROM inventory WHERE sku = $1
		UNION ALL SELECT on_hand, reserved FROM inventory_buckets WHERE sku = $1) r
		WHERE r.on_hand < 0 OR r.reserved < 0 OR r.reserved > r.on_hand`, sku); n != 0 {
		f.t.Errorf("%s: %d stock rows break on_hand >= 0, 0 <= reserved <= on_hand", sku, n)
	}
	if err := f.pool.QueryRow(f.ctx, `SELECT on_hand, reserved FROM inventory_levels WHERE sku = $1`, sku).Scan(&onHand, &reserved); err != nil {
		f.t.Fatalf("read inventory %s: %v", sku, err)
	}
	return onHand, reserved
}

func (f *fixture) wantLevel(sku string, onHand, reserved int) {
	f.t.Helper()
	if gotOn, gotRes := f.level(sku); gotOn != onHand || gotRes != reserved {
		f.t.Errorf("%s: on_hand=%d reserved=%d, want on_hand=%d reserved=%d", sku, gotOn, gotRes, onHand, reserved)
	}
}

// count runs a SELECT count(*) query.
func (f *fixture) count(query string, args ...any) int {
	f.t.Helper()
	var n int
	if err := f.pool.QueryRow(f.ctx, query, args...).Scan(&n); err != nil {
		f.t.Fatalf("%s: %v", query, err)
	}
	return n
}

func (f *fixture) auditCount(action string) int {
	f.t.Helper()
	return f.count(`SELECT count(*) FROM audit_log WHERE action = $1`, action)
}

// status returns the reservation rows' statuses of a checkout as "sku:status[:reason]".
func (f *fixture) statuses(id uuid.UUID) []string {
	f.t.Helper()
	rows, err := f.pool.Query(f.ctx, `SELECT sku, status, coalesce(release_reason, '') FROM reservations
		WHERE checkout_id = $1 ORDER BY sku`, id)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var sku, st, reason string
		if err := rows.Scan(&sku, &st, &reason); err != nil {
			f.t.Fatal(err)
		}
		if reason != "" {
			st += ":" + reason
		}
		out = append(out, sku+":"+st)
	}
	if err := rows.Err(); err != nil {
		f.t.Fatal(err)
	}
	return out
}

// commit runs CommitTx in its own transaction and commits it when CommitTx
// succeeds.
func (f *fixture) commit(id uuid.UUID) error {
	f.t.Helper()
	tx, err := f.pool.Begin(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	defer tx.Rollback(f.ctx) //nolint:errcheck
	if err := f.store.CommitTx(f.ctx, tx, id); err != nil {
		return err
	}
	if err := tx.Commit(f.ctx); err != nil {
		f.t.Fatalf("commit order tx: %v", err)
	}
	return nil
}

// wantKind fails unless err has kind (and code, when code is not empty).
func wantKind(t testing.TB, err error, kind apperr.Kind, code string) *apperr.Error {
	t.Helper()
	ae := apperr.As(err)
	if err == nil || ae == nil || ae.Kind != kind || (code != "" && ae.Code != code) {
		t.Fatalf("error = %v (kind %v), want kind %v code %q", err, apperr.KindOf(err), kind, code)
	}
	return ae
}

func mustOK(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v (kind %v)", err, apperr.KindOf(err))
	}
}

func lines(pairs ...any) []inventory.Line {
	var out []inventory.Line
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, inventory.Line{SKU: pairs[i].(string), Quantity: pairs[i+1].(int)})
	}
	return out
}

func manyLines(n int) []inventory.Line {
	out := make([]inventory.Line, n)
	for i := range out {
		out[i] = inventory.Line{SKU: fmt.Sprintf("SKU-%03d", i), Quantity: 1}
	}
	return out
}
