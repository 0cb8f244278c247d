package api

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/checkout"
	"github.com/checkout-dev/checkout/internal/execution"
	"github.com/checkout-dev/checkout/internal/readpool"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

// replicaEnv is the handler wired as the API Lambda is with
// DATABASE_READ_URL: the primary's stores, and Reads on a real streaming
// replica of the test database.
type replicaEnv struct {
	*env
	*pgtest.Replica
	reader      *readpool.Reader
	replicaPool *pgxpool.Pool
}

func newReplicaEnv(t *testing.T) *replicaEnv {
	t.Helper()
	ctx := context.Background()
	dsn := pgtest.NewDB(t)
	pool := pgtest.PoolOn(t, dsn)
	c := sfnClient(startLocalSFN(t, pool))
	ex := execution.SFN{Client: c, StateMachineARN: createMachine(t, c)}
	e := &replicaEnv{env: newEnvOnPool(t, pool, ex), Replica: pgtest.NewReplica(t, dsn)}
	e.replicaPool = pgtest.PoolOn(t, e.DSN)
	// A long lag bound: the replica stays picked while its replay is
	// paused, so the routes' own read-your-writes rules are what keep the
	// answers right (the bound is readpool's test).
	e.reader = readpool.New(pool, e.replicaPool, readpool.Options{MaxLag: time.Minute,
		RetryAfter: 100 * time.Millisecond, MaxRetryAfter: 200 * time.Millisecond, Log: quiet})
	d := e.deps(ex)
	d.Reads = NewReads(e.reader)
	e.h = New(d)
	e.WaitReplayed(t)
	// The reader's first probes may find the replica behind the primary's
	// first sampled position; it settles on the replica within a few.
	deadline := time.Now().Add(10 * time.Second)
	for e.reader.Pick(ctx) != readpool.Replica {
		if time.Now().After(deadline) {
			t.Fatal("the reader never picked the caught-up replica")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return e
}

// served runs fn and returns how many of its reads the replica answered
// and how many fell back to the primary.
func (e *replicaEnv) served(fn func()) (replica, fallbacks uint64) {
	before := e.reader.Stats()
	fn()
	after := e.reader.Stats()
	return after.ReplicaReads - before.ReplicaReads, after.Fallbacks - before.Fallbacks
}

// addOrder records a paid order for checkout co of user, as the saga's
// CreateOrder would leave it.
func (e *replicaEnv) addOrder(t *testing.T, co CheckoutBody, user string) uuid.UUID {
	t.Helper()
	id := uuid.New()
	insertOrder(t, e.pool, uuid.MustParse(co.CheckoutID), id, user)
	return id
}

func (e *replicaEnv) complete(t *testing.T, co CheckoutBody) {
	t.Helper()
	ctx := context.Background()
	id := uuid.MustParse(co.CheckoutID)
	if err := e.co.MarkProcessing(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := e.co.Finish(ctx, id, checkout.Outcome{Status: checkout.StatusCompleted}); err != nil {
		t.Fatal(err)
	}
}

// TestRoutesWithAReadReplica: the API with a real streaming replica
// answers every read-only route right: from the replica when it has the
// answer, from the primary for what it does not have yet (replay paused),
// and from the primary with no error while it is down.
func TestRoutesWithAReadReplica(t *testing.T) {
	t.Parallel()
	e := newReplicaEnv(t)
	admin := asAdmin("boss")
	const tee = `{"sku":"TEE-1","name":"T-shirt","amount":1999,"currency":"USD","available":100}`

	// Caught up: reads come from the replica.
	if rep, fb := e.served(func() {
		resp := do(t, e.h, newReq("GET", "/v1/products/TEE-1"))
		if resp.StatusCode != 200 || resp.Body != tee {
			t.Fatalf("product: %d %s; want %s", resp.StatusCode, resp.Body, tee)
		}
		resp = do(t, e.h, newReq("GET", "/v1/admin/inventory/TEE-1", admin))
		if resp.StatusCode != 200 || resp.Body != `{"sku":"TEE-1","on_hand":100,"reserved":0,"available":100}` {
			t.Fatalf("admin inventory: %d %s", resp.StatusCode, resp.Body)
		}
	}); rep != 1 || fb != 0 {
		t.Fatalf("%d replica reads and %d fallbacks; want the product's level from the replica and the admin's read from the primary", rep, fb)
	}

	// Replay paused: everything written now is on the primary only.
	e.PauseReplay(t, true)
	resp := do(t, e.h, newReq("PUT", "/v1/admin/products/NEW-1", admin, jsonBody(`{"name":"New","amount":100,"currency":"USD"}`)))
	if resp.StatusCode != 201 {
		t.Fatalf("create product: %d %s", resp.StatusCode, resp.Body)
	}
	// An admin's change to an existing product and its stock shows at once
	// (the product and the admin's reads come from the primary).
	resp = do(t, e.h, newReq("PUT", "/v1/admin/products/TEE-1", admin, jsonBody(`{"name":"T-shirt v2","amount":2499,"currency":"USD"}`)))
	if resp.StatusCode != 200 && resp.StatusCode != 201 {
		t.Fatalf("update product: %d %s", resp.StatusCode, resp.Body)
	}
	if resp = do(t, e.h, newReq("GET", "/v1/products/TEE-1")); resp.StatusCode != 200 || !strings.Contains(resp.Body, `"name":"T-shirt v2","amount":2499`) {
		t.Fatalf("product updated while the replica lags: %d %s; want the new name and price", resp.StatusCode, resp.Body)
	}
	resp = do(t, e.h, newReq("PUT", "/v1/admin/inventory/TEE-1", admin, jsonBody(`{"quantity":90}`)))
	if resp.StatusCode != 200 {
		t.Fatalf("set stock: %d %s", resp.StatusCode, resp.Body)
	}
	if resp = do(t, e.h, newReq("GET", "/v1/admin/inventory/TEE-1", admin)); resp.StatusCode != 200 || !strings.Contains(resp.Body, `"on_hand":90`) {
		t.Fatalf("admin inventory after the admin's write: %d %s; want on_hand 90", resp.StatusCode, resp.Body)
	}
	resp = do(t, e.h, newReq("PUT", "/v1/admin/products/TEE-1", admin, jsonBody(`{"name":"T-shirt","amount":1999,"currency":"USD"}`)))
	if resp.StatusCode != 200 && resp.StatusCode != 201 {
		t.Fatalf("restore product: %d %s", resp.StatusCode, resp.Body)
	}
	resp = do(t, e.h, newReq("PUT", "/v1/admin/inventory/TEE-1", admin, jsonBody(`{"quantity":100}`)))
	if resp.StatusCode != 200 {
		t.Fatalf("restore stock: %d %s", resp.StatusCode, resp.Body)
	}

	var fb uint64
	if _, fb = e.served(func() {
		resp := do(t, e.h, newReq("GET", "/v1/products/NEW-1"))
		if resp.StatusCode != 200 || resp.Body != `{"sku":"NEW-1","name":"New","amount":100,"currency":"USD","available":0}` {
			t.Fatalf("product created while the replica lags: %d %s; want it from the primary", resp.StatusCode, resp.Body)
		}
	}); fb != 1 {
		t.Errorf("%d fallbacks; want the replica's not-found asked of the primary once", fb)
	}

	// Checkout status right after POST: the replica has never seen it.
	co := e.newCheckout(t, "owner", "k1")
	var onReplica int
	if err := e.replicaPool.QueryRow(context.Background(), `SELECT count(*) FROM checkouts WHERE id = $1`, co.CheckoutID).Scan(&onReplica); err != nil || onReplica != 0 {
		t.Fatalf("the paused replica has the new checkout (%d, %v); the test needs it stale", onReplica, err)
	}
	path := "/v1/checkouts/" + co.CheckoutID
	for _, opts := range [][]reqOpt{{asUser("owner")}, {asUser("owner"), withQuery("wait", "0")}} {
		resp := do(t, e.h, newReq("GET", path, opts...))
		if got := decode[CheckoutBody](t, resp); resp.StatusCode != 200 || got.Status != "pending" || got.CheckoutID != co.CheckoutID {
			t.Fatalf("GET right after POST: %d %s; want the pending checkout", resp.StatusCode, resp.Body)
		}
	}
	wantError(t, do(t, e.h, newReq("GET", path, asUser("intruder"))), 404, "not_found")

	// Completed on the primary while the replica still has nothing: a long
	// poll answers at once, and so does the order it links to.
	orderID := e.addOrder(t, co, "owner")
	e.complete(t, co)
	start := time.Now()
	resp = do(t, e.h, newReq("GET", path, asUser("owner"), withQuery("wait", "20")))
	if got := decode[CheckoutBody](t, resp); resp.StatusCode != 200 || got.Status != "completed" || got.OrderID != orderID.String() {
		t.Fatalf("long poll after completion: %d %s; want completed with order %s", resp.StatusCode, resp.Body, orderID)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the long poll took %s; the checkout was already completed on the primary", took)
	}
	orderPath := "/v1/orders/" + orderID.String()
	resp = do(t, e.h, newReq("GET", orderPath, asUser("owner")))
	if got := decode[map[string]any](t, resp); resp.StatusCode != 200 || got["order_id"] != orderID.String() || got["payment_status"] != "succeeded" {
		t.Fatalf("order just created: %d %s; want it from the primary", resp.StatusCode, resp.Body)
	}
	wantError(t, do(t, e.h, newReq("GET", orderPath, asUser("intruder"))), 404, "not_found")

	// Replay resumed: the settled checkout and the order come from the
	// replica, with no fallback.
	e.PauseReplay(t, false)
	e.WaitReplayed(t)
	if rep, fb := e.served(func() {
		resp := do(t, e.h, newReq("GET", path, asUser("owner")))
		if got := decode[CheckoutBody](t, resp); resp.StatusCode != 200 || got.Status != "completed" {
			t.Fatalf("completed checkout: %d %s", resp.StatusCode, resp.Body)
		}
		resp = do(t, e.h, newReq("GET", orderPath, asUser("owner")))
		if resp.StatusCode != 200 || decode[map[string]any](t, resp)["order_id"] != orderID.String() {
			t.Fatalf("order: %d %s", resp.StatusCode, resp.Body)
		}
	}); rep != 2 || fb != 0 {
		t.Fatalf("%d replica reads and %d fallbacks; want the settled checkout and the order from the replica", rep, fb)
	}

	// The replica down: no error, the primary answers; back: the replica.
	if err := e.Kill(); err != nil {
		t.Fatal(err)
	}
	reads := func() {
		t.Helper()
		for _, c := range []struct {
			req  reqT
			want string
		}{
			{newReq("GET", "/v1/products/TEE-1"), tee},
			{newReq("GET", orderPath, asUser("owner")), orderID.String()},
			{newReq("GET", path, asUser("owner")), `"status":"completed"`},
		} {
			resp := do(t, e.h, c.req)
			if resp.StatusCode != 200 || !strings.Contains(resp.Body, c.want) {
				t.Fatalf("%s %s: %d %s; want 200 with %s", c.req.HTTPMethod, c.req.Path, resp.StatusCode, resp.Body, c.want)
			}
		}
	}
	for range 5 {
		if rep, _ := e.served(reads); rep != 0 {
			t.Fatalf("%d reads answered by a killed replica", rep)
		}
	}
	if err := e.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if rep, _ := e.served(reads); rep == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("reads never returned to the restarted replica")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
