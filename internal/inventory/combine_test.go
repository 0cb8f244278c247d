package inventory_test

import (
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/inventory"
)

// TestCombinedReserve: many concurrent single-line reserves of every kind
// (fresh buyers of two SKUs beyond their stock, retries that must replay,
// unknown checkouts, a product without stock, an unknown SKU) go through the
// combiner; each gets the answer it would get alone, the stock adds up, and
// every bucket holds exactly the units of the reservations that name it, so
// releasing them all gives everything back.
func TestCombinedReserve(t *testing.T) {
	t.Parallel()
	for _, s := range []inventory.Strategy{inventory.Bucketed, inventory.Conditional} {
		t.Run(string(s), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, s)
			f.product("A", 30)
			f.product("B", 5)
			f.product("C", 10)
			f.product("NOINV", -1)
			retried := f.checkouts(3)
			for _, id := range retried {
				_, err := f.store.Reserve(f.ctx, id, lines("C", 2), f.expires())
				mustOK(t, err)
			}
			type call struct {
				id   uuid.UUID
				line inventory.Line
				want string // ok, oos, replay, notfound, invalid
			}
			var calls []call
			for _, id := range f.checkouts(60) {
				calls = append(calls, call{id, inventory.Line{SKU: "A", Quantity: 1}, "ok-or-oos"})
			}
			for _, id := range f.checkouts(10) {
				calls = append(calls, call{id, inventory.Line{SKU: "B", Quantity: 1}, "ok-or-oos"})
			}
			for _, id := range retried {
				calls = append(calls, call{id, inventory.Line{SKU: "C", Quantity: 2}, "replay"})
			}
			for range 3 {
				calls = append(calls, call{uuid.New(), inventory.Line{SKU: "A", Quantity: 1}, "notfound"})
			}
			for _, id := range f.checkouts(3) {
				calls = append(calls, call{id, inventory.Line{SKU: "NOINV", Quantity: 1}, "oos"})
			}
			for _, id := range f.checkouts(2) {
				calls = append(calls, call{id, inventory.Line{SKU: "NOPE", Quantity: 1}, "invalid"})
			}
			var mu sync.Mutex
			got := map[string]int{}
			okBySKU := map[string]int{}
			var wg sync.WaitGroup
			start := make(chan struct{})
			for _, c := range calls {
				wg.Go(func() {
					<-start
					res, err := f.store.Reserve(f.ctx, c.id, []inventory.Line{c.line}, f.expires())
					kind := "ok"
					switch {
					case err == nil && res.Replayed:
						kind = "replay"
					case err == nil:
						mu.Lock()
						okBySKU[c.line.SKU]++
						mu.Unlock()
					case apperr.Is(err, apperr.OutOfStock):
						kind = "oos"
						if ae := apperr.As(err); ae.Details["sku"] != c.line.SKU {
							t.Errorf("%v: details %v", c.line, ae.Details)
						}
					case apperr.Is(err, apperr.NotFound):
						kind = "notfound"
					case apperr.Is(err, apperr.Invalid):
						kind = "invalid"
					default:
						t.Errorf("%v: unexpected %v", c.line, err)
					}
					if c.want == "ok-or-oos" && (kind == "ok" || kind == "oos") {
						kind = c.want
					}
					if kind != c.want {
						t.Errorf("%s×%d: got %s (%v), want %s", c.line.SKU, c.line.Quantity, kind, err, c.want)
					}
					mu.Lock()
					got[kind]++
					mu.Unlock()
				})
			}
			close(start)
			wg.Wait()
			if okBySKU["A"] != 30 || okBySKU["B"] != 5 {
				t.Errorf("reserved A %d, B %d; want 30 and 5 (%v)", okBySKU["A"], okBySKU["B"], got)
			}
			if batches, entries := f.store.CombineStats(); batches == 0 || entries < 2*batches {
				t.Errorf("combined %d batches, %d calls: nothing was combined", batches, entries)
			} else {
				t.Logf("%d batches carried %d of %d calls", batches, entries, len(calls))
			}
			f.wantLevel("A", 30, 30)
			f.wantLevel("B", 5, 5)
			f.wantLevel("C", 10, 6)
			if n := f.auditCount(inventory.ActionReserve); n != 30+5+3 {
				t.Errorf("%d reserve audit rows, want 38", n)
			}
			// Every stock row holds exactly what its reservations say.
			if n := f.count(`
				WITH held AS (SELECT sku, bucket, sum(quantity) AS q FROM reservations WHERE status = 'reserved' GROUP BY 1, 2),
				rows AS (SELECT sku, 0 AS bucket, reserved FROM inventory UNION ALL SELECT sku, bucket, reserved FROM inventory_buckets)
				SELECT count(*) FROM rows FULL JOIN held USING (sku, bucket) WHERE coalesce(rows.reserved, 0) <> coalesce(held.q, 0)`); n != 0 {
				t.Errorf("%d stock rows disagree with their reservations", n)
			}
			ids := map[uuid.UUID]bool{}
			for _, c := range calls {
				ids[c.id] = true
			}
			for id := range ids {
				if _, err := f.store.Release(f.ctx, id); err != nil {
					t.Fatalf("release: %v", err)
				}
			}
			f.wantLevel("A", 30, 0)
			f.wantLevel("B", 5, 0)
			f.wantLevel("C", 10, 0)
		})
	}
}
