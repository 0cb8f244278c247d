package stripefake

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"
)

func TestIdempotentReplay(t *testing.T) {
	t.Parallel()
	f, sc := newTest(t)
	mk := func() *stripe.PaymentIntentParams {
		p := piParams(4200, "usd", "pm_card_visa", true)
		p.SetIdempotencyKey("order-1")
		p.AddMetadata("checkout_id", "c1")
		return p
	}
	first, err := sc.PaymentIntents.New(mk())
	if err != nil {
		t.Fatal(err)
	}
	second, err := sc.PaymentIntents.New(mk())
	if err != nil {
		t.Fatal(err)
	}
	if second.ID != first.ID || string(second.LastResponse.RawJSON) != string(first.LastResponse.RawJSON) ||
		second.LastResponse.StatusCode != 200 {
		t.Fatalf("replay differs: %s vs %s", first.ID, second.ID)
	}
	if second.LastResponse.Header.Get("Idempotent-Replayed") != "true" || first.LastResponse.Header.Get("Idempotent-Replayed") != "" {
		t.Fatal("Idempotent-Replayed header wrong")
	}
	if second.LastResponse.RequestID == first.LastResponse.RequestID ||
		second.LastResponse.Header.Get("Original-Request") != first.LastResponse.RequestID {
		t.Fatal("replay should have its own Request-Id and point to the original")
	}
	if len(f.PaymentIntents()) != 1 || len(f.SuccessfulCharges()) != 1 {
		t.Fatalf("replay made a side effect: %d PIs, %d charges", len(f.PaymentIntents()), len(f.SuccessfulCharges()))
	}
	stored, ok := f.IdempotentResponse("", "order-1")
	if !ok || stored.Status != 200 || stored.Path != "/v1/payment_intents" || string(stored.Body) != string(first.LastResponse.RawJSON) {
		t.Fatalf("stored %+v", stored)
	}

	// Same key, different params: idempotency_error, nothing done.
	p := piParams(4300, "usd", "pm_card_visa", true)
	p.SetIdempotencyKey("order-1")
	_, err = sc.PaymentIntents.New(p)
	se := wantErr(t, err, 400, stripe.ErrorTypeIdempotency, "", "")
	var ie *stripe.IdempotencyError
	if !errors.As(se.Err, &ie) {
		t.Fatalf("typed error %T", se.Err)
	}
	// Same key on another endpoint is also a mismatch.
	rp := &stripe.RefundParams{PaymentIntent: stripe.String(first.ID)}
	rp.SetIdempotencyKey("order-1")
	_, err = sc.Refunds.New(rp)
	wantErr(t, err, 400, stripe.ErrorTypeIdempotency, "", "")
	if len(f.Refunds()) != 0 {
		t.Fatal("mismatched key made a refund")
	}

	// Declines are stored and replayed too (402 with the same body).
	d := func() *stripe.PaymentIntentParams {
		p := piParams(900, "usd", "pm_card_chargeDeclined", true)
		p.SetIdempotencyKey("order-declined")
		return p
	}
	_, err1 := sc.PaymentIntents.New(d())
	_, err2 := sc.PaymentIntents.New(d())
	s1, s2 := asStripeErr(t, err1), asStripeErr(t, err2)
	if s1.HTTPStatusCode != 402 || s2.HTTPStatusCode != 402 || s1.PaymentIntent.ID != s2.PaymentIntent.ID ||
		s2.LastResponse.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("decline replay: %+v / %+v", s1, s2)
	}

	// Validation errors are not stored: the corrected request runs.
	bad := &stripe.PaymentIntentParams{Currency: stripe.String("usd")}
	bad.SetIdempotencyKey("order-fixed")
	_, err = sc.PaymentIntents.New(bad)
	wantErr(t, err, 400, stripe.ErrorTypeInvalidRequest, "parameter_missing", "amount")
	good := piParams(1000, "usd", "", false)
	good.SetIdempotencyKey("order-fixed")
	if _, err := sc.PaymentIntents.New(good); err != nil {
		t.Fatalf("corrected request after a validation error: %v", err)
	}
}

func TestIdempotencyConcurrentSameKey(t *testing.T) {
	t.Parallel()
	f, sc := newTest(t)
	const n = 16
	var wg sync.WaitGroup
	ids := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := piParams(1500, "usd", "pm_card_visa", true)
			p.SetIdempotencyKey("same-key")
			pi, err := sc.PaymentIntents.New(p)
			if err == nil {
				ids[i] = pi.ID
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	okCount := 0
	var id string
	for i := range n {
		if errs[i] != nil {
			// The only acceptable failure: a 409 while the first was executing.
			wantErr(t, errs[i], 409, stripe.ErrorTypeIdempotency, "idempotency_key_in_use", "")
			continue
		}
		okCount++
		if id == "" {
			id = ids[i]
		}
		if ids[i] != id {
			t.Fatalf("two PaymentIntents for one key: %s %s", id, ids[i])
		}
	}
	if okCount == 0 {
		t.Fatal("no request succeeded")
	}
	if len(f.PaymentIntents()) != 1 || len(f.SuccessfulCharges()) != 1 {
		t.Fatalf("%d PIs, %d charges; want 1, 1", len(f.PaymentIntents()), len(f.SuccessfulCharges()))
	}
}

func TestIdempotencyInFlightConflict(t *testing.T) {
	t.Parallel()
	f, sc := newTest(t)
	if err := f.InjectFault(Fault{Kind: Latency, Delay: 300 * time.Millisecond, Match: "POST /v1/payment_intents"}); err != nil {
		t.Fatal(err)
	}
	mk := func() *stripe.PaymentIntentParams {
		p := piParams(1500, "usd", "pm_card_visa", true)
		p.SetIdempotencyKey("slow-key")
		return p
	}
	done := make(chan error, 1)
	var firstID string
	go func() {
		pi, err := sc.PaymentIntents.New(mk())
		if err == nil {
			firstID = pi.ID
		}
		done <- err
	}()
	waitFor(t, func() bool { s, ok := f.IdempotentResponse("", "slow-key"); return ok && s.InFlight })
	_, err := sc.PaymentIntents.New(mk())
	wantErr(t, err, 409, stripe.ErrorTypeIdempotency, "idempotency_key_in_use", "")
	if err := <-done; err != nil {
		t.Fatalf("first request: %v", err)
	}
	// Once it finished, the same key replays.
	pi, err := sc.PaymentIntents.New(mk())
	if err != nil || pi.ID != firstID {
		t.Fatalf("replay after in-flight: %v %v", err, pi)
	}
}

// waitFor polls cond for up to 10s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestIdempotencyKeyExpiresAfter24h(t *testing.T) {
	t.Parallel()
	var offset atomic.Int64
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f := StartTest(t, Options{Now: func() time.Time { return base.Add(time.Duration(offset.Load())) }})
	sc := f.Client()
	mk := func() *stripe.PaymentIntentParams {
		p := piParams(1000, "usd", "pm_card_visa", true)
		p.SetIdempotencyKey("daily")
		return p
	}
	a, err := sc.PaymentIntents.New(mk())
	if err != nil {
		t.Fatal(err)
	}
	if a.Created != base.Unix() {
		t.Fatalf("created %d, want the injected clock's %d", a.Created, base.Unix())
	}
	offset.Store(int64(23 * time.Hour))
	if b, err := sc.PaymentIntents.New(mk()); err != nil || b.ID != a.ID {
		t.Fatalf("within 24h: %v %v", err, b)
	}
	offset.Store(int64(25 * time.Hour))
	c, err := sc.PaymentIntents.New(mk())
	if err != nil || c.ID == a.ID {
		t.Fatalf("after 24h the key should be new: %v %v", err, c)
	}
	if len(f.SuccessfulCharges()) != 2 {
		t.Fatalf("charges %d, want 2", len(f.SuccessfulCharges()))
	}
}
