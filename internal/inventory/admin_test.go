package inventory_test

import (
	"testing"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/inventory"
)

func TestSetOnHand(t *testing.T) {
	t.Parallel()
	f := newFixture(t, inventory.Conditional)
	f.product("A", 10)
	f.product("NEW", -1) // catalog entry, no inventory row yet
	admin := f.store.WithActor("admin:alice")

	id := f.checkout()
	_, err := f.store.Reserve(f.ctx, id, lines("A", 6), f.expires())
	mustOK(t, err)

	lvl, err := admin.SetOnHand(f.ctx, "A", 25)
	mustOK(t, err)
	if lvl != (inventory.Level{SKU: "A", OnHand: 25, Reserved: 6, Available: 19}) {
		t.Errorf("level %+v", lvl)
	}
	_, err = admin.SetOnHand(f.ctx, "A", 6) // exactly the reserved units: allowed
	mustOK(t, err)
	f.wantLevel("A", 6, 6)

	_, err = admin.SetOnHand(f.ctx, "A", 5)
	ae := wantKind(t, err, apperr.Conflict, "below_reserved")
	if ae.Details["reserved"] != 6 {
		t.Errorf("details %v", ae.Details)
	}
	f.wantLevel("A", 6, 6)

	_, err = admin.SetOnHand(f.ctx, "A", -1)
	if ae := wantKind(t, err, apperr.Invalid, ""); ae.Field != "quantity" {
		t.Errorf("field %q", ae.Field)
	}
	_, err = admin.SetOnHand(f.ctx, "NOPE", 5)
	wantKind(t, err, apperr.NotFound, "product_not_found")
	_, err = admin.SetOnHand(f.ctx, "bad sku", 5)
	wantKind(t, err, apperr.Invalid, "")

	lvl, err = f.store.Level(f.ctx, "NEW")
	mustOK(t, err)
	if lvl != (inventory.Level{SKU: "NEW"}) {
		t.Errorf("level of a product without inventory row %+v", lvl)
	}
	lvl, err = admin.SetOnHand(f.ctx, "NEW", 3)
	mustOK(t, err)
	if lvl != (inventory.Level{SKU: "NEW", OnHand: 3, Available: 3}) {
		t.Errorf("level %+v", lvl)
	}
	_, err = admin.SetOnHand(f.ctx, "NEW", 3) // no change, no audit row
	mustOK(t, err)
	f.wantLevel("NEW", 3, 0)
	_, err = f.store.Level(f.ctx, "NOPE")
	wantKind(t, err, apperr.NotFound, "product_not_found")

	// Audit: 25, 6 on A and the creation of NEW; refusals wrote nothing.
	rows, err := f.pool.Query(f.ctx, `SELECT actor, sku, quantity, (detail->>'previous')::int, (detail->>'created')::bool
		FROM audit_log WHERE action = 'set_on_hand' ORDER BY id`)
	mustOK(t, err)
	defer rows.Close()
	type row struct {
		actor, sku     string
		quantity, prev int
		created        bool
	}
	var got []row
	for rows.Next() {
		var r row
		mustOK(t, rows.Scan(&r.actor, &r.sku, &r.quantity, &r.prev, &r.created))
		got = append(got, r)
	}
	mustOK(t, rows.Err())
	want := []row{
		{"admin:alice", "A", 25, 10, false},
		{"admin:alice", "A", 6, 25, false},
		{"admin:alice", "NEW", 3, 0, true},
	}
	if len(got) != len(want) {
		t.Fatalf("audit rows %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("audit row %d = %+v, want %+v", i, got[i], want[i])
		}
	}

	// A sale after the change can use exactly the new stock.
	_, err = f.store.SetOnHand(f.ctx, "A", 7)
	mustOK(t, err)
	_, err = f.store.Reserve(f.ctx, f.checkout(), lines("A", 2), f.expires())
	wantKind(t, err, apperr.OutOfStock, "out_of_stock")
	_, err = f.store.Reserve(f.ctx, f.checkout(), lines("A", 1), f.expires())
	mustOK(t, err)
	f.wantLevel("A", 7, 7)
}
