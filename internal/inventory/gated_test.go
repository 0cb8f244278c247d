package inventory_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/inventory"
	"github.com/checkout-dev/checkout/internal/redistest"
	"github.com/checkout-dev/checkout/internal/stockgate"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

// gateState reads the SKU's standing and checks it against what the test
// expects of the gate: in the gate, available and held as given, and no
// discrepancy with the database.
func (f *fixture) wantGate(sku string, available, held int) inventory.GateState {
	f.t.Helper()
	st, err := f.store.GateStatus(f.ctx, sku)
	if err != nil {
		f.t.Fatalf("gate status of %s: %v", sku, err)
	}
	if !st.InGate || st.GateAvailable != available || st.GateHeld != held || st.Discrepancy != 0 {
		f.t.Fatalf("gate of %s: %+v; want in the gate, available %d, held %d, discrepancy 0", sku, st, available, held)
	}
	return st
}

// The life of gated reservations: the gate holds what the database
// reserves, a replayed Reserve takes nothing twice, release and expiry give
// the units back to the gate, and a sale leaves them sold in both.
func TestGatedLifecycle(t *testing.T) {
	t.Parallel()
	f := newFixture(t, inventory.Gated)
	f.product("HOT", 10)
	st := f.wantGate("HOT", 10, 0)
	if !st.Armed || st.Buckets != testBuckets || st.DatabaseAvailable != 10 {
		t.Fatalf("armed state %+v: want armed, %d buckets, 10 available in the database", st, testBuckets)
	}
	ids := f.checkouts(4)

	_, err := f.store.Reserve(f.ctx, ids[0], lines("HOT", 3), f.expires())
	mustOK(t, err)
	res, err := f.store.Reserve(f.ctx, ids[0], lines("HOT", 3), f.expires()) // the step retried
	mustOK(t, err)
	if !res.Replayed {
		t.Error("the second Reserve of one checkout was not a replay")
	}
	f.wantGate("HOT", 7, 3)
	f.wantLevel("HOT", 10, 3)

	_, err = f.store.Reserve(f.ctx, ids[1], lines("HOT", 2), f.expires())
	mustOK(t, err)
	_, err = f.store.Release(f.ctx, ids[1]) // compensation
	mustOK(t, err)
	f.wantGate("HOT", 7, 3)
	f.wantLevel("HOT", 10, 3)

	_, err = f.store.Reserve(f.ctx, ids[2], lines("HOT", 4), f.expires())
	mustOK(t, err)
	f.wantGate("HOT", 3, 7)
	f.clock.Advance(16 * time.Minute) // ids[0] and ids[2] expire
	_, err = f.store.Reserve(f.ctx, ids[3], lines("HOT", 1), f.expires())
	mustOK(t, err)
	if n, err := f.store.ExpireDue(f.ctx, 100); err != nil || n != 2 {
		t.Fatalf("ExpireDue = %d, %v; want 2 checkouts", n, err)
	}
	f.wantGate("HOT", 9, 1)
	f.wantLevel("HOT", 10, 1)

	mustOK(t, f.commit(ids[3]))
	f.store.GateCommitted(f.ctx, ids[3])
	f.wantGate("HOT", 9, 0)
	f.wantLevel("HOT", 9, 0)

	if s := f.store.GateStats(); s.Held != 5 || s.Fallback != 0 {
		t.Errorf("gate stats %+v: want 5 admitted (4 checkouts, 1 replay), no fallback", s)
	}
}

// Once the gate says sold out, buyers are refused without a database call:
// here the database is closed, and the refusal still comes, with the
// inventory's out-of-stock error.
func TestGatedSoldOutSkipsTheDatabase(t *testing.T) {
	t.Parallel()
	f := newFixture(t, inventory.Gated)
	f.product("HOT", 2)
	ids := f.checkouts(3)
	for _, id := range ids[:2] {
		_, err := f.store.Reserve(f.ctx, id, lines("HOT", 1), f.expires())
		mustOK(t, err)
	}
	f.pool.Close()
	ae := wantKind(t, func() error {
		_, err := f.store.Reserve(f.ctx, ids[2], lines("HOT", 1), f.expires())
		return err
	}(), apperr.OutOfStock, "out_of_stock")
	if ae.Details["sku"] != "HOT" || ae.Details["available"] != 0 {
		t.Errorf("details %v: want sku HOT, available 0", ae.Details)
	}
	if s := f.store.GateStats(); s.Refused != 1 {
		t.Errorf("gate stats %+v: want 1 refusal", s)
	}
}

// A gate that lies cannot oversell: set 100 units in Redis for a SKU that
// has 5, and 40 buyers race; the database's rows refuse all but 5, the
// refused holds go back to the gate, and the sync step reports the
// difference and repairs it. A gate that lies low refuses buyers only until
// the sync.
func TestGatedLyingGate(t *testing.T) {
	t.Parallel()
	f := newFixture(t, inventory.Gated)
	f.product("HOT", 5)
	if _, err := f.gate.Arm(f.ctx, stockgate.ArmRequest{SKU: "HOT", Available: 100}); err != nil {
		t.Fatal(err)
	}
	ids := f.checkouts(41)
	var ok, oos atomic.Int64
	var mu sync.Mutex
	var won []uuid.UUID
	var wg sync.WaitGroup
	for _, id := range ids[:40] {
		wg.Go(func() {
			_, err := f.store.Reserve(f.ctx, id, lines("HOT", 1), f.expires())
			switch {
			case err == nil:
				ok.Add(1)
				mu.Lock()
				won = append(won, id)
				mu.Unlock()
			case apperr.Is(err, apperr.OutOfStock):
				oos.Add(1)
			default:
				t.Errorf("reserve: %v", err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 5 || oos.Load() != 35 {
		t.Fatalf("%d reserved, %d out of stock; want 5 and 35", ok.Load(), oos.Load())
	}
	f.wantLevel("HOT", 5, 5)
	if s := f.store.GateStats(); s.Returned != 35 {
		t.Errorf("gate stats %+v: want 35 refused holds returned", s)
	}
	st, err := f.store.GateStatus(f.ctx, "HOT")
	mustOK(t, err)
	if st.Discrepancy != 95 || st.GateAvailable != 95 || st.GateHeld != 5 {
		t.Fatalf("status %+v: want the gate 95 too high, 5 held", st)
	}
	sync1, err := f.store.SyncGate(f.ctx)
	mustOK(t, err)
	if sync1.SKUs != 1 || sync1.Discrepancy != 95 || len(sync1.Repaired) != 1 {
		t.Fatalf("first sync %+v: want 1 SKU, discrepancy 95 repaired", sync1)
	}
	sync2, err := f.store.SyncGate(f.ctx)
	mustOK(t, err)
	if sync2.Discrepancy != 0 {
		t.Fatalf("second sync %+v: want discrepancy 0", sync2)
	}
	f.wantGate("HOT", 0, 5)

	// Lying low: 3 units come back, the gate is told 0.
	for _, id := range won[:3] {
		_, err := f.store.Release(f.ctx, id)
		mustOK(t, err)
	}
	if _, err := f.gate.Arm(f.ctx, stockgate.ArmRequest{SKU: "HOT", Available: 0, Reserved: won[3:]}); err != nil {
		t.Fatal(err)
	}
	_, err = f.store.Reserve(f.ctx, ids[40], lines("HOT", 1), f.expires())
	wantKind(t, err, apperr.OutOfStock, "out_of_stock")
	sync3, err := f.store.SyncGate(f.ctx)
	mustOK(t, err)
	if sync3.Discrepancy != 3 {
		t.Fatalf("sync %+v: want |−3| repaired", sync3)
	}
	f.wantGate("HOT", 3, 2)
	fresh := f.checkout()
	_, err = f.store.Reserve(f.ctx, fresh, lines("HOT", 1), f.expires())
	mustOK(t, err)
}

// A SKU nobody armed is reserved through the database alone, as bucketed.
func TestGatedUnarmedSKU(t *testing.T) {
	t.Parallel()
	f := newFixture(t, inventory.Gated)
	f.product("COLD", -1)
	if _, err := f.pool.Exec(f.ctx, `INSERT INTO inventory (sku, on_hand) VALUES ('COLD', 2)`); err != nil {
		t.Fatal(err)
	}
	ids := f.checkouts(3)
	for _, id := range ids[:2] {
		_, err := f.store.Reserve(f.ctx, id, lines("COLD", 1), f.expires())
		mustOK(t, err)
	}
	_, err := f.store.Reserve(f.ctx, ids[2], lines("COLD", 1), f.expires())
	wantKind(t, err, apperr.OutOfStock, "out_of_stock")
	if s := f.store.GateStats(); s.Held != 0 || s.Fallback != 3 {
		t.Errorf("gate stats %+v: want 3 fallbacks", s)
	}
	st, err := f.store.GateStatus(f.ctx, "COLD")
	mustOK(t, err)
	if st.Armed || st.InGate || st.DatabaseAvailable != 0 {
		t.Errorf("status %+v: want not armed, nothing available", st)
	}
	if _, err := f.store.ArmGate(f.ctx, "NOPE"); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("ArmGate of an unknown SKU: %v, want NotFound", err)
	}
	if _, err := f.store.ArmGate(f.ctx, "bad sku!"); !apperr.Is(err, apperr.Invalid) {
		t.Errorf("ArmGate of a malformed SKU: %v, want Invalid", err)
	}
}

// Redis killed (SIGKILL) in the middle of a sale: buyers fall back to the
// database path and the sale ends with every unit sold exactly once, no
// error but "out of stock". Redis restarted empty, the sync step re-arms
// the SKU with the right figure.
func TestGatedRedisKilledMidSale(t *testing.T) {
	t.Parallel()
	srv := redistest.StartPrivate(t, redistest.Options{NoAppendOnly: true})
	pool := pgtest.NewPool(t)
	rdb, prefix := redistest.ClientOn(t, srv)
	gate, err := stockgate.New(rdb, stockgate.Options{Namespace: prefix + "gate", Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	store := inventory.New(pool, inventory.Options{Strategy: inventory.Gated, Gate: gate, Logger: quiet,
		LockTimeout: 30 * time.Second, GateBuckets: 8})
	f := &fixture{t: t, ctx: context.Background(), pool: pool, store: store, clock: &clock{now: time.Now()}, gate: gate}
	const stock, buyers = 300, 32
	f.product("HOT", stock)
	ids := f.checkouts(stock + buyers*4)
	var next, sold, refused atomic.Int64
	var aSale atomic.Value // a checkout that bought (not every buyer does: one whose call straddled the kill may find the stock gone)
	var killOnce sync.Once
	var wg sync.WaitGroup
	expires := time.Now().Add(time.Hour)
	for range buyers {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if int(i) >= len(ids) {
					t.Error("ran out of buyers")
					return
				}
				_, err := store.Reserve(f.ctx, ids[i], lines("HOT", 1), expires)
				switch {
				case err == nil:
					aSale.Store(ids[i])
					if sold.Add(1) == stock/3 {
						killOnce.Do(func() {
							if err := srv.Kill(); err != nil {
								t.Error(err)
							}
						})
					}
				case apperr.Is(err, apperr.OutOfStock):
					refused.Add(1)
					return
				default:
					t.Errorf("reserve: %v (kind %v)", err, apperr.KindOf(err))
					return
				}
			}
		})
	}
	wg.Wait()
	if sold.Load() != stock {
		t.Fatalf("sold %d of %d units", sold.Load(), stock)
	}
	f.wantLevel("HOT", stock, stock)
	if n := f.count(`SELECT count(*) FROM reservations WHERE status = 'reserved'`); n != stock {
		t.Errorf("%d reservation rows, want %d", n, stock)
	}
	s := store.GateStats()
	if s.Held == 0 || s.Fallback == 0 {
		t.Errorf("gate stats %+v: want sales through the gate before the kill and through the database after", s)
	}
	t.Logf("sold %d: %d through the gate, %d through the database alone; %d buyers refused", sold.Load(), s.Held, s.Fallback, refused.Load())

	// Back empty (the test server keeps no append-only file): the sync
	// step loads the SKU again from the database.
	if err := srv.Restart(f.ctx); err != nil {
		t.Fatal(err)
	}
	// go-redis fails calls fast with its last dial error until its pool
	// has dialled again (it retries about once a second); the sweeper's
	// next run is the product's retry, this loop the test's.
	res, err := store.SyncGate(f.ctx)
	for deadline := time.Now().Add(10 * time.Second); apperr.KindOf(err) == apperr.Unavailable && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		res, err = store.SyncGate(f.ctx)
	}
	mustOK(t, err)
	if len(res.Rearmed) != 1 || res.Rearmed[0] != "HOT" {
		t.Fatalf("sync after the restart %+v: want HOT re-armed", res)
	}
	st, err := store.GateStatus(f.ctx, "HOT")
	mustOK(t, err)
	if !st.InGate || st.GateAvailable != 0 || st.Discrepancy != 0 {
		t.Fatalf("gate after the sync: %+v; want armed, 0 available, no discrepancy", st)
	}
	// A release now reaches the gate again.
	buyer := aSale.Load().(uuid.UUID)
	released, err := store.Release(f.ctx, buyer)
	mustOK(t, err)
	if !released {
		t.Fatalf("release of a buyer released nothing: %v", f.statuses(buyer))
	}
	f.wantGate("HOT", 1, 0)
	_, err = store.Reserve(f.ctx, f.checkout(), lines("HOT", 1), expires)
	mustOK(t, err)
	f.wantGate("HOT", 0, 1)
}
