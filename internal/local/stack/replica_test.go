package stack_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/internal/local/stack"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

// TestStackWithReadReplica: make dev with DATABASE_READ_URL naming a real
// streaming replica of its database: over HTTP, a product and a checkout
// are readable right after they are written, the checkout completes and
// its order is readable at once, and the replica serves reads.
func TestStackWithReadReplica(t *testing.T) {
	t.Parallel()
	var replica *pgtest.Replica
	e := startE2EWith(t, roomy, func(o *stack.Options) {
		replica = pgtest.NewReplica(t, o.DatabaseURL)
		o.ReadDatabaseURL = replica.DSN
	})
	reader := e.stack.Core().Reader
	if !reader.Replicated() {
		t.Fatal("the stack's reader has no replica with DATABASE_READ_URL set")
	}
	alice := e.token("alice", false)

	e.product("E2E-REPL", 1500, 10)
	if r := e.do("GET", "/v1/products/E2E-REPL", "", e2eAPIKey, nil, ""); r.status != 200 || r.body["available"] != float64(10) {
		t.Fatalf("product right after it was created: %d %s", r.status, r.raw)
	}
	r := e.post(alice, uuid.NewString(), cart("E2E-REPL", 2, "pm_card_visa"))
	id := r.str("checkout_id")
	if r.status != 202 {
		t.Fatalf("POST: %d %s", r.status, r.raw)
	}
	if g := e.do("GET", "/v1/checkouts/"+id, alice, e2eAPIKey, nil, ""); g.status != 200 || g.str("checkout_id") != id {
		t.Fatalf("GET right after POST: %d %s", g.status, g.raw)
	}
	done := e.wait(alice, id)
	orderID := done.str("order_id")
	if done.str("status") != "completed" || orderID == "" {
		t.Fatalf("final: %s", done.raw)
	}
	if o := e.do("GET", "/v1/orders/"+orderID, alice, e2eAPIKey, nil, ""); o.status != 200 || o.str("checkout_id") != id {
		t.Fatalf("order right after completion: %d %s", o.status, o.raw)
	}

	// Caught up, the replica answers (and still right).
	replica.WaitReplayed(t)
	before := reader.Stats().ReplicaReads
	for deadline := time.Now().Add(10 * time.Second); reader.Stats().ReplicaReads == before; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no read went to the caught-up replica: %+v", reader.Stats())
		}
		if o := e.do("GET", "/v1/orders/"+orderID, alice, e2eAPIKey, nil, ""); o.status != 200 || o.str("order_id") != orderID {
			t.Fatalf("order: %d %s", o.status, o.raw)
		}
		if p := e.do("GET", "/v1/products/E2E-REPL", "", e2eAPIKey, nil, ""); p.status != 200 || p.body["available"] != float64(8) {
			t.Fatalf("product after the sale: %d %s; want 8 available", p.status, p.raw)
		}
	}
}
