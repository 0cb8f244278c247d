package inventory_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/inventory"
)

func TestParseStrategy(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]inventory.Strategy{
		"": inventory.DefaultStrategy, "bucketed": inventory.Bucketed, "conditional": inventory.Conditional, " Pessimistic ": inventory.Pessimistic,
		"OPTIMISTIC": inventory.Optimistic,
	} {
		got, err := inventory.ParseStrategy(in)
		if err != nil || got != want {
			t.Errorf("ParseStrategy(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	_, err := inventory.ParseStrategy("yolo")
	if ae := wantKind(t, err, apperr.Invalid, ""); ae.Field != "strategy" {
		t.Errorf("field %q, want strategy", ae.Field)
	}
}

func TestReserveHoldsStock(t *testing.T) {
	t.Parallel()
	forEachStrategy(t, func(t *testing.T, f *fixture) {
		f.product("B", 5)
		f.product("A", 7)
		id := f.checkout()
		exp := f.expires()
		res, err := f.store.Reserve(f.ctx, id, lines("B", 5, "A", 3), exp)
		mustOK(t, err)
		if res.Replayed || res.CheckoutID != id || !res.ExpiresAt.Equal(exp) {
			t.Errorf("reservation %+v", res)
		}
		if len(res.Lines) != 2 || res.Lines[0] != (inventory.Line{SKU: "A", Quantity: 3}) || res.Lines[1] != (inventory.Line{SKU: "B", Quantity: 5}) {
			t.Errorf("lines %v, want A×3, B×5 sorted", res.Lines)
		}
		f.wantLevel("A", 7, 3)
		f.wantLevel("B", 5, 5)
		lvl, err := f.store.Level(f.ctx, "A")
		mustOK(t, err)
		if lvl != (inventory.Level{SKU: "A", OnHand: 7, Reserved: 3, Available: 4}) {
			t.Errorf("level %+v", lvl)
		}
		var actor string
		var qty int
		var strategy string
		err = f.pool.QueryRow(f.ctx, `SELECT actor, quantity, detail->>'strategy' FROM audit_log
			WHERE action = 'reserve' AND checkout_id = $1 AND sku = 'B'`, id).Scan(&actor, &qty, &strategy)
		mustOK(t, err)
		if actor != "test" || qty != 5 || strategy != string(f.store.Strategy()) {
			t.Errorf("audit row actor=%q quantity=%d strategy=%q", actor, qty, strategy)
		}
	})
}

// TestReserveAllOrNothing: one short line and nothing is held.
func TestReserveAllOrNothing(t *testing.T) {
	t.Parallel()
	forEachStrategy(t, func(t *testing.T, f *fixture) {
		f.product("A", 10)
		f.product("B", 2)
		f.product("C", 10)
		f.product("NOSTOCK", -1) // in the catalog, no inventory row
		for _, tc := range []struct {
			name      string
			cart      []inventory.Line
			sku       string
			available int
		}{
			{"middle line short", lines("C", 1, "B", 3, "A", 1), "B", 2},
			{"last line short", lines("A", 10, "C", 11), "C", 10},
			{"no inventory row", lines("A", 1, "NOSTOCK", 1), "NOSTOCK", 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := f.store.Reserve(f.ctx, f.checkout(), tc.cart, f.expires())
				ae := wantKind(t, err, apperr.OutOfStock, "out_of_stock")
				if ae.Details["sku"] != tc.sku || ae.Details["available"] != tc.available {
					t.Errorf("details %v, want sku %s available %d", ae.Details, tc.sku, tc.available)
				}
			})
		}
		f.wantLevel("A", 10, 0)
		f.wantLevel("B", 2, 0)
		f.wantLevel("C", 10, 0)
		if n := f.count(`SELECT count(*) FROM reservations`); n != 0 {
			t.Errorf("%d reservation rows left behind", n)
		}
		if n := f.count(`SELECT count(*) FROM audit_log`); n != 0 {
			t.Errorf("%d audit rows left behind", n)
		}
		// The exact remaining stock can still be taken.
		_, err := f.store.Reserve(f.ctx, f.checkout(), lines("A", 10, "B", 2, "C", 10), f.expires())
		mustOK(t, err)
		f.wantLevel("B", 2, 2)
	})
}

// TestReserveIdempotent: a retry after success replays, a different cart for
// the same checkout is a conflict, and ended reservations are refused.
func TestReserveIdempotent(t *testing.T) {
	t.Parallel()
	forEachStrategy(t, func(t *testing.T, f *fixture) {
		f.product("A", 10)
		f.product("B", 10)
		id := f.checkout()
		exp := f.expires()
		first, err := f.store.Reserve(f.ctx, id, lines("A", 2, "B", 1), exp)
		mustOK(t, err)
		f.clock.Advance(time.Minute)
		again, err := f.store.Reserve(f.ctx, id, lines("B", 1, "A", 2), exp.Add(time.Hour))
		mustOK(t, err)
		if !again.Replayed || !again.ExpiresAt.Equal(first.ExpiresAt) {
			t.Errorf("retry = %+v, want replay with the original expiry %v", again, first.ExpiresAt)
		}
		f.wantLevel("A", 10, 2)
		f.wantLevel("B", 10, 1)

		for _, cart := range [][]inventory.Line{lines("A", 3, "B", 1), lines("A", 2), lines("A", 2, "B", 1, "C", 1)} {
			_, err = f.store.Reserve(f.ctx, id, cart, exp)
			if apperr.Is(err, apperr.Invalid) { // C is unknown: also refused, also nothing written
				continue
			}
			wantKind(t, err, apperr.Conflict, "reservation_mismatch")
		}
		f.wantLevel("A", 10, 2)
		if n := f.count(`SELECT count(*) FROM reservations WHERE checkout_id = $1`, id); n != 2 {
			t.Errorf("%d reservation rows, want 2", n)
		}

		// Past its expiry (not yet swept) a replay is refused as expired.
		f.clock.Advance(15 * time.Minute)
		_, err = f.store.Reserve(f.ctx, id, lines("A", 2, "B", 1), f.expires())
		wantKind(t, err, apperr.Expired, "reservation_expired")

		released := f.checkout()
		_, err = f.store.Reserve(f.ctx, released, lines("A", 1), f.expires())
		mustOK(t, err)
		ok, err := f.store.Release(f.ctx, released)
		mustOK(t, err)
		if !ok {
			t.Fatal("release reported nothing released")
		}
		_, err = f.store.Reserve(f.ctx, released, lines("A", 1), f.expires())
		wantKind(t, err, apperr.State, "reservation_released")

		committed := f.checkout()
		_, err = f.store.Reserve(f.ctx, committed, lines("B", 1), f.expires())
		mustOK(t, err)
		mustOK(t, f.commit(committed))
		_, err = f.store.Reserve(f.ctx, committed, lines("B", 1), f.expires())
		wantKind(t, err, apperr.State, "reservation_committed")
		f.wantLevel("B", 9, 1) // the first checkout's unit is still held
	})
}

// TestReserveBadInput: every bad request is Invalid naming the field and
// writes nothing.
func TestReserveBadInput(t *testing.T) {
	t.Parallel()
	forEachStrategy(t, func(t *testing.T, f *fixture) {
		f.product("A", 5)
		f.product("B", 5)
		for i := range 101 {
			f.product(manyLines(101)[i].SKU, 5)
		}
		id := f.checkout()
		for _, tc := range []struct {
			name    string
			id      uuid.UUID
			cart    []inventory.Line
			expires time.Time
			field   string
		}{
			{"zero quantity", id, lines("A", 1, "B", 0), f.expires(), "items[1].quantity"},
			{"negative quantity", id, lines("A", -1), f.expires(), "items[0].quantity"},
			{"huge quantity", id, lines("A", 1, "B", 1001), f.expires(), "items[1].quantity"},
			{"int overflow quantity", id, lines("A", 1<<40), f.expires(), "items[0].quantity"},
			{"unknown SKU", id, lines("A", 1, "B", 1, "NOPE", 1), f.expires(), "items[2].sku"},
			{"malformed SKU", id, lines("A", 1, "bad sku", 1), f.expires(), "items[1].sku"},
			{"empty SKU", id, lines("", 1), f.expires(), "items[0].sku"},
			{"empty cart", id, nil, f.expires(), "items"},
			{"101 lines", id, manyLines(101), f.expires(), "items"},
			{"duplicate SKU", id, lines("A", 1, "B", 1, "A", 2), f.expires(), "items[2].sku"},
			{"nil checkout", uuid.Nil, lines("A", 1), f.expires(), "checkout_id"},
			{"expiry not in the future", id, lines("A", 1), f.clock.Now(), "expires_at"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := f.store.Reserve(f.ctx, tc.id, tc.cart, tc.expires)
				ae := wantKind(t, err, apperr.Invalid, "invalid_request")
				if ae.Field != tc.field {
					t.Errorf("field %q, want %q (%v)", ae.Field, tc.field, err)
				}
			})
		}
		if n := f.count(`SELECT count(*) FROM reservations`); n != 0 {
			t.Errorf("%d reservation rows written", n)
		}
		if n := f.count(`SELECT count(*) FROM audit_log`); n != 0 {
			t.Errorf("%d audit rows written", n)
		}
		if n := f.count(`SELECT count(*) FROM inventory_levels WHERE reserved <> 0 OR on_hand <> 5`); n != 0 {
			t.Errorf("%d inventory rows changed", n)
		}
		// 100 lines is the limit, and allowed.
		_, err := f.store.Reserve(f.ctx, id, manyLines(100), f.expires())
		mustOK(t, err)
		if n := f.count(`SELECT count(*) FROM reservations WHERE checkout_id = $1`, id); n != 100 {
			t.Errorf("%d reservation rows, want 100", n)
		}
	})
}

func TestReserveUnknownCheckout(t *testing.T) {
	t.Parallel()
	forEachStrategy(t, func(t *testing.T, f *fixture) {
		f.product("A", 5)
		_, err := f.store.Reserve(f.ctx, uuid.New(), lines("A", 1), f.expires())
		wantKind(t, err, apperr.NotFound, "checkout_not_found")
		f.wantLevel("A", 5, 0)
		if n := f.count(`SELECT count(*) FROM audit_log`); n != 0 {
			t.Errorf("%d audit rows written", n)
		}
	})
}
