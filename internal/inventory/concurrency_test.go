package inventory_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/inventory"
)

// TestFlashSale: 1000 buyers of one unit each (their own checkout) on a SKU
// with 100 units. The strategies run one after the other (not in parallel)
// so that the logged timings compare.
func TestFlashSale(t *testing.T) {
	const buyers, stock = 1000, 100
	for _, s := range inventory.Strategies {
		t.Run(string(s), func(t *testing.T) {
			f := newFixture(t, s)
			f.product("HOT", stock)
			ids := f.checkouts(buyers)
			var ok, oos atomic.Int64
			var mu sync.Mutex
			other := map[string]int{}
			var wg sync.WaitGroup
			start := make(chan struct{})
			for _, id := range ids {
				wg.Go(func() {
					<-start
					_, err := f.store.Reserve(f.ctx, id, lines("HOT", 1), f.expires())
					switch {
					case err == nil:
						ok.Add(1)
					case apperr.Is(err, apperr.OutOfStock):
						oos.Add(1)
					default:
						mu.Lock()
						other[apperr.KindOf(err).String()+": "+err.Error()]++
						mu.Unlock()
					}
				})
			}
			began := time.Now()
			close(start)
			wg.Wait()
			elapsed := time.Since(began)
			t.Logf("strategy %s: %d buyers, %d units: %d reserved, %d out of stock in %v",
				s, buyers, stock, ok.Load(), oos.Load(), elapsed.Round(time.Millisecond))
			for msg, n := range other {
				t.Errorf("%d× unexpected error %s", n, msg)
			}
			if ok.Load() != stock || oos.Load() != buyers-stock {
				t.Errorf("reserved %d, out of stock %d; want %d and %d", ok.Load(), oos.Load(), stock, buyers-stock)
			}
			f.wantLevel("HOT", stock, stock)
			if n := f.count(`SELECT count(*) FROM reservations WHERE status = 'reserved'`); n != stock {
				t.Errorf("%d reservation rows, want %d", n, stock)
			}
			if n := f.auditCount(inventory.ActionReserve); n != stock {
				t.Errorf("%d reserve audit rows, want %d", n, stock)
			}
		})
	}
}

// TestOppositeOrderCarts: carts [A,B] and [B,A] (and [B,C,A]) race; sorted
// locking means no deadlock, only OutOfStock, and the stock adds up.
func TestOppositeOrderCarts(t *testing.T) {
	t.Parallel()
	forEachStrategy(t, func(t *testing.T, f *fixture) {
		const per, stockA, stockB, stockC = 60, 120, 90, 200
		f.product("A", stockA)
		f.product("B", stockB)
		f.product("C", stockC)
		carts := [][]inventory.Line{
			lines("A", 1, "B", 1),
			lines("B", 1, "A", 1),
			lines("B", 1, "C", 2, "A", 1),
			lines("C", 1, "A", 2),
		}
		ids := f.checkouts(per * len(carts))
		type result struct {
			cart int
			err  error
		}
		results := make(chan result, len(ids))
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, id := range ids {
			cart := i % len(carts)
			wg.Go(func() {
				<-start
				_, err := f.store.Reserve(f.ctx, id, carts[cart], f.expires())
				results <- result{cart, err}
			})
		}
		close(start)
		wg.Wait()
		close(results)
		want := map[string]int{}
		okCount := 0
		var failed []result
		for r := range results {
			if r.err != nil {
				if !apperr.Is(r.err, apperr.OutOfStock) {
					t.Errorf("cart %d: unexpected error %v (kind %v)", r.cart, r.err, apperr.KindOf(r.err))
				} else {
					failed = append(failed, r)
				}
				continue
			}
			okCount++
			for _, l := range carts[r.cart] {
				want[l.SKU] += l.Quantity
			}
		}
		if okCount == 0 {
			t.Fatal("no cart succeeded")
		}
		for sku, stock := range map[string]int{"A": stockA, "B": stockB, "C": stockC} {
			f.wantLevel(sku, stock, want[sku])
			if want[sku] > stock {
				t.Errorf("%s oversold: %d > %d", sku, want[sku], stock)
			}
			held := f.count(`SELECT coalesce(sum(quantity), 0) FROM reservations WHERE sku = $1 AND status = 'reserved'`, sku)
			if held != want[sku] {
				t.Errorf("%s: reservation rows hold %d, want %d", sku, held, want[sku])
			}
		}
		// Every OutOfStock must be truthful: stock only goes down in this
		// test, so a line the cart could not get still lacks stock now.
		for _, r := range failed {
			ae := apperr.As(r.err)
			sku, _ := ae.Details["sku"].(string)
			requested, _ := ae.Details["requested"].(int)
			inCart := false
			for _, l := range carts[r.cart] {
				inCart = inCart || (l.SKU == sku && l.Quantity == requested)
			}
			onHand, reserved := f.level(sku)
			if !inCart || onHand-reserved >= requested {
				t.Errorf("cart %d refused for %s×%d (details %v) but %d are available now", r.cart, sku, requested, ae.Details, onHand-reserved)
			}
		}
		t.Logf("%d of %d carts reserved", okCount, len(ids))
	})
}

// TestConcurrentDuplicateReserve: the same checkout reserved by many
// goroutines at once holds the stock once.
func TestConcurrentDuplicateReserve(t *testing.T) {
	t.Parallel()
	forEachStrategy(t, func(t *testing.T, f *fixture) {
		f.product("A", 10)
		f.product("B", 10)
		id := f.checkout()
		exp := f.expires()
		var wg sync.WaitGroup
		var fresh, replayed atomic.Int64
		start := make(chan struct{})
		for i := range 20 {
			cart := lines("A", 2, "B", 3)
			if i%2 == 1 {
				cart = lines("B", 3, "A", 2)
			}
			wg.Go(func() {
				<-start
				res, err := f.store.Reserve(f.ctx, id, cart, exp)
				if err != nil {
					t.Errorf("reserve: %v", err)
					return
				}
				if res.Replayed {
					replayed.Add(1)
				} else {
					fresh.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if fresh.Load() != 1 || replayed.Load() != 19 {
			t.Errorf("fresh=%d replayed=%d, want 1 and 19", fresh.Load(), replayed.Load())
		}
		f.wantLevel("A", 10, 2)
		f.wantLevel("B", 10, 3)
		if n := f.auditCount(inventory.ActionReserve); n != 2 {
			t.Errorf("%d reserve audit rows, want 2", n)
		}
	})
}

// TestExpiryRacesCommit: sweepers and order commits race on the same expired
// and live reservations; every unit is counted exactly once.
func TestExpiryRacesCommit(t *testing.T) {
	t.Parallel()
	forEachStrategy(t, func(t *testing.T, f *fixture) {
		const n = 40
		f.product("A", n)
		ids := f.checkouts(n)
		for _, id := range ids {
			_, err := f.store.Reserve(f.ctx, id, lines("A", 1), f.clock.Now().Add(time.Minute))
			mustOK(t, err)
		}
		// Half the reservations are due for the sweepers; a store with a
		// later clock would see all of them due, so commits use the fixture's
		// clock, where every reservation is still live, and the sweepers use
		// one 61 s later. Commits then race the sweep on the same rows.
		sweepClock := &clock{now: f.clock.Now().Add(61 * time.Second)}
		sweeper := inventory.New(f.pool, inventory.Options{Now: sweepClock.Now, Actor: "sweeper", Logger: quiet})
		var committed, expiredErr atomic.Int64
		var swept atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for _, id := range ids {
			wg.Go(func() {
				<-start
				err := f.commit(id)
				switch {
				case err == nil:
					committed.Add(1)
				case apperr.Is(err, apperr.Expired):
					expiredErr.Add(1)
				default:
					t.Errorf("commit: %v (kind %v)", err, apperr.KindOf(err))
				}
			})
		}
		for range 4 {
			wg.Go(func() {
				<-start
				for range 30 {
					k, err := sweeper.ExpireDue(f.ctx, 5)
					if err != nil {
						t.Errorf("expire: %v", err)
						return
					}
					swept.Add(int64(k))
				}
			})
		}
		close(start)
		wg.Wait()
		// Whatever the sweep did not reach is still reserved; sweep it now.
		for {
			k, err := sweeper.ExpireDue(f.ctx, 100)
			mustOK(t, err)
			if k == 0 {
				break
			}
			swept.Add(int64(k))
		}
		c, e, s := committed.Load(), expiredErr.Load(), swept.Load()
		t.Logf("committed %d, commit refused as expired %d, swept %d", c, e, s)
		if c+s != n {
			t.Errorf("committed %d + swept %d != %d", c, s, n)
		}
		f.wantLevel("A", n-int(c), 0)
		if got := f.count(`SELECT count(*) FROM reservations WHERE status = 'committed'`); got != int(c) {
			t.Errorf("%d committed rows, want %d", got, c)
		}
		if got := f.count(`SELECT count(*) FROM reservations WHERE status = 'released' AND release_reason = 'expired'`); got != int(s) {
			t.Errorf("%d expired rows, want %d", got, s)
		}
		if got := f.auditCount(inventory.ActionCommit) + f.auditCount(inventory.ActionExpire); got != n {
			t.Errorf("%d commit+expire audit rows, want %d", got, n)
		}
	})
}
