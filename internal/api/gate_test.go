package api

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/internal/inventory"
	"github.com/checkout-dev/checkout/internal/redistest"
	"github.com/checkout-dev/checkout/internal/stockgate"
)

// gateEnv is localEnv whose inventory store has the gated strategy and a
// stock gate on the package's Redis, in a namespace of the test's own.
func gateEnv(t *testing.T) *env {
	t.Helper()
	e := localEnv(t)
	rdb, prefix := redistest.ClientOn(t, redistest.Shared(t))
	g, err := stockgate.New(rdb, stockgate.Options{Namespace: prefix + "gate", Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	e.inv = inventory.New(e.pool, inventory.Options{Strategy: inventory.Gated, Gate: g, GateBuckets: 4, Logger: quiet})
	d := e.h.d
	d.Inventory = e.inv
	e.h = New(d)
	return e
}

// gateOf serves req, wants 200 and returns the GateState it answered.
func gateOf(t *testing.T, e *env, req reqT) inventory.GateState {
	t.Helper()
	resp := do(t, e.h, req)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %d %s; want 200", req.HTTPMethod, req.Path, resp.StatusCode, resp.Body)
	}
	return decode[inventory.GateState](t, resp)
}

// reserveTEE reserves n units of TEE-1 through the store, for a checkout of
// its own.
func (e *env) reserveTEE(t *testing.T, n int) uuid.UUID {
	t.Helper()
	ctx := context.Background()
	id := uuid.New()
	if _, err := e.pool.Exec(ctx, `INSERT INTO checkouts (id, user_id, idempotency_key, request_fingerprint, amount, currency, payment_method)
		VALUES ($1, 'shopper', $2, '\x00', 1999, 'USD', 'pm_card_visa')`, id, id.String()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.inv.Reserve(ctx, id, []inventory.Line{{SKU: "TEE-1", Quantity: n}}, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestGateRoutes: arming, reading and disarming a SKU in the stock gate
// through the admin API, on a real database and a real Redis; the gate
// follows reservations and stock changes with no discrepancy.
func TestGateRoutes(t *testing.T) {
	t.Parallel()
	e := gateEnv(t)
	admin := asAdmin("boss")
	const path = "/v1/admin/inventory/TEE-1/gate"

	// Not armed: the database's figure, nothing in the gate.
	st := gateOf(t, e, newReq("GET", path, admin))
	if st.SKU != "TEE-1" || st.Armed || st.InGate || st.GateAvailable != 0 || st.DatabaseAvailable != 100 || st.Discrepancy != 0 {
		t.Fatalf("before arming: %+v", st)
	}

	// Armed by the admin: the gate holds the available units.
	st = gateOf(t, e, newReq("PUT", path, admin))
	if !st.Armed || !st.InGate || st.GateAvailable != 100 || st.GateHeld != 0 || st.DatabaseAvailable != 100 ||
		st.Discrepancy != 0 || st.Buckets != 4 || st.ArmedBy != "admin:boss" || st.ArmedAt == nil {
		t.Fatalf("armed: %+v; want in the gate with 100 units over 4 buckets, armed by admin:boss", st)
	}

	// A reservation through the (gated) store is held by the gate.
	e.reserveTEE(t, 3)
	st = gateOf(t, e, newReq("GET", path, admin))
	if !st.InGate || st.GateAvailable != 97 || st.GateHeld != 3 || st.DatabaseAvailable != 97 || st.Discrepancy != 0 {
		t.Fatalf("after reserving 3: %+v; want 97 available in the gate and the database, 3 held, no discrepancy", st)
	}

	// The admin's stock change moves the gate with it.
	resp := do(t, e.h, newReq("PUT", "/v1/admin/inventory/TEE-1", admin, jsonBody(`{"quantity":50}`)))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("set stock: %d %s", resp.StatusCode, resp.Body)
	}
	st = gateOf(t, e, newReq("GET", path, admin))
	if st.GateAvailable != 47 || st.DatabaseAvailable != 47 || st.Discrepancy != 0 {
		t.Fatalf("after setting 50 on hand: %+v; want 47 available in both, no discrepancy", st)
	}

	// Arming again (with the empty object) repairs nothing that is right.
	st = gateOf(t, e, newReq("PUT", path, admin, jsonBody(`{}`)))
	if !st.InGate || st.GateAvailable != 47 || st.Discrepancy != 0 {
		t.Fatalf("armed again: %+v", st)
	}

	// Disarmed: out of the gate and out of the list; idempotent.
	for i := range 2 {
		st = gateOf(t, e, newReq("DELETE", path, admin))
		if st.Armed || st.InGate || st.GateAvailable != 0 || st.DatabaseAvailable != 47 || st.Discrepancy != 0 || st.ArmedAt != nil {
			t.Fatalf("disarm %d: %+v; want out of the gate", i+1, st)
		}
	}
	if st := gateOf(t, e, newReq("GET", path, admin)); st.Armed || st.InGate {
		t.Fatalf("after disarming: %+v", st)
	}
	if n := e.count(t, "inventory_gate"); n != 0 {
		t.Fatalf("%d rows in inventory_gate after disarming; want 0", n)
	}
}

// TestGateRouteRefusals: what the gate routes refuse, and how, with and
// without a gate.
func TestGateRouteRefusals(t *testing.T) {
	t.Parallel()
	gated, plain := gateEnv(t), localEnv(t)
	admin, nobody := asAdmin("boss"), asUser("shopper")
	const path = "/v1/admin/inventory/TEE-1/gate"
	cases := []struct {
		name   string
		e      *env
		req    reqT
		status int
		code   string
	}{
		{"no token", gated, newReq("GET", path), 401, "unauthorized"},
		{"no admin scope (GET)", gated, newReq("GET", path, nobody), 403, "forbidden"},
		{"no admin scope (PUT)", gated, newReq("PUT", path, nobody), 403, "forbidden"},
		{"no admin scope (DELETE)", gated, newReq("DELETE", path, nobody), 403, "forbidden"},
		{"unknown SKU (GET)", gated, newReq("GET", "/v1/admin/inventory/NOPE-1/gate", admin), 404, "not_found"},
		{"unknown SKU (PUT)", gated, newReq("PUT", "/v1/admin/inventory/NOPE-1/gate", admin), 404, "not_found"},
		{"unknown SKU (DELETE)", gated, newReq("DELETE", "/v1/admin/inventory/NOPE-1/gate", admin), 404, "not_found"},
		{"malformed SKU (GET)", gated, newReq("GET", "/v1/admin/inventory/bad%20sku!/gate", admin), 400, "invalid_request"},
		{"malformed SKU (PUT)", gated, newReq("PUT", "/v1/admin/inventory/-bad/gate", admin), 400, "invalid_request"},
		{"malformed SKU (DELETE)", gated, newReq("DELETE", "/v1/admin/inventory/-bad/gate", admin), 400, "invalid_request"},
		{"a body with a member", gated, newReq("PUT", path, admin, jsonBody(`{"quantity":5}`)), 400, "invalid_request"},
		{"a body that is not an object", gated, newReq("PUT", path, admin, jsonBody(`[]`)), 400, "invalid_request"},
		{"a body that is not JSON", gated, newReq("PUT", path, admin, header("Content-Type", "text/plain"), withBody(`{}`)), 415, "unsupported_media_type"},
		{"a body too large", gated, newReq("PUT", path, admin, jsonBody(`{}`+string(make([]byte, 70<<10)))), 413, "payload_too_large"},
		{"method not allowed", gated, newReq("POST", path, admin), 405, "method_not_allowed"},
		{"no gate (GET)", plain, newReq("GET", path, admin), 503, "gate_unavailable"},
		{"no gate (PUT)", plain, newReq("PUT", path, admin), 503, "gate_unavailable"},
		{"no gate (DELETE)", plain, newReq("DELETE", path, admin), 503, "gate_unavailable"},
		{"no gate, still admin only", plain, newReq("PUT", path, nobody), 403, "forbidden"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := do(t, tc.e.h, tc.req)
			wantError(t, resp, tc.status, tc.code)
			if tc.status == 405 && resp.Headers["Allow"] != "DELETE, GET, PUT" {
				t.Errorf("Allow = %q; want DELETE, GET, PUT", resp.Headers["Allow"])
			}
		})
	}
	// None of the refusals armed anything.
	for _, e := range []*env{gated, plain} {
		if n := e.count(t, "inventory_gate"); n != 0 {
			t.Fatalf("%d rows in inventory_gate after refusals; want 0", n)
		}
	}
}
