package stack_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/checkout-dev/checkout/internal/app"
	"github.com/checkout-dev/checkout/internal/checkout"
	"github.com/checkout-dev/checkout/internal/inventory"
	"github.com/checkout-dev/checkout/internal/payment"
	"github.com/checkout-dev/checkout/internal/saga"
	"github.com/checkout-dev/checkout/internal/stripefake"
	"github.com/checkout-dev/checkout/localaws/motoserver"
	"github.com/checkout-dev/checkout/localaws/sfn"
)

// TestGatewayOutageOpensTheSharedBreakerOnce: the gateway answers 500 to
// its next 200 requests while 100 checkouts run; the steps alternate
// between two "containers" (two cores, each with its own Breaker on the
// same database). The breaker opens once for both, no checkout is charged
// twice, and once the outage is over every checkout has completed or
// failed: none is left processing. The breaker runs on the executor's
// virtual clock, so its 30 s cooldown passes as the Retry waits do.
func TestGatewayOutageOpensTheSharedBreakerOnce(t *testing.T) {
	const checkouts, faults = 100, 200
	moto := motoserver.Start(t)
	w := newSagaWorld(t, moto)
	ctx := context.Background()
	if _, err := w.pool.Exec(ctx, `UPDATE inventory SET on_hand = 1000 WHERE sku = 'TEE-1'`); err != nil {
		t.Fatal(err)
	}
	var opens, closes atomic.Int32
	newCore := func() *app.Core {
		gw := payment.NewStripe(payment.StripeConfig{SecretKey: stripefake.TestAPIKey, URL: w.fake.URL, Timeout: 5 * time.Second})
		return app.NewCore(w.pool, gw, app.Config{Strategy: inventory.Conditional, ReservationTTL: time.Hour}, slog.New(slog.DiscardHandler),
			app.WithBreaker(payment.BreakerOptions{Now: w.clock.Now, OnStateChange: func(open bool) {
				if open {
					opens.Add(1)
				} else {
					closes.Add(1)
				}
			}}))
	}
	one, two := newCore().Steps.Handlers(), newCore().Steps.Handlers()
	if err := w.fake.InjectFault(stripefake.Fault{Kind: stripefake.Status500, Times: faults}); err != nil {
		t.Fatal(err)
	}
	e := w.startExecutor(func(e *sfn.Executor, _ map[saga.Step]saga.Handler) {
		for step := range one {
			var n atomic.Uint64
			a, b := one[step], two[step]
			e.RegisterFunction(w.functionID(step), func(ctx context.Context, payload json.RawMessage) (json.RawMessage, error) {
				if n.Add(1)%2 == 0 {
					return a.Invoke(ctx, payload)
				}
				return b.Invoke(ctx, payload)
			})
		}
	})

	cs := make([]checkout.Checkout, checkouts)
	arns := make([]string, checkouts)
	for i := range cs {
		cs[i] = w.newCheckout("pm_card_visa", checkout.Item{SKU: "TEE-1", Quantity: 1})
	}
	var wg sync.WaitGroup
	for i := range cs {
		wg.Go(func() { arns[i] = w.run(e, cs[i]) })
	}
	wg.Wait()
	deadline := time.Now().Add(3 * time.Minute)
	for _, arn := range arns {
		for {
			x, err := e.DescribeExecution(ctx, arn)
			if err != nil {
				t.Fatal(err)
			}
			if x.Status != "RUNNING" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("execution %s still running after 3 minutes", arn)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	if left := w.fake.PendingFaults(); len(left) != 0 {
		t.Logf("faults left unconsumed: %+v", left)
	}
	var openings int
	if err := w.pool.QueryRow(ctx, `SELECT count(*) FROM payment_breaker_events WHERE from_state = 'closed' AND to_state = 'open'`).Scan(&openings); err != nil {
		t.Fatal(err)
	}
	if openings != 1 || opens.Load() < 1 {
		t.Errorf("breaker opened from closed %d times (OnStateChange(true) %d times); want once", openings, opens.Load())
	}

	// Money per checkout: a completed one captured its amount once, a
	// failed one kept nothing.
	charges := map[string][]stripefake.Charge{}
	for _, ch := range w.fake.Charges() {
		charges[ch.PaymentIntent] = append(charges[ch.PaymentIntent], ch)
	}
	status := map[checkout.Status]int{}
	for _, c := range cs {
		got, err := w.core.Checkouts.Get(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		status[got.Status]++
		var kept int64
		captures := 0
		for _, pi := range w.fake.PaymentIntentsByMetadata("checkout_id", c.ID.String()) {
			for _, ch := range charges[pi.ID] {
				if ch.Captured {
					captures++
					kept += ch.AmountCaptured - ch.AmountRefunded
				}
			}
		}
		switch got.Status {
		case checkout.StatusCompleted:
			if captures != 1 || kept != 1999 {
				t.Errorf("completed checkout %s: %d captured charges keeping %d; want 1 keeping 1999", c.ID, captures, kept)
			}
		case checkout.StatusFailed:
			if kept != 0 {
				t.Errorf("failed checkout %s (%s) keeps %d", c.ID, got.FailureCode, kept)
			}
		default:
			t.Errorf("checkout %s left %s after the outage", c.ID, got.Status)
		}
	}
	t.Logf("after %d gateway failures: %v; breaker opened %d, closed %d times", faults, status, opens.Load(), closes.Load())
}
