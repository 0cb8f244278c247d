package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/checkout-dev/checkout/internal/execution"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/checkout"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

// localEnv is an env whose executions go to the local Step Functions.
func localEnv(t *testing.T) *env {
	t.Helper()
	pool := pgtest.NewPool(t)
	c := sfnClient(startLocalSFN(t, pool))
	return newEnvOnPool(t, pool, execution.SFN{Client: c, StateMachineARN: createMachine(t, c)})
}

func (e *env) newCheckout(t *testing.T, user, key string) CheckoutBody {
	t.Helper()
	resp := do(t, e.h, postReq(user, key, cart(`{"sku":"TEE-1","quantity":1}`)))
	if resp.StatusCode != 202 {
		t.Fatalf("create checkout: %d %s", resp.StatusCode, resp.Body)
	}
	return decode[CheckoutBody](t, resp)
}

func TestGetCheckout(t *testing.T) {
	t.Parallel()
	e := localEnv(t)
	co := e.newCheckout(t, "owner", "k1")
	path := "/v1/checkouts/" + co.CheckoutID
	cases := []struct {
		name   string
		opts   []reqOpt
		path   string
		status int
		code   string
	}{
		{"owner", []reqOpt{asUser("owner")}, path, 200, ""},
		{"owner via resource", []reqOpt{asUser("owner"), withResource("/v1/checkouts/{id}", map[string]string{"id": co.CheckoutID})}, "/ignored", 200, ""},
		{"owner, wait=0", []reqOpt{asUser("owner"), withQuery("wait", "0")}, path, 200, ""},
		{"other user", []reqOpt{asUser("intruder")}, path, 404, "not_found"},
		{"anonymous", nil, path, 401, "unauthorized"},
		{"unknown id", []reqOpt{asUser("owner")}, "/v1/checkouts/" + uuid.NewString(), 404, "not_found"},
		{"malformed id", []reqOpt{asUser("owner")}, "/v1/checkouts/not-a-uuid", 400, "invalid_request"},
		{"id without dashes", []reqOpt{asUser("owner")}, "/v1/checkouts/" + strings.ReplaceAll(co.CheckoutID, "-", ""), 400, "invalid_request"},
		{"malformed order id", []reqOpt{asUser("owner")}, "/v1/orders/not-a-uuid", 400, "invalid_request"},
		{"empty wait", []reqOpt{asUser("owner"), withQuery("wait", "")}, path, 400, "invalid_request"},
		{"wait too long", []reqOpt{asUser("owner"), withQuery("wait", "21")}, path, 400, "invalid_request"},
		{"negative wait", []reqOpt{asUser("owner"), withQuery("wait", "-1")}, path, 400, "invalid_request"},
		{"wait not a number", []reqOpt{asUser("owner"), withQuery("wait", "soon")}, path, 400, "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp := do(t, e.h, newReq("GET", tc.path, tc.opts...))
			if tc.code != "" {
				wantError(t, resp, tc.status, tc.code)
				return
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d %s", resp.StatusCode, resp.Body)
			}
			if got := decode[CheckoutBody](t, resp); got != co {
				t.Fatalf("got %+v; want %+v", got, co)
			}
		})
	}
}

func TestGetCheckoutWaitsForTheOutcome(t *testing.T) {
	t.Parallel()
	e := localEnv(t)
	co := e.newCheckout(t, "owner", "k1")
	id := uuid.MustParse(co.CheckoutID)
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(300 * time.Millisecond)
		if err := e.co.Finish(context.Background(), id, checkout.Failed("payment_declined", "Your card was declined.")); err != nil {
			t.Errorf("Finish: %v", err)
		}
	}()
	start := time.Now()
	resp := do(t, e.h, newReq("GET", "/v1/checkouts/"+co.CheckoutID, asUser("owner"), withQuery("wait", "20")))
	took := time.Since(start)
	<-done
	got := decode[CheckoutBody](t, resp)
	if resp.StatusCode != 200 || got.Status != "failed" || got.Failure == nil || got.Failure.Code != "payment_declined" {
		t.Fatalf("%d %s; want the failed checkout", resp.StatusCode, resp.Body)
	}
	if took > 15*time.Second {
		t.Fatalf("long poll took %v; it should end when the checkout became final", took)
	}

	// A request deadline shorter than wait bounds the long poll: it answers
	// the current (pending) state instead of failing.
	other := e.newCheckout(t, "owner", "k2")
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	req := newReq("GET", "/v1/checkouts/"+other.CheckoutID, asUser("owner"), withQuery("wait", "20"))
	resp, _ = e.h.Handle(ctx, req)
	checkResponse(t, req, resp)
	if resp.StatusCode != 200 || decode[CheckoutBody](t, resp).Status != "pending" {
		t.Fatalf("bounded wait: %d %s", resp.StatusCode, resp.Body)
	}
}

// insertOrder records a paid order orderID of user for checkoutID (1 ×
// TEE-1 at 1999 USD) as order.Create leaves it: a succeeded charge, the
// checkout naming its order, the order and its item.
func insertOrder(t *testing.T, pool *pgxpool.Pool, checkoutID, orderID uuid.UUID, user string) {
	t.Helper()
	ctx := context.Background()
	_, err := pool.Exec(ctx, `
		WITH pay AS (
			INSERT INTO payment_transactions (checkout_id, kind, idempotency_key, amount, currency, status, provider_payment_id)
			VALUES ($1, 'charge', $3, 1999, 'USD', 'succeeded', 'pi_'||$3) RETURNING id),
		co AS (UPDATE checkouts SET order_id = $2, order_created_at = now() WHERE id = $1)
		INSERT INTO orders (id, created_at, checkout_id, user_id, amount, currency, payment_id) SELECT $2, now(), $1, $4, 1999, 'USD', id FROM pay`,
		checkoutID, orderID, "k-"+orderID.String()[:8], user)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO order_items (order_id, order_created_at, sku, name, quantity, unit_amount)
		SELECT id, created_at, 'TEE-1', 'T-shirt', 1, 1999 FROM orders WHERE id = $1`, orderID); err != nil {
		t.Fatal(err)
	}
}

func TestGetOrder(t *testing.T) {
	t.Parallel()
	e := localEnv(t)
	co := e.newCheckout(t, "owner", "k1")
	orderID := uuid.New() // a random (version 4) id, as orders made before migration 00017 have
	insertOrder(t, e.pool, uuid.MustParse(co.CheckoutID), orderID, "owner")
	resp := do(t, e.h, newReq("GET", "/v1/orders/"+orderID.String(), asUser("owner")))
	got := decode[map[string]any](t, resp)
	items, _ := got["items"].([]any)
	if resp.StatusCode != 200 || got["order_id"] != orderID.String() || got["checkout_id"] != co.CheckoutID ||
		got["payment_status"] != "succeeded" || got["amount"] != float64(1999) || len(items) != 1 {
		t.Fatalf("%d %s", resp.StatusCode, resp.Body)
	}
	wantError(t, do(t, e.h, newReq("GET", "/v1/orders/"+orderID.String(), asUser("intruder"))), 404, "not_found")
	wantError(t, do(t, e.h, newReq("GET", "/v1/orders/"+uuid.NewString(), asUser("owner"))), 404, "not_found")
	wantError(t, do(t, e.h, newReq("GET", "/v1/orders/"+orderID.String())), 401, "unauthorized")
}

func TestProductsAndAdmin(t *testing.T) {
	t.Parallel()
	e := localEnv(t)
	type step struct {
		name   string
		req    reqT
		status int
		code   string
		body   string // expected JSON body for successes (exact)
	}
	admin, nobody := asAdmin("boss"), asUser("shopper")
	steps := []step{
		{"product", newReq("GET", "/v1/products/TEE-1"), 200, "", `{"sku":"TEE-1","name":"T-shirt","amount":1999,"currency":"USD","available":100}`},
		{"unknown product", newReq("GET", "/v1/products/NOPE-1"), 404, "not_found", ""},
		{"malformed sku", newReq("GET", "/v1/products/bad%20sku!"), 400, "invalid_request", ""},
		{"create product without auth", newReq("PUT", "/v1/admin/products/NEW-1", jsonBody(`{"name":"New","amount":100,"currency":"USD"}`)), 401, "unauthorized", ""},
		{"create product without admin scope", newReq("PUT", "/v1/admin/products/NEW-1", nobody, jsonBody(`{"name":"New","amount":100,"currency":"USD"}`)), 403, "forbidden", ""},
		{"create product", newReq("PUT", "/v1/admin/products/NEW-1", admin, jsonBody(`{"name":"New","amount":100,"currency":"USD"}`)), 201, "", `{"sku":"NEW-1","name":"New","amount":100,"currency":"USD"}`},
		{"new product has no stock", newReq("GET", "/v1/admin/inventory/NEW-1", admin), 200, "", `{"sku":"NEW-1","on_hand":0,"reserved":0,"available":0}`},
		{"same product again", newReq("PUT", "/v1/admin/products/NEW-1", admin, jsonBody(`{"name":"New","amount":100,"currency":"USD"}`)), 200, "", `{"sku":"NEW-1","name":"New","amount":100,"currency":"USD"}`},
		{"update product", newReq("PUT", "/v1/admin/products/NEW-1", admin, jsonBody(`{"name":"Newer","amount":150,"currency":"USD"}`)), 200, "", `{"sku":"NEW-1","name":"Newer","amount":150,"currency":"USD"}`},
		{"product name with NUL", newReq("PUT", "/v1/admin/products/NEW-2", admin, jsonBody(`{"name":"X\u0000","amount":1,"currency":"USD"}`)), 400, "invalid_request", ""},
		{"product name with a bidi override", newReq("PUT", "/v1/admin/products/NEW-2", admin, jsonBody(`{"name":"X\u202e","amount":1,"currency":"USD"}`)), 400, "invalid_request", ""},
		{"product missing amount", newReq("PUT", "/v1/admin/products/NEW-2", admin, jsonBody(`{"name":"X","currency":"USD"}`)), 400, "invalid_request", ""},
		{"product negative amount", newReq("PUT", "/v1/admin/products/NEW-2", admin, jsonBody(`{"name":"X","amount":-1,"currency":"USD"}`)), 400, "invalid_request", ""},
		{"product float amount", newReq("PUT", "/v1/admin/products/NEW-2", admin, jsonBody(`{"name":"X","amount":19.99,"currency":"USD"}`)), 400, "invalid_request", ""},
		{"product bad currency", newReq("PUT", "/v1/admin/products/NEW-2", admin, jsonBody(`{"name":"X","amount":1,"currency":"usd"}`)), 400, "invalid_request", ""},
		{"product empty name", newReq("PUT", "/v1/admin/products/NEW-2", admin, jsonBody(`{"name":"","amount":1,"currency":"USD"}`)), 400, "invalid_request", ""},
		{"product unknown field", newReq("PUT", "/v1/admin/products/NEW-2", admin, jsonBody(`{"name":"X","amount":1,"currency":"USD","stock":5}`)), 400, "invalid_request", ""},
		{"product bad sku", newReq("PUT", "/v1/admin/products/-bad", admin, jsonBody(`{"name":"X","amount":1,"currency":"USD"}`)), 400, "invalid_request", ""},
		{"product wrong content type", newReq("PUT", "/v1/admin/products/NEW-2", admin, header("Content-Type", "text/plain"), withBody(`{}`)), 415, "unsupported_media_type", ""},
		{"set stock", newReq("PUT", "/v1/admin/inventory/NEW-1", admin, jsonBody(`{"quantity":5}`)), 200, "", `{"sku":"NEW-1","on_hand":5,"reserved":0,"available":5}`},
		{"stock is visible", newReq("GET", "/v1/products/NEW-1"), 200, "", `{"sku":"NEW-1","name":"Newer","amount":150,"currency":"USD","available":5}`},
		{"stock without admin", newReq("GET", "/v1/admin/inventory/NEW-1", nobody), 403, "forbidden", ""},
		{"stock without auth", newReq("GET", "/v1/admin/inventory/NEW-1"), 401, "unauthorized", ""},
		{"set stock without admin", newReq("PUT", "/v1/admin/inventory/NEW-1", nobody, jsonBody(`{"quantity":9}`)), 403, "forbidden", ""},
		{"negative stock", newReq("PUT", "/v1/admin/inventory/NEW-1", admin, jsonBody(`{"quantity":-1}`)), 400, "invalid_request", ""},
		{"missing quantity", newReq("PUT", "/v1/admin/inventory/NEW-1", admin, jsonBody(`{}`)), 400, "invalid_request", ""},
		{"split a hot SKU over buckets", newReq("PUT", "/v1/admin/inventory/NEW-1", admin, jsonBody(`{"quantity":8,"buckets":4}`)), 200, "", `{"sku":"NEW-1","on_hand":8,"reserved":0,"available":8}`},
		{"too many buckets changes nothing", newReq("PUT", "/v1/admin/inventory/NEW-1", admin, jsonBody(`{"quantity":9,"buckets":65}`)), 400, "invalid_request", ""},
		{"zero buckets", newReq("PUT", "/v1/admin/inventory/NEW-1", admin, jsonBody(`{"quantity":9,"buckets":0}`)), 400, "invalid_request", ""},
		{"still one number after the split", newReq("GET", "/v1/admin/inventory/NEW-1", admin), 200, "", `{"sku":"NEW-1","on_hand":8,"reserved":0,"available":8}`},
		{"back to one bucket", newReq("PUT", "/v1/admin/inventory/NEW-1", admin, jsonBody(`{"quantity":5,"buckets":1}`)), 200, "", `{"sku":"NEW-1","on_hand":5,"reserved":0,"available":5}`},
		{"stock of unknown product", newReq("PUT", "/v1/admin/inventory/NOPE-1", admin, jsonBody(`{"quantity":1}`)), 404, "not_found", ""},
		{"stock of unknown product (GET)", newReq("GET", "/v1/admin/inventory/NOPE-1", admin), 404, "not_found", ""},
		{"stock body too large", newReq("PUT", "/v1/admin/inventory/NEW-1", admin, jsonBody(`{"quantity":1}`+string(make([]byte, 70<<10)))), 413, "payload_too_large", ""},
		{"base64 body", newReq("PUT", "/v1/admin/inventory/NEW-1", admin, jsonBody(base64.StdEncoding.EncodeToString([]byte(`{"quantity":7}`))), func(r *reqT) { r.IsBase64Encoded = true }), 200, "", `{"sku":"NEW-1","on_hand":7,"reserved":0,"available":7}`},
	}
	for _, s := range steps {
		resp := do(t, e.h, s.req)
		if s.code != "" {
			t.Run(s.name, func(t *testing.T) { wantError(t, resp, s.status, s.code) })
			continue
		}
		if resp.StatusCode != s.status || resp.Body != s.body {
			t.Errorf("%s: %d %s; want %d %s", s.name, resp.StatusCode, resp.Body, s.status, s.body)
		}
	}
	// Creation, the update and four stock changes were audited under the
	// admin; the refused requests changed nothing, and splitting into
	// buckets moves no stock, so it writes no audit row.
	var n int
	if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE actor = 'admin:boss'`).Scan(&n); err != nil || n != 6 {
		t.Fatalf("%d audit rows by admin:boss (err %v); want 6 (created, updated, 4 stock changes)", n, err)
	}

	// Stock cannot go below what is reserved: 422 below_reserved.
	co := e.newCheckout(t, "shopper", "k-reserve")
	if _, err := e.pool.Exec(context.Background(), `UPDATE inventory SET reserved = 1 WHERE sku = 'TEE-1'`); err != nil {
		t.Fatal(err)
	}
	if _, err := e.pool.Exec(context.Background(), `INSERT INTO reservations (checkout_id, sku, quantity, expires_at) VALUES ($1, 'TEE-1', 1, now() + interval '1 hour')`, uuid.MustParse(co.CheckoutID)); err != nil {
		t.Fatal(err)
	}
	wantError(t, do(t, e.h, newReq("PUT", "/v1/admin/inventory/TEE-1", admin, jsonBody(`{"quantity":0}`))), 422, "below_reserved")
}

func TestRoutingAndHealth(t *testing.T) {
	t.Parallel()
	e := localEnv(t)
	cases := []struct {
		name   string
		req    reqT
		status int
		code   string
		allow  string
	}{
		{"health", newReq("GET", "/v1/health"), 200, "", ""},
		{"unknown path", newReq("GET", "/v1/nothing"), 404, "not_found", ""},
		{"root", newReq("GET", "/"), 404, "not_found", ""},
		{"too deep", newReq("GET", "/v1/checkouts/a/b"), 404, "not_found", ""},
		{"wrong method on checkouts", newReq("GET", "/v1/checkouts", asUser("u")), 405, "method_not_allowed", "POST"},
		{"wrong method on inventory", newReq("DELETE", "/v1/admin/inventory/TEE-1", asAdmin("a")), 405, "method_not_allowed", "GET, PUT"},
		{"wrong method on health", newReq("POST", "/v1/health"), 405, "method_not_allowed", "GET"},
		{"proxy resource falls back to the path", newReq("GET", "/v1/products/TEE-1", withResource("/{proxy+}", map[string]string{"proxy": "v1/products/TEE-1"})), 200, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp := do(t, e.h, tc.req)
			if tc.code != "" {
				wantError(t, resp, tc.status, tc.code)
			} else if resp.StatusCode != tc.status {
				t.Fatalf("status %d %s", resp.StatusCode, resp.Body)
			}
			if resp.Headers["Allow"] != tc.allow {
				t.Errorf("Allow %q; want %q", resp.Headers["Allow"], tc.allow)
			}
		})
	}
	if resp := do(t, e.h, newReq("GET", "/v1/health")); resp.Body != `{"status":"ok"}` {
		t.Errorf("health body %s", resp.Body)
	}

	// A closed database: health answers 503 with Retry-After.
	closed := pgtest.NewPool(t)
	closed.Close()
	down := New(Deps{Pool: closed, Checkouts: checkout.NewStore(closed), Log: quiet})
	resp := do(t, down, newReq("GET", "/v1/health"))
	wantError(t, resp, http.StatusServiceUnavailable, "service_unavailable")
	if resp.Headers["Retry-After"] == "" {
		t.Error("503 without Retry-After")
	}
	// And other routes answer 500 "internal error" without the detail.
	resp = do(t, down, newReq("GET", "/v1/checkouts/"+uuid.NewString(), asUser("u")))
	if eb := wantError(t, resp, 500, "internal_error"); eb.Error.Message != "internal error" {
		t.Errorf("message %q leaks detail", eb.Error.Message)
	}
}

func TestPanicBecomes500(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	h := New(Deps{Log: slog.New(slog.NewJSONHandler(&logs, nil))}) // no stores: any data route dereferences nil
	reqs := []reqT{
		newReq("GET", "/v1/orders/"+uuid.NewString(), asUser("u")),
		newReq("GET", "/v1/admin/inventory/TEE-1", asAdmin("a")),
	}
	for _, req := range reqs {
		resp := do(t, h, req)
		if eb := wantError(t, resp, 500, "internal_error"); eb.Error.Message != "internal error" {
			t.Errorf("message %q", eb.Error.Message)
		}
	}
	// The panic is logged with the request id, then the one request line.
	type line struct {
		Msg       string `json:"msg"`
		RequestID string `json:"request_id"`
		User      string `json:"user"`
		Status    int    `json:"status"`
		Panic     string `json:"panic"`
	}
	var lines []line
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var v line
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		lines = append(lines, v)
	}
	if len(lines) != 4 {
		t.Fatalf("%d log lines; want 4 (panic + request, twice):\n%s", len(lines), logs.String())
	}
	for i, req := range reqs {
		p, r := lines[2*i], lines[2*i+1]
		if p.Msg != "panic serving request" || p.RequestID != req.RequestContext.RequestID || p.Panic == "" {
			t.Errorf("panic line %+v", p)
		}
		if r.Msg != "request" || r.RequestID != req.RequestContext.RequestID || r.Status != 500 || r.User == "" {
			t.Errorf("request line %+v", r)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestHeaderLookupIsCaseInsensitive(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"Idempotency-Key", "idempotency-key", "IDEMPOTENCY-KEY"} {
		req := newReq("POST", "/", header(name, "v"))
		if v, ok := Header(req, "Idempotency-Key"); !ok || v != "v" {
			t.Errorf("%s: %q %v", name, v, ok)
		}
	}
	req := newReq("POST", "/")
	req.MultiValueHeaders = map[string][]string{"idempotency-KEY": {"mv"}}
	if v, ok := Header(req, "Idempotency-Key"); !ok || v != "mv" {
		t.Errorf("multi-value: %q %v", v, ok)
	}
	if _, ok := Header(req, "X-Missing"); ok {
		t.Error("missing header found")
	}
}

type reqT = events.APIGatewayProxyRequest

// TestSampleEventsRoute checks that every sample API event under events/
// (what sam local invoke and the docs use) reaches an endpoint of ours.
func TestSampleEventsRoute(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../../events/api-*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no sample events (%v)", err)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var req reqT
		if err := json.Unmarshal(raw, &req); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		r, params := match(req)
		if r != nil && req.HTTPMethod == http.MethodOptions {
			continue // a CORS preflight: every route answers it
		}
		if r == nil || r.endpoint(req.HTTPMethod) == nil {
			t.Errorf("%s: %s %s (resource %s) is not routed", f, req.HTTPMethod, req.Path, req.Resource)
			continue
		}
		for _, name := range paramNames(r.pattern) {
			if params[name] == "" {
				t.Errorf("%s: path parameter %s is empty", f, name)
			}
		}
		if p := principalOf(req); r.endpoint(req.HTTPMethod).access >= user && p.UserID == "" {
			t.Errorf("%s: a user route without a principal in the sample", f)
		}
	}
}
