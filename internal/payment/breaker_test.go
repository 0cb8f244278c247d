package payment_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/checkout"
	"github.com/checkout-dev/checkout/internal/metrics"
	"github.com/checkout-dev/checkout/internal/payment"
	"github.com/checkout-dev/checkout/internal/stripefake"
	"github.com/checkout-dev/checkout/localaws/pgtest"
	"github.com/jackc/pgx/v5/pgxpool"
)

// testClock is a settable clock for the breaker.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

const openFor = 30 * time.Second

// breakerEnv is the real stripe-go adapter against a fresh stripefake, with
// a Breaker around it on an injected clock.
type breakerEnv struct {
	fake  *stripefake.Fake
	raw   *payment.Stripe // the same adapter without the breaker, for setup
	b     *payment.Breaker
	pool  *pgxpool.Pool
	clock *testClock

	mu      sync.Mutex
	changes []bool // OnStateChange calls, in order
}

func newBreakerEnv(t *testing.T, threshold int) *breakerEnv {
	t.Helper()
	e := &breakerEnv{fake: stripefake.StartTest(t, stripefake.Options{MaxHold: 5 * time.Second}),
		clock: &testClock{now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}, pool: pgtest.NewPool(t)}
	e.raw = payment.NewStripe(payment.StripeConfig{SecretKey: stripefake.TestAPIKey, URL: e.fake.URL, Timeout: 5 * time.Second})
	e.b = payment.NewBreaker(e.raw, e.pool, payment.BreakerOptions{FailureThreshold: threshold, OpenFor: openFor, Now: e.clock.Now,
		OnStateChange: func(open bool) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.changes = append(e.changes, open)
		}})
	return e
}

func (e *breakerEnv) transitions() []bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]bool(nil), e.changes...)
}

func (e *breakerEnv) requests() int { return len(e.fake.Requests()) }

// requestsAtLeast waits (briefly) for the fake to log n requests and returns
// the count: the fake logs a request just after answering it, so the client
// can see the answer first.
func (e *breakerEnv) requestsAtLeast(n int) int {
	deadline := time.Now().Add(5 * time.Second)
	for e.requests() < n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	return e.requests()
}

// faultsLeft is how many injected fault uses are still pending. The fake
// takes a fault before it answers, so a drop proves a request reached it.
func (e *breakerEnv) faultsLeft() int {
	n := 0
	for _, f := range e.fake.PendingFaults() {
		n += f.Times
	}
	return n
}

// faulted counts logged requests that met an injected fault.
func (e *breakerEnv) faulted() int {
	n := 0
	for _, r := range e.fake.Requests() {
		if r.Fault != "" {
			n++
		}
	}
	return n
}

// intent creates a PaymentIntent without going through the breaker.
func (e *breakerEnv) intent(t *testing.T, pm string) payment.Intent {
	t.Helper()
	id := uuid.NewString()
	in, err := e.raw.CreateIntent(context.Background(), payment.NewIntent{Amount: 2500, Currency: "USD", PaymentMethod: pm, CheckoutID: id}, "create-"+id)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func (e *breakerEnv) inject(t *testing.T, f stripefake.Fault) {
	t.Helper()
	if err := e.fake.InjectFault(f); err != nil {
		t.Fatal(err)
	}
}

// trip opens the breaker with threshold 500s on retrieval.
func (e *breakerEnv) trip(t *testing.T, threshold int, intentID string) {
	t.Helper()
	e.inject(t, stripefake.Fault{Kind: stripefake.Status500, Match: "GET /v1/payment_intents/*", Times: threshold})
	for range threshold {
		if _, err := e.b.GetIntent(context.Background(), intentID); !apperr.Is(err, apperr.Transient) {
			t.Fatalf("GetIntent under a 500: %v; want Transient", err)
		}
	}
	if s := stateOf(t, e.b); s != payment.BreakerOpen {
		t.Fatalf("state after %d failures = %v; want open", threshold, s)
	}
}

// wantOpenError checks the fail-fast error: Unavailable, the code the saga
// maps to PaymentGatewayUnavailable, and ErrBreakerOpen as its cause.
func wantOpenError(t *testing.T, err error) {
	t.Helper()
	ae := apperr.As(err)
	if ae == nil || ae.Kind != apperr.Unavailable || ae.Code != "payment_gateway_unavailable" ||
		ae.Message != "circuit breaker open" || !errors.Is(err, payment.ErrBreakerOpen) {
		t.Fatalf("error %v (%#v); want Unavailable payment_gateway_unavailable \"circuit breaker open\"", err, ae)
	}
}

// everyCall runs each Gateway method once through gw.
func everyCall(gw payment.Gateway, intentID string) map[string]error {
	ctx := context.Background()
	out := map[string]error{}
	_, out["CreateIntent"] = gw.CreateIntent(ctx, payment.NewIntent{Amount: 2500, Currency: "USD", PaymentMethod: "pm_card_visa", CheckoutID: uuid.NewString()}, "k-"+uuid.NewString())
	_, out["ConfirmIntent"] = gw.ConfirmIntent(ctx, intentID, "pm_card_visa", "k-"+uuid.NewString())
	_, out["GetIntent"] = gw.GetIntent(ctx, intentID)
	_, out["CancelIntent"] = gw.CancelIntent(ctx, intentID, "k-"+uuid.NewString())
	_, out["Refund"] = gw.Refund(ctx, intentID, 100, "k-"+uuid.NewString())
	return out
}

func TestBreakerOpensAfterConsecutiveUnhealthyResults(t *testing.T) {
	t.Parallel()
	const threshold = 3
	for _, tc := range []struct {
		name  string
		fault stripefake.FaultKind
		match string
		call  func(b *payment.Breaker, intentID string) error
		kind  apperr.Kind
	}{
		{"retrieve answered 500", stripefake.Status500, "GET /v1/payment_intents/*", func(b *payment.Breaker, id string) error {
			_, err := b.GetIntent(context.Background(), id)
			return err
		}, apperr.Transient},
		{"create throttled 429", stripefake.Status429, "POST /v1/payment_intents", func(b *payment.Breaker, _ string) error {
			_, err := b.CreateIntent(context.Background(), payment.NewIntent{Amount: 2500, Currency: "USD", PaymentMethod: "pm_card_visa", CheckoutID: uuid.NewString()}, "k-"+uuid.NewString())
			return err
		}, apperr.Unavailable},
		{"confirm connection reset", stripefake.ConnReset, "POST /v1/payment_intents/*/confirm", func(b *payment.Breaker, id string) error {
			_, err := b.ConfirmIntent(context.Background(), id, "pm_card_visa", "k-"+uuid.NewString())
			return err
		}, apperr.UnknownOutcome},
		// A 5xx on a call that moves money leaves the outcome unknown
		// (Stripe may have executed it and replays the 5xx for the key).
		{"refund answered 500", stripefake.Status500, "POST /v1/refunds", func(b *payment.Breaker, id string) error {
			_, err := b.Refund(context.Background(), id, 100, "k-"+uuid.NewString())
			return err
		}, apperr.UnknownOutcome},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newBreakerEnv(t, threshold)
			in := e.intent(t, "pm_card_visa")
			// Enough faults for net/http's own replay of a reset request.
			const injected = 100
			e.inject(t, stripefake.Fault{Kind: tc.fault, Match: tc.match, Times: injected})
			for i := range threshold {
				if s := stateOf(t, e.b); s != payment.BreakerClosed {
					t.Fatalf("state after %d failures = %v; want closed", i, s)
				}
				left := e.faultsLeft()
				err := tc.call(e.b, in.ID)
				if !apperr.Is(err, tc.kind) || errors.Is(err, payment.ErrBreakerOpen) {
					t.Fatalf("call %d: %v (kind %v); want the gateway's %v", i+1, err, apperr.KindOf(err), tc.kind)
				}
				if e.faultsLeft() == left {
					t.Fatalf("call %d did not reach the gateway", i+1)
				}
			}
			if s := stateOf(t, e.b); s != payment.BreakerOpen {
				t.Fatalf("state after %d failures = %v; want open", threshold, s)
			}
			if got := e.transitions(); len(got) != 1 || !got[0] {
				t.Errorf("OnStateChange calls %v; want [true]", got)
			}
			// Open: every method fails fast without reaching the gateway.
			// Wait for the fake to log every faulted request first.
			used := injected - e.faultsLeft()
			deadline := time.Now().Add(5 * time.Second)
			for e.faulted() < used && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			left, before := e.faultsLeft(), e.requests()
			for name, err := range everyCall(e.b, in.ID) {
				t.Run(name, func(t *testing.T) { wantOpenError(t, err) })
			}
			if n := e.requests() - before; n != 0 || e.faultsLeft() != left {
				t.Errorf("%d requests reached the gateway while open; want 0", n)
			}
		})
	}
}

func TestBreakerCountsOnlyUnhealthyResults(t *testing.T) {
	t.Parallel()
	const threshold = 2
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, e *breakerEnv)
	}{
		{"declines never open it", func(t *testing.T, e *breakerEnv) {
			for range 2 * threshold {
				in := e.intent(t, "pm_card_chargeDeclined")
				if _, err := e.b.ConfirmIntent(ctx, in.ID, "pm_card_chargeDeclined", "k-"+uuid.NewString()); !apperr.Is(err, apperr.Declined) {
					t.Fatalf("confirm: %v; want Declined", err)
				}
			}
		}},
		{"invalid requests never open it", func(t *testing.T, e *breakerEnv) {
			for range 2 * threshold {
				if _, err := e.b.GetIntent(ctx, "pi_does_not_exist"); !apperr.Is(err, apperr.Invalid) {
					t.Fatalf("retrieve: %v; want Invalid", err)
				}
			}
		}},
		{"a refused cancel (state) never opens it", func(t *testing.T, e *breakerEnv) {
			in := e.intent(t, "pm_card_visa")
			if _, err := e.raw.ConfirmIntent(ctx, in.ID, "pm_card_visa", "confirm-"+in.ID); err != nil {
				t.Fatal(err)
			}
			for range 2 * threshold {
				if _, err := e.b.CancelIntent(ctx, in.ID, "k-"+uuid.NewString()); !apperr.Is(err, apperr.State) {
					t.Fatalf("cancel of a succeeded intent: %v; want State", err)
				}
			}
		}},
		{"a healthy answer resets the count", func(t *testing.T, e *breakerEnv) {
			in := e.intent(t, "pm_card_visa")
			for range 3 {
				e.inject(t, stripefake.Fault{Kind: stripefake.Status500, Match: "GET /v1/payment_intents/*", Times: threshold - 1})
				for range threshold - 1 {
					if _, err := e.b.GetIntent(ctx, in.ID); !apperr.Is(err, apperr.Transient) {
						t.Fatalf("retrieve under a 500: %v", err)
					}
				}
				if _, err := e.b.GetIntent(ctx, "pi_does_not_exist"); !apperr.Is(err, apperr.Invalid) {
					t.Fatalf("retrieve: %v; want Invalid", err)
				}
			}
		}},
		{"a 409 for our own in-flight request is not a gateway failure", func(t *testing.T, e *breakerEnv) {
			// A confirm held by a latency fault owns its idempotency key;
			// a second confirm with that key is answered 409
			// idempotency_key_in_use. The fake takes the fault just before
			// it claims the key, so the second confirm waits a moment; in
			// the rare run where it still came first, try again.
			for attempt := 1; ; attempt++ {
				in := e.intent(t, "pm_card_visa")
				e.inject(t, stripefake.Fault{Kind: stripefake.Latency, Match: "POST /v1/payment_intents/*/confirm", Delay: 2 * time.Second})
				key := "confirm-" + in.ID
				first := make(chan error, 1)
				go func() {
					_, err := e.b.ConfirmIntent(ctx, in.ID, "pm_card_visa", key)
					first <- err
				}()
				deadline := time.Now().Add(5 * time.Second)
				for e.faultsLeft() != 0 && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
				time.Sleep(50 * time.Millisecond)
				_, second := e.b.ConfirmIntent(ctx, in.ID, "pm_card_visa", key)
				if err := <-first; err != nil {
					t.Fatalf("held confirm: %v", err)
				}
				if second == nil && attempt < 3 {
					continue
				}
				if !apperr.Is(second, apperr.Transient) {
					t.Fatalf("second confirm with the same key: %v; want a Transient 409", second)
				}
				saw409 := false
				for _, r := range e.fake.Requests() {
					saw409 = saw409 || r.Status == http.StatusConflict
				}
				if !saw409 {
					t.Fatal("the fake answered no 409")
				}
				return
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			threshold := threshold
			if tc.name == "a 409 for our own in-flight request is not a gateway failure" {
				threshold = 1 // a single counted failure would open it
			}
			e := newBreakerEnv(t, threshold)
			tc.run(t, e)
			if s := stateOf(t, e.b); s != payment.BreakerClosed {
				t.Errorf("state %v; want closed", s)
			}
			if got := e.transitions(); len(got) != 0 {
				t.Errorf("OnStateChange calls %v; want none", got)
			}
		})
	}
}

func TestBreakerHalfOpenTrial(t *testing.T) {
	t.Parallel()
	const threshold = 2
	ctx := context.Background()
	for _, tc := range []struct {
		name        string
		trialFault  bool // the trial meets a 500
		wantState   payment.BreakerState
		wantChanges []bool // OnStateChange calls
	}{
		{"trial succeeds: closes", false, payment.BreakerClosed, []bool{true, false}},
		{"trial fails: re-opens for another OpenFor", true, payment.BreakerOpen, []bool{true, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newBreakerEnv(t, threshold)
			in := e.intent(t, "pm_card_visa")
			e.trip(t, threshold, in.ID)

			// Still within OpenFor: fails fast.
			e.clock.Advance(openFor - time.Millisecond)
			before := e.requests()
			_, err := e.b.GetIntent(ctx, in.ID)
			wantOpenError(t, err)
			if e.requests() != before {
				t.Fatal("a call reached the gateway before OpenFor passed")
			}

			// OpenFor passed: the next call is the trial and reaches the gateway.
			e.clock.Advance(time.Millisecond)
			if tc.trialFault {
				e.inject(t, stripefake.Fault{Kind: stripefake.Status500, Match: "GET /v1/payment_intents/*"})
			}
			got, err := e.b.GetIntent(ctx, in.ID)
			if e.requestsAtLeast(before+1) != before+1 {
				t.Fatalf("the trial made %d requests; want 1", e.requests()-before)
			}
			if tc.trialFault != (err != nil) {
				t.Fatalf("trial: %+v, %v", got, err)
			}
			if s := stateOf(t, e.b); s != tc.wantState {
				t.Fatalf("state after the trial = %v; want %v", s, tc.wantState)
			}
			if ch := e.transitions(); len(ch) != len(tc.wantChanges) || ch[0] != tc.wantChanges[0] || ch[1] != tc.wantChanges[1] {
				t.Errorf("OnStateChange calls %v; want %v", ch, tc.wantChanges)
			}

			before = e.requests()
			if tc.wantState == payment.BreakerClosed {
				// Closed: calls pass again, and it takes threshold new
				// failures to open it.
				if _, err := e.b.GetIntent(ctx, in.ID); err != nil {
					t.Fatalf("after closing: %v", err)
				}
				if e.requestsAtLeast(before+1) != before+1 {
					t.Fatal("a call after closing did not reach the gateway")
				}
				e.trip(t, threshold, in.ID)
				return
			}
			// Re-opened at the trial's time: fails fast for a full OpenFor.
			e.clock.Advance(openFor - time.Millisecond)
			_, err = e.b.GetIntent(ctx, in.ID)
			wantOpenError(t, err)
			e.clock.Advance(time.Millisecond)
			if _, err := e.b.GetIntent(ctx, in.ID); err != nil {
				t.Fatalf("second trial: %v", err)
			}
			if e.requestsAtLeast(before+1) != before+1 || stateOf(t, e.b) != payment.BreakerClosed {
				t.Errorf("second trial: %d requests, state %v; want 1 and closed", e.requests()-before, stateOf(t, e.b))
			}
		})
	}
}

// stateOf reads b's state from the database.
func stateOf(t *testing.T, b *payment.Breaker) payment.BreakerState {
	t.Helper()
	st, err := b.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.State
}

// waitState polls the breaker until it reports want (the trial's admission
// is synchronous, so this returns almost at once).
func waitState(t *testing.T, b *payment.Breaker, want payment.BreakerState) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for stateOf(t, b) != want {
		if time.Now().After(deadline) {
			t.Fatalf("state %v; want %v", stateOf(t, b), want)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestBreakerHalfOpenAdmitsExactlyOneTrial(t *testing.T) {
	t.Parallel()
	const threshold, callers = 2, 12
	ctx := context.Background()
	e := newBreakerEnv(t, threshold)
	in := e.intent(t, "pm_card_visa")
	e.trip(t, threshold, in.ID)
	e.clock.Advance(openFor)

	// The trial is slow: the fake holds it while the other callers arrive.
	e.inject(t, stripefake.Fault{Kind: stripefake.Latency, Match: "GET /v1/payment_intents/*", Delay: 1500 * time.Millisecond})
	before := e.requests()
	trialErr := make(chan error, 1)
	go func() {
		_, err := e.b.GetIntent(ctx, in.ID)
		trialErr <- err
	}()
	waitState(t, e.b, payment.BreakerHalfOpen)

	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			if i%2 == 0 {
				_, errs[i] = e.b.GetIntent(ctx, in.ID)
			} else {
				_, errs[i] = e.b.ConfirmIntent(ctx, in.ID, "pm_card_visa", "k-"+uuid.NewString())
			}
		})
	}
	wg.Wait()
	if err := <-trialErr; err != nil {
		t.Fatalf("trial: %v", err)
	}
	for i, err := range errs {
		if !errors.Is(err, payment.ErrBreakerOpen) {
			t.Errorf("caller %d during the trial: %v; want a fail-fast", i, err)
		}
	}
	if n := e.requestsAtLeast(before+1) - before; n != 1 {
		t.Errorf("%d requests reached the gateway during half-open; want only the trial's", n)
	}
	if s := stateOf(t, e.b); s != payment.BreakerClosed {
		t.Errorf("state after the trial = %v; want closed", s)
	}
}

func TestBreakerTrialCanceledByItsCallerFreesTheSlot(t *testing.T) {
	t.Parallel()
	const threshold = 2
	e := newBreakerEnv(t, threshold)
	in := e.intent(t, "pm_card_visa")
	e.trip(t, threshold, in.ID)
	e.clock.Advance(openFor)

	e.inject(t, stripefake.Fault{Kind: stripefake.Latency, Match: "GET /v1/payment_intents/*", Delay: 5 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	trialErr := make(chan error, 1)
	go func() {
		_, err := e.b.GetIntent(ctx, in.ID)
		trialErr <- err
	}()
	waitState(t, e.b, payment.BreakerHalfOpen)
	// Cancel once the fake holds the trial (it took the latency fault).
	deadline := time.Now().Add(5 * time.Second)
	for e.faultsLeft() != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-trialErr; err == nil {
		t.Fatal("canceled trial succeeded")
	}
	// No verdict: the lease is expired, the next caller is the new trial
	// without waiting OpenFor.
	if st, err := e.b.Status(context.Background()); err != nil || st.State != payment.BreakerHalfOpen || st.ProbeExpiresAt.After(e.clock.Now()) {
		t.Fatalf("status after a canceled trial = %+v, %v; want half-open with an expired lease", st, err)
	}
	if _, err := e.b.GetIntent(context.Background(), in.ID); err != nil {
		t.Fatalf("next trial: %v", err)
	}
	if s := stateOf(t, e.b); s != payment.BreakerClosed {
		t.Errorf("state = %v; want closed", s)
	}
	if got := e.transitions(); len(got) != 2 || !got[0] || got[1] {
		t.Errorf("OnStateChange calls %v; want [true false]", got)
	}
}

func TestBreakerDefaults(t *testing.T) {
	t.Parallel()
	e := newBreakerEnv(t, 1)
	in := e.intent(t, "pm_card_visa")
	clock := &testClock{now: time.Now().Truncate(time.Microsecond)}
	b := payment.NewBreaker(e.raw, e.pool, payment.BreakerOptions{Now: clock.Now})
	e.inject(t, stripefake.Fault{Kind: stripefake.Status500, Match: "GET /v1/payment_intents/*", Times: 5})
	for i := range 5 {
		if s := stateOf(t, b); s != payment.BreakerClosed {
			t.Fatalf("state after %d failures = %v; want closed (default threshold 5)", i, s)
		}
		if _, err := b.GetIntent(context.Background(), in.ID); !apperr.Is(err, apperr.Transient) {
			t.Fatalf("retrieve: %v", err)
		}
	}
	if s := stateOf(t, b); s != payment.BreakerOpen {
		t.Fatalf("state after 5 failures = %v; want open", s)
	}
	clock.Advance(30*time.Second - time.Nanosecond)
	if _, err := b.GetIntent(context.Background(), in.ID); !errors.Is(err, payment.ErrBreakerOpen) {
		t.Fatalf("before the default 30 s: %v; want a fail-fast", err)
	}
	clock.Advance(time.Nanosecond)
	if _, err := b.GetIntent(context.Background(), in.ID); err != nil {
		t.Fatalf("trial after 30 s: %v", err)
	}
}

// emfLines parses the EMF recorder's output: one JSON document per line.
func emfLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var docs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var d map[string]any
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("EMF line %q: %v", line, err)
		}
		docs = append(docs, d)
	}
	return docs
}

// TestChargeThroughBreakerPublishesPaymentMetrics drives Service.Charge
// through a Breaker over the real adapter and fake, with the EMF recorder:
// one PaymentsAttempted/PaymentsFailed document per charge attempt, none for
// a charge answered from its settled row, and the breaker's fail-fast
// surfacing as the retried Unavailable kind.
func TestChargeThroughBreakerPublishesPaymentMetrics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	if _, err := pool.Exec(ctx, `
		INSERT INTO products (sku, name, amount, currency) VALUES ('TEE-1', 'T-shirt', 1999, 'USD');
		INSERT INTO inventory (sku, on_hand) VALUES ('TEE-1', 100)`); err != nil {
		t.Fatal(err)
	}
	newCheckout := func(pm string) uuid.UUID {
		c, _, err := checkout.NewStore(pool).CreateOrGet(ctx, "buyer-"+uuid.NewString(), uuid.NewString(), // a buyer each: no customer limit applies
			checkout.Request{Items: []checkout.Item{{SKU: "TEE-1", Quantity: 1}}, Currency: "USD", PaymentMethod: pm})
		if err != nil {
			t.Fatal(err)
		}
		return c.ID
	}
	fake := stripefake.StartTest(t)
	clock := &testClock{now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	var opened []bool
	br := payment.NewBreaker(payment.NewStripe(payment.StripeConfig{SecretKey: stripefake.TestAPIKey, URL: fake.URL, Timeout: 5 * time.Second}), pool,
		payment.BreakerOptions{FailureThreshold: 3, Now: clock.Now, OnStateChange: func(open bool) { opened = append(opened, open) }})
	var out bytes.Buffer
	rec := metrics.NewEMF(&out, metrics.EMFOptions{Namespace: "Checkout", Now: clock.Now})
	noSleep := func(context.Context, time.Duration) error { return nil }
	svc := payment.NewService(pool, br, payment.Backoff{Attempts: 2, Sleep: noSleep}, nil).WithMetrics(rec)

	type want struct {
		failed  float64
		outcome string
	}
	var wants []want
	charge := func(id uuid.UUID, w *want) error {
		t.Helper()
		_, err := svc.Charge(ctx, id)
		if w != nil {
			wants = append(wants, *w)
		}
		docs := emfLines(t, out.String())
		if len(docs) != len(wants) {
			t.Fatalf("%d metric documents after this charge; want %d:\n%s", len(docs), len(wants), out.String())
		}
		return err
	}

	ok := newCheckout("pm_card_visa")
	if err := charge(ok, &want{0, "succeeded"}); err != nil {
		t.Fatalf("charge: %v", err)
	}
	if err := charge(ok, nil); err != nil { // answered from the settled row: not an attempt
		t.Fatalf("charge again: %v", err)
	}
	if err := charge(newCheckout("pm_card_chargeDeclined"), &want{1, "declined"}); !apperr.Is(err, apperr.Declined) {
		t.Fatalf("declined charge: %v", err)
	}

	// The gateway fails every request: two tries (create, create) count 2;
	// the step's retry meets the third failure, which opens the breaker,
	// and its second try fails fast.
	if err := fake.InjectFault(stripefake.Fault{Kind: stripefake.Status500, Times: 100}); err != nil {
		t.Fatal(err)
	}
	down := newCheckout("pm_card_visa")
	if err := charge(down, &want{1, "gateway_unavailable"}); !apperr.Is(err, apperr.Transient) {
		t.Fatalf("charge while the gateway fails: %v; want Transient", err)
	}
	err := charge(down, &want{1, "gateway_unavailable"})
	wantOpenError(t, err)
	if stateOf(t, br) != payment.BreakerOpen {
		t.Fatalf("breaker %v; want open", stateOf(t, br))
	}
	before := len(fake.Requests())
	err = charge(down, &want{1, "gateway_unavailable"})
	wantOpenError(t, err)
	if n := len(fake.Requests()) - before; n != 0 {
		t.Errorf("%d requests reached the gateway while the breaker was open", n)
	}

	// The gateway recovers; after OpenFor the trial (create) closes the
	// breaker and the same charge completes, once.
	fake.ClearFaults()
	clock.Advance(30 * time.Second)
	if err := charge(down, &want{0, "succeeded"}); err != nil {
		t.Fatalf("charge after recovery: %v", err)
	}
	if len(opened) != 2 || !opened[0] || opened[1] {
		t.Errorf("breaker transitions %v; want [true false]", opened)
	}
	if n := len(fake.AuthorizedCharges()); n != 2 {
		t.Errorf("%d authorized charges; want 2", n)
	}

	var attempted, failed float64
	for i, d := range emfLines(t, out.String()) {
		a, f := d[metrics.PaymentsAttempted].(float64), d[metrics.PaymentsFailed].(float64)
		attempted += a
		failed += f
		if a != 1 || f != wants[i].failed || d["payment_outcome"] != wants[i].outcome {
			t.Errorf("document %d: attempted %v failed %v outcome %v; want 1 %v %s", i, a, f, d["payment_outcome"], wants[i].failed, wants[i].outcome)
		}
		if _, ok := d["checkout_id"].(string); !ok {
			t.Errorf("document %d has no checkout_id", i)
		}
		aws, _ := d["_aws"].(map[string]any)
		dirs, _ := aws["CloudWatchMetrics"].([]any)
		if len(dirs) != 1 || dirs[0].(map[string]any)["Namespace"] != "Checkout" {
			t.Errorf("document %d: directives %v", i, dirs)
		}
	}
	if attempted != 6 || failed != 4 {
		t.Errorf("sums: attempted %v failed %v; want 6 and 4", attempted, failed)
	}
}
