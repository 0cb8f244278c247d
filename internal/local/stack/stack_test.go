package stack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/internal/auth"
	"github.com/checkout-dev/checkout/internal/local/stack"
	"github.com/checkout-dev/checkout/internal/stripefake"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

const (
	e2eAPIKey = "e2e-api-key"
	e2eSecret = "e2e-jwt-secret-0123456789"
)

// e2e is one running stack, driven over HTTP only, as a storefront would.
type e2e struct {
	t     *testing.T
	dsn   string
	fake  *stripefake.Fake
	url   string
	stack *stack.Stack
	opts  stack.Options
}

// startE2E starts the whole stack from template.yaml on free loopback
// ports, a fresh database and a Stripe fake that outlives the stack (as
// Stripe outlives a restart of ours).
func startE2E(t *testing.T, params map[string]string) *e2e {
	t.Helper()
	return startE2EWith(t, params, nil)
}

// startE2EWith is startE2E with the stack's options adjusted by adjust.
func startE2EWith(t *testing.T, params map[string]string, adjust func(*stack.Options)) *e2e {
	t.Helper()
	e := &e2e{t: t, dsn: pgtest.NewDB(t), fake: stripefake.New(stripefake.Options{})}
	srv := httptest.NewServer(e.fake)
	t.Cleanup(srv.Close)
	t.Cleanup(e.fake.Close)
	e.opts = stack.Options{TemplatePath: "../../../template.yaml", DataDir: t.TempDir(), DatabaseURL: e.dsn,
		Addr: "127.0.0.1:0", SQSAddr: "127.0.0.1:0", SFNAddr: "127.0.0.1:0", StripeURL: srv.URL,
		APIKey: e2eAPIKey, JWTSecret: e2eSecret, Parameters: params,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if adjust != nil {
		adjust(&e.opts)
	}
	e.start()
	t.Cleanup(func() { e.stack.Close() })
	return e
}

func (e *e2e) start() {
	e.t.Helper()
	s, err := stack.Start(context.Background(), e.opts)
	if err != nil {
		e.t.Fatal(err)
	}
	e.stack, e.url = s, s.APIURL
}

// generous limits, so only the throttling test meets them
var roomy = map[string]string{"ThrottleBurstLimit": "100000", "ThrottleRateLimit": "100000",
	"CatalogThrottleBurstLimit": "100000", "CatalogThrottleRateLimit": "100000",
	"WafIpRateLimit": "1000000", "WafUserRateLimit": "100000"}

func (e *e2e) token(sub string, admin bool) string {
	e.t.Helper()
	tok, err := auth.Mint([]byte(e2eSecret), auth.MintOptions{Subject: sub, Admin: admin, TTL: time.Hour})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (r reply) str(key string) string { s, _ := r.body[key].(string); return s }

func (r reply) code() string {
	if e, ok := r.body["error"].(map[string]any); ok {
		s, _ := e["code"].(string)
		return s
	}
	return ""
}

func (r reply) failure() string {
	if f, ok := r.body["failure"].(map[string]any); ok {
		s, _ := f["code"].(string)
		return s
	}
	return ""
}

func (e *e2e) do(method, path, token, key string, headers map[string]string, body string) reply {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if key != "" {
		req.Header.Set("x-api-key", key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func cart(sku string, qty int, pm string) string {
	return fmt.Sprintf(`{"items":[{"sku":%q,"quantity":%d}],"currency":"USD","payment_method":%q}`, sku, qty, pm)
}

func (e *e2e) post(token, key, body string) reply {
	e.t.Helper()
	return e.do("POST", "/v1/checkouts", token, e2eAPIKey, map[string]string{"Idempotency-Key": key}, body)
}

// wait long-polls checkout id until it is final (a long poll also returns
// at once while the customer must act: then it polls again shortly).
func (e *e2e) wait(token, id string) reply {
	e.t.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
		r := e.do("GET", "/v1/checkouts/"+id+"?wait=10", token, e2eAPIKey, nil, "")
		switch r.str("status") {
		case "completed", "failed", "needs_review":
			return r
		case "requires_action":
			time.Sleep(50 * time.Millisecond)
		}
	}
	e.t.Fatalf("checkout %s did not finish in 60 s", id)
	return reply{}
}

// capturedCharges waits up to 20 s for n captured charges at the gateway
// and returns them. A checkout is completed when its order commits; the
// capture is the saga's next step, so it can trail the status by a moment.
func (e *e2e) capturedCharges(n int) []stripefake.Charge {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ch := e.fake.SuccessfulCharges()
		if len(ch) >= n || time.Now().After(deadline) {
			return ch
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *e2e) admin(method, path, body string) reply {
	e.t.Helper()
	return e.do(method, path, e.token("ops", true), e2eAPIKey, nil, body)
}

func (e *e2e) level(sku string) (onHand, reserved int) {
	e.t.Helper()
	r := e.admin("GET", "/v1/admin/inventory/"+sku, "")
	if r.status != 200 {
		e.t.Fatalf("GET inventory %s: %d %s", sku, r.status, r.raw)
	}
	return int(r.body["on_hand"].(float64)), int(r.body["reserved"].(float64))
}

func (e *e2e) product(sku string, amount, stock int) {
	e.t.Helper()
	if r := e.admin("PUT", "/v1/admin/products/"+sku, fmt.Sprintf(`{"name":"Test %s","amount":%d,"currency":"USD"}`, sku, amount)); r.status/100 != 2 {
		e.t.Fatalf("PUT product: %d %s", r.status, r.raw)
	}
	if r := e.admin("PUT", "/v1/admin/inventory/"+sku, fmt.Sprintf(`{"quantity":%d}`, stock)); r.status != 200 {
		e.t.Fatalf("PUT inventory: %d %s", r.status, r.raw)
	}
}

func (e *e2e) rows(table string) int {
	e.t.Helper()
	var n int
	if err := e.stack.Core().Pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *e2e) count(sql string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.stack.Core().Pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func TestStackOverHTTP(t *testing.T) {
	t.Parallel()
	e := startE2E(t, roomy)
	alice, bob := e.token("alice", false), e.token("bob", false)

	t.Run("happy path", func(t *testing.T) {
		e.product("E2E-TEE", 2500, 10)
		r := e.post(alice, uuid.NewString(), cart("E2E-TEE", 2, "pm_card_visa"))
		if r.status != 202 || r.header.Get("Location") != "/v1/checkouts/"+r.str("checkout_id") || r.header.Get("Retry-After") == "" {
			t.Fatalf("POST: %d %v %s", r.status, r.header, r.raw)
		}
		done := e.wait(alice, r.str("checkout_id"))
		if done.str("status") != "completed" || done.str("order_id") == "" || done.body["amount"].(float64) != 5000 {
			t.Fatalf("final: %s", done.raw)
		}
		o := e.do("GET", "/v1/orders/"+done.str("order_id"), alice, e2eAPIKey, nil, "")
		if o.status != 200 || !strings.Contains(o.raw, `"E2E-TEE"`) {
			t.Fatalf("owner reads the order: %d %s", o.status, o.raw)
		}
		if o := e.do("GET", "/v1/orders/"+done.str("order_id"), bob, e2eAPIKey, nil, ""); o.status != 404 {
			t.Fatalf("another user reads the order: %d; want 404", o.status)
		}
		if c := e.do("GET", "/v1/checkouts/"+r.str("checkout_id"), bob, e2eAPIKey, nil, ""); c.status != 404 {
			t.Fatalf("another user reads the checkout: %d; want 404", c.status)
		}
		if on, res := e.level("E2E-TEE"); on != 8 || res != 0 {
			t.Fatalf("stock on_hand=%d reserved=%d; want 8, 0", on, res)
		}
		// The order event reaches the three consumers through their queues.
		deadline := time.Now().Add(20 * time.Second)
		for e.count(`SELECT count(*) FROM shipments WHERE order_id = $1`, done.str("order_id")) == 0 ||
			e.count(`SELECT count(DISTINCT consumer) FROM processed_messages`) < 3 {
			if time.Now().After(deadline) {
				t.Fatalf("the consumers did not process the order event: %d shipments, %d consumers done",
					e.count(`SELECT count(*) FROM shipments WHERE order_id = $1`, done.str("order_id")),
					e.count(`SELECT count(DISTINCT consumer) FROM processed_messages`))
			}
			time.Sleep(50 * time.Millisecond)
		}
		if n := e.count(`SELECT count(*) FROM outbox_emails`); n < 1 {
			t.Fatalf("%d confirmation e-mails in the outbox; want 1", n)
		}
	})

	t.Run("out of stock", func(t *testing.T) {
		e.product("E2E-GONE", 1000, 1)
		r := e.post(alice, uuid.NewString(), cart("E2E-GONE", 2, "pm_card_visa"))
		done := e.wait(alice, r.str("checkout_id"))
		if done.str("status") != "failed" || done.failure() != "out_of_stock" {
			t.Fatalf("final: %s", done.raw)
		}
	})

	t.Run("declined card restores the stock", func(t *testing.T) {
		e.product("E2E-MUG", 1200, 5)
		r := e.post(alice, uuid.NewString(), cart("E2E-MUG", 3, "pm_card_chargeDeclined"))
		done := e.wait(alice, r.str("checkout_id"))
		if done.str("status") != "failed" || done.failure() != "payment_declined" {
			t.Fatalf("final: %s", done.raw)
		}
		if on, res := e.level("E2E-MUG"); on != 5 || res != 0 {
			t.Fatalf("stock on_hand=%d reserved=%d; want 5, 0", on, res)
		}
	})

	t.Run("idempotency", func(t *testing.T) {
		e.product("E2E-IDEM", 700, 100)
		key := uuid.NewString()
		first := e.post(alice, key, cart("E2E-IDEM", 1, "pm_card_visa"))
		again := e.post(alice, key, cart("E2E-IDEM", 1, "pm_card_visa"))
		if again.str("checkout_id") != first.str("checkout_id") {
			t.Fatalf("same key: %s then %s", first.raw, again.raw)
		}
		if other := e.post(alice, key, cart("E2E-IDEM", 2, "pm_card_visa")); other.status != 422 || other.code() != "idempotency_key_reused" {
			t.Fatalf("same key, other body: %d %s", other.status, other.raw)
		}
		// 20 concurrent duplicates: one checkout, one charge.
		dupKey := uuid.NewString()
		ids := make([]string, 20)
		var wg sync.WaitGroup
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ids[i] = e.post(bob, dupKey, cart("E2E-IDEM", 1, "pm_card_visa")).str("checkout_id")
			}()
		}
		wg.Wait()
		for _, id := range ids {
			if id != ids[0] || id == "" {
				t.Fatalf("duplicates got checkouts %v", ids)
			}
		}
		if done := e.wait(bob, ids[0]); done.str("status") != "completed" {
			t.Fatalf("final: %s", done.raw)
		}
		if n := len(e.fake.PaymentIntentsByMetadata("checkout_id", ids[0])); n != 1 {
			t.Fatalf("%d PaymentIntents for the duplicated checkout; want 1", n)
		}
	})

	t.Run("auth", func(t *testing.T) {
		expired, err := auth.Mint([]byte(e2eSecret), auth.MintOptions{Subject: "alice", TTL: time.Minute, Now: time.Now().Add(-time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		forged, err := auth.Mint([]byte("some-other-secret-0123456789"), auth.MintOptions{Subject: "alice", TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name, method, path, token, key string
			status                         int
		}{
			{"missing JWT", "GET", "/v1/checkouts/" + uuid.NewString(), "", e2eAPIKey, 401},
			{"expired JWT", "GET", "/v1/checkouts/" + uuid.NewString(), expired, e2eAPIKey, 401},
			{"forged JWT", "GET", "/v1/checkouts/" + uuid.NewString(), forged, e2eAPIKey, 401},
			{"missing API key", "GET", "/v1/checkouts/" + uuid.NewString(), alice, "", 403},
			{"user on an admin route", "GET", "/v1/admin/inventory/E2E-TEE", alice, e2eAPIKey, 403},
			{"health needs nothing", "GET", "/v1/health", "", "", 200},
		} {
			if r := e.do(tc.method, tc.path, tc.token, tc.key, nil, ""); r.status != tc.status {
				t.Errorf("%s: %d %s; want %d", tc.name, r.status, r.raw, tc.status)
			}
		}
	})

	t.Run("bad input writes nothing", func(t *testing.T) {
		before := e.rows("checkouts") + e.rows("checkout_items") + e.rows("reservations") + e.rows("payment_transactions")
		many := make([]string, 101)
		for i := range many {
			many[i] = fmt.Sprintf(`{"sku":"S%d","quantity":1}`, i)
		}
		body := func(items string) string {
			return `{"items":[` + items + `],"currency":"USD","payment_method":"pm_card_visa"}`
		}
		for _, tc := range []struct {
			name    string
			key     string
			ctype   string
			body    string
			status  int
			errCode string
		}{
			{"zero quantity", "", "", body(`{"sku":"E2E-TEE","quantity":0}`), 400, "invalid_request"},
			{"negative quantity", "", "", body(`{"sku":"E2E-TEE","quantity":-1}`), 400, "invalid_request"},
			{"huge quantity", "", "", body(`{"sku":"E2E-TEE","quantity":100000000}`), 400, "invalid_request"},
			{"unknown sku", "", "", body(`{"sku":"NOPE","quantity":1}`), 400, "invalid_request"},
			{"empty cart", "", "", body(``), 400, "invalid_request"},
			{"too many lines", "", "", body(strings.Join(many, ",")), 400, "invalid_request"},
			{"duplicate sku", "", "", body(`{"sku":"E2E-TEE","quantity":1},{"sku":"E2E-TEE","quantity":1}`), 400, "invalid_request"},
			{"currency mismatch", "", "", `{"items":[{"sku":"E2E-TEE","quantity":1}],"currency":"EUR","payment_method":"pm_card_visa"}`, 400, "invalid_request"},
			{"missing payment method", "", "", `{"items":[{"sku":"E2E-TEE","quantity":1}],"currency":"USD"}`, 400, "invalid_request"},
			{"malformed JSON", "", "", `{"items":[`, 400, "invalid_request"},
			{"unknown field", "", "", `{"items":[{"sku":"E2E-TEE","quantity":1}],"currency":"USD","payment_method":"pm_card_visa","price":1}`, 400, "invalid_request"},
			{"1 MiB body", "", "", `{"items":[],"pad":"` + strings.Repeat("x", 1<<20) + `"}`, 413, "payload_too_large"},
			{"wrong content type", "", "text/plain", body(`{"sku":"E2E-TEE","quantity":1}`), 415, "unsupported_media_type"},
			{"300-character key", strings.Repeat("k", 300), "", body(`{"sku":"E2E-TEE","quantity":1}`), 400, "invalid_request"},
			{"missing key", "-", "", body(`{"sku":"E2E-TEE","quantity":1}`), 400, "invalid_request"},
		} {
			headers := map[string]string{"Idempotency-Key": uuid.NewString()}
			switch tc.key {
			case "":
			case "-":
				delete(headers, "Idempotency-Key")
			default:
				headers["Idempotency-Key"] = tc.key
			}
			if tc.ctype != "" {
				headers["Content-Type"] = tc.ctype
			}
			r := e.do("POST", "/v1/checkouts", alice, e2eAPIKey, headers, tc.body)
			if r.status != tc.status || r.code() != tc.errCode {
				t.Errorf("%s: %d %s; want %d %s", tc.name, r.status, r.raw, tc.status, tc.errCode)
			}
		}
		after := e.rows("checkouts") + e.rows("checkout_items") + e.rows("reservations") + e.rows("payment_transactions")
		if after != before {
			t.Fatalf("bad input wrote %d rows", after-before)
		}
	})
}

func TestFlashSaleOverHTTP(t *testing.T) {
	t.Parallel()
	e := startE2E(t, roomy)
	const buyers, stock = 300, 30
	e.product("E2E-HOODIE", 7900, stock)
	results := make([]reply, buyers)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < buyers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok := e.token(fmt.Sprintf("buyer-%d", i), false)
			r := e.post(tok, uuid.NewString(), cart("E2E-HOODIE", 1, "pm_card_visa"))
			if r.str("checkout_id") == "" {
				results[i] = r
				return
			}
			results[i] = e.wait(tok, r.str("checkout_id"))
		}()
	}
	wg.Wait()
	counts := map[string]int{}
	for _, r := range results {
		counts[r.str("status")+"/"+r.failure()]++
	}
	t.Logf("%d buyers, %d units: %v in %s", buyers, stock, counts, time.Since(start).Round(time.Millisecond))
	if counts["completed/"] != stock || counts["failed/out_of_stock"] != buyers-stock {
		t.Fatalf("outcomes %v; want %d completed and %d out_of_stock", counts, stock, buyers-stock)
	}
	if on, res := e.level("E2E-HOODIE"); on != 0 || res != 0 {
		t.Fatalf("final on_hand=%d reserved=%d; want 0, 0", on, res)
	}
	if n := len(e.capturedCharges(stock)); n != stock {
		t.Fatalf("%d charges; want %d", n, stock)
	}
}

func TestThrottlingOverHTTP(t *testing.T) {
	t.Parallel()
	e := startE2E(t, map[string]string{"ThrottleBurstLimit": "3", "ThrottleRateLimit": "1"})
	accepted, throttled := 0, 0
	for i := 0; i < 10; i++ {
		// One buyer each: the throttle is per API key, and one buyer's
		// unfinished-checkout cap must not be what answers.
		tok := e.token(fmt.Sprintf("buyer-%d", i), false)
		r := e.post(tok, uuid.NewString(), cart("STICKER-PACK", 1, "pm_card_visa"))
		switch r.status {
		case 202:
			accepted++
		case 429:
			throttled++
			if r.code() != "rate_limited" || r.header.Get("Retry-After") == "" {
				t.Fatalf("429 without rate_limited or Retry-After: %v %s", r.header, r.raw)
			}
		default:
			t.Fatalf("POST %d: %d %s", i, r.status, r.raw)
		}
	}
	if throttled == 0 || accepted < 3 {
		t.Fatalf("%d accepted, %d throttled; want the burst of 3 through and the rest 429", accepted, throttled)
	}
	if n := e.rows("checkouts"); n != accepted {
		t.Fatalf("%d checkouts written for %d accepted requests: throttled ones must write nothing", n, accepted)
	}
}

func TestRestartMidCheckoutOverHTTP(t *testing.T) {
	t.Parallel()
	e := startE2E(t, roomy)
	tok := e.token("alice", false)
	// The confirmation hangs long enough to stop the stack in the middle of
	// ChargePayment.
	if err := e.fake.InjectFault(stripefake.Fault{Kind: stripefake.Latency, Match: "POST /v1/payment_intents/*/confirm", Delay: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	r := e.post(tok, uuid.NewString(), cart("TEE-BLACK-M", 1, "pm_card_visa"))
	id := r.str("checkout_id")
	deadline := time.Now().Add(20 * time.Second)
	for len(e.fake.PendingFaults()) != 0 { // the confirm is in flight
		if time.Now().After(deadline) {
			t.Fatal("the charge never reached the gateway")
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.stack.Close()
	e.start() // same database: the executor resumes the execution
	done := e.wait(tok, id)
	if done.str("status") != "completed" {
		t.Fatalf("after restart: %s", done.raw)
	}
	if n := len(e.capturedCharges(1)); n != 1 {
		t.Fatalf("%d charges; want 1", n)
	}
	if n := e.rows("orders"); n != 1 {
		t.Fatalf("%d orders; want 1", n)
	}
}
