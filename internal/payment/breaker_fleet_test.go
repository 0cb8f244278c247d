package payment_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/payment"
	"github.com/checkout-dev/checkout/internal/stripefake"
)

// fleet is two Breaker instances — two processes — sharing one database
// row, one clock and one gateway (each with its own adapter).
type fleet struct {
	*breakerEnv
	b2      *payment.Breaker
	opens   atomic.Int32 // OnStateChange(true) calls across both instances
	closes  atomic.Int32
	leaseOf time.Duration
}

func newFleet(t *testing.T, threshold int) *fleet {
	t.Helper()
	f := &fleet{breakerEnv: newBreakerEnv(t, threshold), leaseOf: 20 * time.Second}
	on := func(open bool) {
		if open {
			f.opens.Add(1)
		} else {
			f.closes.Add(1)
		}
	}
	mk := func(holder string) *payment.Breaker {
		gw := payment.NewStripe(payment.StripeConfig{SecretKey: stripefake.TestAPIKey, URL: f.fake.URL, Timeout: 5 * time.Second})
		return payment.NewBreaker(gw, f.pool, payment.BreakerOptions{FailureThreshold: threshold, OpenFor: openFor,
			ProbeLease: f.leaseOf, Holder: holder, Now: f.clock.Now, OnStateChange: on})
	}
	f.b, f.b2 = mk("one"), mk("two")
	return f
}

// events lists the recorded transitions as "from>to".
func breakerEvents(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT from_state || '>' || to_state FROM payment_breaker_events WHERE name = 'stripe' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestBreakerFleetOpensOnceOnFailuresSeenByAllInstances(t *testing.T) {
	t.Parallel()
	const threshold, callers = 6, 40
	f := newFleet(t, threshold)
	in := f.intent(t, "pm_card_visa")
	f.inject(t, stripefake.Fault{Kind: stripefake.Status500, Match: "GET /v1/payment_intents/*", Times: callers})

	// Half the failures seen by each instance: neither alone reaches the
	// threshold in the first round, together they do.
	for i := range threshold / 2 {
		for _, b := range []*payment.Breaker{f.b, f.b2} {
			if s := stateOf(t, b); s != payment.BreakerClosed {
				t.Fatalf("state after %d failures = %v; want closed", 2*i, s)
			}
			if _, err := b.GetIntent(context.Background(), in.ID); err == nil {
				t.Fatal("retrieve under a 500 succeeded")
			}
		}
	}
	if s := stateOf(t, f.b2); s != payment.BreakerOpen {
		t.Fatalf("state after %d failures across two instances = %v; want open", threshold, s)
	}

	// Both instances fail fast, without reaching the gateway.
	before := f.requests()
	var wg sync.WaitGroup
	errs := make([]error, callers)
	for i := range callers {
		b := []*payment.Breaker{f.b, f.b2}[i%2]
		wg.Go(func() { _, errs[i] = b.GetIntent(context.Background(), in.ID) })
	}
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, payment.ErrBreakerOpen) {
			t.Errorf("call %d while open: %v; want a fail-fast", i, err)
		}
	}
	if n := f.requests() - before; n != 0 {
		t.Errorf("%d requests reached the gateway while open; want 0", n)
	}
	if evs := breakerEvents(t, f.pool); len(evs) != 1 || evs[0] != "closed>open" {
		t.Errorf("events %v; want one closed>open", evs)
	}
	if o := f.opens.Load(); o != 1 {
		t.Errorf("%d instances reported the opening; want 1", o)
	}
}

func TestBreakerFleetConcurrentFailuresOpenOnce(t *testing.T) {
	t.Parallel()
	const threshold, callers = 3, 30
	f := newFleet(t, threshold)
	in := f.intent(t, "pm_card_visa")
	f.inject(t, stripefake.Fault{Kind: stripefake.Status500, Match: "GET /v1/payment_intents/*", Times: callers})
	var wg sync.WaitGroup
	for i := range callers {
		b := []*payment.Breaker{f.b, f.b2}[i%2]
		wg.Go(func() { _, _ = b.GetIntent(context.Background(), in.ID) })
	}
	wg.Wait()
	if s := stateOf(t, f.b); s != payment.BreakerOpen {
		t.Fatalf("state = %v; want open", s)
	}
	if evs := breakerEvents(t, f.pool); len(evs) != 1 || evs[0] != "closed>open" {
		t.Errorf("events %v; want one closed>open", evs)
	}
	if o := f.opens.Load(); o != 1 {
		t.Errorf("OnStateChange(true) called %d times; want 1", o)
	}
}

func TestBreakerFleetOneProbeAmongAllInstances(t *testing.T) {
	t.Parallel()
	const threshold, callers = 2, 24
	f := newFleet(t, threshold)
	in := f.intent(t, "pm_card_visa")
	f.trip(t, threshold, in.ID)
	f.clock.Advance(openFor)

	// Every caller of both instances races for the probe; the fake holds
	// the probe's request so that all of them arrive while it is in flight.
	f.inject(t, stripefake.Fault{Kind: stripefake.Latency, Match: "GET /v1/payment_intents/*", Delay: 2 * time.Second})
	before := f.requests()
	start := make(chan struct{})
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		b := []*payment.Breaker{f.b, f.b2}[i%2]
		wg.Go(func() {
			<-start
			_, errs[i] = b.GetIntent(context.Background(), in.ID)
		})
	}
	close(start)
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, payment.ErrBreakerOpen):
			t.Errorf("caller %d: %v; want success (the probe) or a fail-fast", i, err)
		}
	}
	if ok != 1 {
		t.Errorf("%d callers reached the gateway; want exactly one probe", ok)
	}
	if n := f.requests() - before; n != 1 {
		t.Errorf("%d requests reached the gateway in half-open; want 1", n)
	}
	if s := stateOf(t, f.b2); s != payment.BreakerClosed {
		t.Errorf("state after a good probe = %v; want closed", s)
	}
	want := []string{"closed>open", "open>half_open", "half_open>closed"}
	if evs := breakerEvents(t, f.pool); len(evs) != 3 || evs[0] != want[0] || evs[1] != want[1] || evs[2] != want[2] {
		t.Errorf("events %v; want %v", evs, want)
	}
	if o, c := f.opens.Load(), f.closes.Load(); o != 1 || c != 1 {
		t.Errorf("OnStateChange: %d opens, %d closes; want 1 and 1", o, c)
	}
}

func TestBreakerFleetFailedProbeReopens(t *testing.T) {
	t.Parallel()
	const threshold = 2
	f := newFleet(t, threshold)
	in := f.intent(t, "pm_card_visa")
	f.trip(t, threshold, in.ID)
	f.clock.Advance(openFor)
	f.inject(t, stripefake.Fault{Kind: stripefake.Status500, Match: "GET /v1/payment_intents/*", Times: 1})
	if _, err := f.b2.GetIntent(context.Background(), in.ID); err == nil || errors.Is(err, payment.ErrBreakerOpen) {
		t.Fatalf("probe under a 500: %v; want the gateway's error", err)
	}
	st, err := f.b.Status(context.Background())
	if err != nil || st.State != payment.BreakerOpen || !st.OpenedAt.Equal(f.clock.Now()) {
		t.Fatalf("status after a failed probe = %+v, %v; want open since now", st, err)
	}
	// A full cooldown again before the next probe.
	f.clock.Advance(openFor - time.Microsecond)
	before := f.requests()
	if _, err := f.b.GetIntent(context.Background(), in.ID); !errors.Is(err, payment.ErrBreakerOpen) {
		t.Fatalf("before the cooldown: %v; want a fail-fast", err)
	}
	if f.requests() != before {
		t.Fatal("a fail-fast reached the gateway")
	}
	f.clock.Advance(time.Microsecond)
	if _, err := f.b.GetIntent(context.Background(), in.ID); err != nil {
		t.Fatalf("second probe: %v", err)
	}
	want := []string{"closed>open", "open>half_open", "half_open>open", "open>half_open", "half_open>closed"}
	evs := breakerEvents(t, f.pool)
	if len(evs) != len(want) {
		t.Fatalf("events %v; want %v", evs, want)
	}
	for i := range want {
		if evs[i] != want[i] {
			t.Fatalf("events %v; want %v", evs, want)
		}
	}
	if o, c := f.opens.Load(), f.closes.Load(); o != 2 || c != 1 {
		t.Errorf("OnStateChange: %d opens, %d closes; want 2 (open, re-open) and 1", o, c)
	}
}

func TestBreakerFleetExpiredProbeLeaseIsTakenOver(t *testing.T) {
	t.Parallel()
	const threshold = 2
	f := newFleet(t, threshold)
	in := f.intent(t, "pm_card_visa")
	f.trip(t, threshold, in.ID)
	f.clock.Advance(openFor)

	// Instance one's probe hangs (as if its process died mid-call).
	f.inject(t, stripefake.Fault{Kind: stripefake.Latency, Match: "GET /v1/payment_intents/*", Delay: 3 * time.Second, Times: 1})
	stuck := make(chan error, 1)
	go func() {
		_, err := f.b.GetIntent(context.Background(), in.ID)
		stuck <- err
	}()
	waitState(t, f.b2, payment.BreakerHalfOpen)
	if st, _ := f.b2.Status(context.Background()); st.ProbeHolder != "one" {
		t.Fatalf("probe holder %q; want one", st.ProbeHolder)
	}
	if _, err := f.b2.GetIntent(context.Background(), in.ID); !errors.Is(err, payment.ErrBreakerOpen) {
		t.Fatalf("while the lease holds: %v; want a fail-fast", err)
	}
	f.clock.Advance(f.leaseOf)
	if _, err := f.b2.GetIntent(context.Background(), in.ID); err != nil {
		t.Fatalf("probe after the lease expired: %v", err)
	}
	if s := stateOf(t, f.b); s != payment.BreakerClosed {
		t.Fatalf("state = %v; want closed", s)
	}
	if err := <-stuck; err != nil {
		t.Fatalf("stale probe: %v", err)
	}
	// The stale probe's verdict changes nothing.
	want := []string{"closed>open", "open>half_open", "half_open>half_open", "half_open>closed"}
	evs := breakerEvents(t, f.pool)
	if len(evs) != len(want) || evs[2] != want[2] || evs[3] != want[3] {
		t.Errorf("events %v; want %v", evs, want)
	}
	if c := f.closes.Load(); c != 1 {
		t.Errorf("%d closes reported; want 1", c)
	}
}
