package stripefake

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
)

func TestFaultStatus500After(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		match string
		// setup returns the request to fault (run twice with one key) and
		// what a retrieve must show afterwards.
		setup func(t *testing.T, sc *client.API) (run func(key string) error, check func(t *testing.T))
	}{
		{"create and confirm", "POST /v1/payment_intents", func(t *testing.T, sc *client.API) (func(string) error, func(*testing.T)) {
			var piID string
			run := func(key string) error {
				p := piParams(3100, "usd", "pm_card_visa", true)
				p.AddMetadata("checkout_id", "co_500after")
				p.SetIdempotencyKey(key)
				_, err := sc.PaymentIntents.New(p)
				return err
			}
			check := func(t *testing.T) {
				r := sc.PaymentIntents.Search(&stripe.PaymentIntentSearchParams{SearchParams: stripe.SearchParams{
					Query: "metadata['checkout_id']:'co_500after'"}})
				for r.Next() {
					piID = r.PaymentIntent().ID
					if r.PaymentIntent().Status != stripe.PaymentIntentStatusSucceeded || r.PaymentIntent().AmountReceived != 3100 {
						t.Fatalf("retrieved %+v", r.PaymentIntent())
					}
				}
				if r.Err() != nil || piID == "" {
					t.Fatalf("search: %v", r.Err())
				}
			}
			return run, check
		}},
		{"confirm", "POST /v1/payment_intents/*/confirm", func(t *testing.T, sc *client.API) (func(string) error, func(*testing.T)) {
			pi := mustPI(t, sc, piParams(3100, "usd", "pm_card_visa", false))
			run := func(key string) error {
				p := &stripe.PaymentIntentConfirmParams{}
				p.SetIdempotencyKey(key)
				_, err := sc.PaymentIntents.Confirm(pi.ID, p)
				return err
			}
			check := func(t *testing.T) {
				got, err := sc.PaymentIntents.Get(pi.ID, nil)
				if err != nil || got.Status != stripe.PaymentIntentStatusSucceeded {
					t.Fatalf("retrieve: %v %+v", err, got)
				}
			}
			return run, check
		}},
		{"refund", "POST /v1/refunds", func(t *testing.T, sc *client.API) (func(string) error, func(*testing.T)) {
			pi := mustPI(t, sc, piParams(3100, "usd", "pm_card_visa", true))
			run := func(key string) error {
				p := &stripe.RefundParams{PaymentIntent: stripe.String(pi.ID), Amount: stripe.Int64(1000)}
				p.SetIdempotencyKey(key)
				_, err := sc.Refunds.New(p)
				return err
			}
			check := func(t *testing.T) {
				it := sc.Refunds.List(&stripe.RefundListParams{PaymentIntent: stripe.String(pi.ID)})
				n := 0
				for it.Next() {
					n++
					if it.Refund().Amount != 1000 || it.Refund().Status != stripe.RefundStatusSucceeded {
						t.Fatalf("refund %+v", it.Refund())
					}
				}
				if it.Err() != nil || n != 1 {
					t.Fatalf("refunds listed: %d %v", n, it.Err())
				}
			}
			return run, check
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, sc := newMirrored(t)
			run, check := tc.setup(t, sc)
			if err := f.InjectFault(Fault{Kind: Status500After, Match: tc.match}); err != nil {
				t.Fatal(err)
			}
			before := len(f.Requests())
			first := wantErr(t, run("key-500-after"), 500, stripe.ErrorTypeAPI, "", "")
			// The money moved although the answer was a 500.
			if n := len(f.SuccessfulCharges()); n != 1 {
				t.Fatalf("successful charges %d, want 1", n)
			}
			stored, ok := f.IdempotentResponse("", "key-500-after")
			if !ok || stored.InFlight || stored.Status != 500 {
				t.Fatalf("stored %+v %v", stored, ok)
			}
			// The retry with the same key replays the stored 500...
			second := wantErr(t, run("key-500-after"), 500, stripe.ErrorTypeAPI, "", "")
			if second.LastResponse.Header.Get("Idempotent-Replayed") != "true" ||
				second.LastResponse.Header.Get("Original-Request") != first.RequestID || second.Msg != first.Msg {
				t.Fatalf("retry not a replay: %+v", second.LastResponse.Header)
			}
			// ...while a retrieve shows the truth, and nothing ran twice.
			check(t)
			if len(f.SuccessfulCharges()) != 1 || len(f.Refunds()) > 1 {
				t.Fatal("the replay did the work again")
			}
			log := f.Requests()[before:]
			if log[0].Fault != Status500After || log[0].Status != 500 || log[0].Replayed || !log[1].Replayed || log[1].Status != 500 {
				t.Fatalf("log %+v", log)
			}
		})
	}
	t.Run("validation error: not stored", func(t *testing.T) {
		t.Parallel()
		f, sc := newTest(t)
		if err := f.InjectFault(Fault{Kind: Status500After}); err != nil {
			t.Fatal(err)
		}
		bad := &stripe.PaymentIntentParams{Currency: stripe.String("usd")}
		bad.SetIdempotencyKey("k")
		_, err := sc.PaymentIntents.New(bad)
		wantErr(t, err, 500, stripe.ErrorTypeAPI, "", "")
		good := piParams(1000, "usd", "", false)
		good.SetIdempotencyKey("k")
		if _, err := sc.PaymentIntents.New(good); err != nil {
			t.Fatalf("the key was stored although nothing executed: %v", err)
		}
	})
}

func TestFaultProcessing(t *testing.T) {
	t.Parallel()
	const delay = 80 * time.Millisecond
	cases := []struct {
		name      string
		pm        string
		manual    bool
		outcome   string
		want      stripe.PaymentIntentStatus
		events    []string // after payment_intent.created
		declineCd stripe.DeclineCode
	}{
		{"settles succeeded", "pm_card_visa", false, "", stripe.PaymentIntentStatusSucceeded,
			[]string{"charge.pending", "payment_intent.processing", "charge.succeeded", "payment_intent.succeeded"}, ""},
		{"settles requires_capture", "pm_card_visa", true, OutcomeSucceed, stripe.PaymentIntentStatusRequiresCapture,
			[]string{"charge.pending", "payment_intent.processing", "charge.succeeded", "payment_intent.amount_capturable_updated"}, ""},
		{"outcome fail", "pm_card_visa", false, OutcomeFail, stripe.PaymentIntentStatusRequiresPaymentMethod,
			[]string{"charge.pending", "payment_intent.processing", "charge.failed", "payment_intent.payment_failed"}, "generic_decline"},
		{"declining card declines at settlement", "pm_card_chargeDeclinedInsufficientFunds", false, "", stripe.PaymentIntentStatusRequiresPaymentMethod,
			[]string{"charge.pending", "payment_intent.processing", "charge.failed", "payment_intent.payment_failed"}, "insufficient_funds"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rc := newReceiver(t)
			f := webhookFake(t, rc)
			sc := mirroredClient(t, f)
			p := piParams(4200, "usd", tc.pm, false)
			if tc.manual {
				p.CaptureMethod = stripe.String("manual")
			}
			pi := mustPI(t, sc, p)
			if err := f.InjectFault(Fault{Kind: Processing, Match: "POST /v1/payment_intents/*/confirm", Delay: delay, Outcome: tc.outcome}); err != nil {
				t.Fatal(err)
			}
			cp := &stripe.PaymentIntentConfirmParams{}
			cp.SetIdempotencyKey("confirm-processing")
			got, err := sc.PaymentIntents.Confirm(pi.ID, cp)
			if err != nil || got.Status != stripe.PaymentIntentStatusProcessing || got.LatestCharge == nil {
				t.Fatalf("confirm: %v %+v", err, got)
			}
			// While processing: nothing else may happen to it.
			gp := &stripe.PaymentIntentParams{}
			gp.AddExpand("latest_charge")
			if got, _ = sc.PaymentIntents.Get(pi.ID, gp); got.Status != stripe.PaymentIntentStatusProcessing ||
				got.LatestCharge.Status != "pending" || got.LatestCharge.Paid || got.AmountReceived != 0 {
				t.Fatalf("while processing %+v / charge %+v", got, got.LatestCharge)
			}
			_, err = sc.PaymentIntents.Confirm(pi.ID, nil)
			wantErr(t, err, 400, stripe.ErrorTypeInvalidRequest, "payment_intent_unexpected_state", "")
			_, err = sc.PaymentIntents.Cancel(pi.ID, nil)
			se := wantErr(t, err, 400, stripe.ErrorTypeInvalidRequest, "payment_intent_unexpected_state", "")
			if se.PaymentIntent == nil || se.PaymentIntent.Status != stripe.PaymentIntentStatusProcessing {
				t.Fatalf("cancel error payment_intent %+v", se.PaymentIntent)
			}
			_, err = sc.PaymentIntents.Capture(pi.ID, nil)
			wantErr(t, err, 400, stripe.ErrorTypeInvalidRequest, "payment_intent_unexpected_state", "")
			_, err = sc.Refunds.New(&stripe.RefundParams{PaymentIntent: stripe.String(pi.ID)})
			wantErr(t, err, 400, stripe.ErrorTypeInvalidRequest, "", "payment_intent")
			_, err = sc.Refunds.New(&stripe.RefundParams{Charge: stripe.String(got.LatestCharge.ID)})
			wantErr(t, err, 400, stripe.ErrorTypeInvalidRequest, "", "charge")

			// It settles by itself.
			waitIdle(t, f)
			got, err = sc.PaymentIntents.Get(pi.ID, gp)
			if err != nil || got.Status != tc.want {
				t.Fatalf("settled: %v %+v", err, got)
			}
			switch tc.want {
			case stripe.PaymentIntentStatusSucceeded:
				if got.AmountReceived != 4200 || !got.LatestCharge.Captured {
					t.Fatalf("succeeded %+v", got)
				}
			case stripe.PaymentIntentStatusRequiresCapture:
				if got.AmountCapturable != 4200 || got.LatestCharge.Captured {
					t.Fatalf("requires_capture %+v", got)
				}
			case stripe.PaymentIntentStatusRequiresPaymentMethod:
				if got.LastPaymentError == nil || got.LastPaymentError.DeclineCode != tc.declineCd || got.LatestCharge.Status != "failed" {
					t.Fatalf("failed %+v", got.LastPaymentError)
				}
			}
			want := append([]string{"payment_intent.created"}, tc.events...)
			if types := rc.types(); !equalStrings(types, want) {
				t.Fatalf("events %v\nwant   %v", types, want)
			}
			// The confirm answer (200 processing) is what its key replays.
			if stored, _ := f.IdempotentResponse("", "confirm-processing"); stored.Status != 200 ||
				!strings.Contains(string(stored.Body), `"status": "processing"`) {
				t.Fatalf("stored %d %s", stored.Status, stored.Body)
			}
		})
	}
}

func TestFaultProcessingDefaultsAndCreate(t *testing.T) {
	t.Parallel()
	f := StartTest(t, Options{AsyncDelay: 30 * time.Millisecond})
	sc := f.Client()
	// A processing fault on a create with confirm=true; no Delay: AsyncDelay.
	st, body := controlDo(t, http.MethodPost, f.URL+"/_fake/faults", `{"kind":"processing","match":"POST /v1/payment_intents","outcome":"fail"}`)
	if st != 200 {
		t.Fatalf("POST fault: %d %v", st, body)
	}
	if p := f.PendingFaults(); len(p) != 1 || p[0].Outcome != OutcomeFail {
		t.Fatalf("pending %+v", p)
	}
	pi := mustPI(t, sc, piParams(1000, "usd", "pm_card_visa", true))
	if pi.Status != stripe.PaymentIntentStatusProcessing {
		t.Fatalf("status %s", pi.Status)
	}
	waitIdle(t, f)
	got, _ := sc.PaymentIntents.Get(pi.ID, nil)
	if got.Status != stripe.PaymentIntentStatusRequiresPaymentMethod || got.LastPaymentError.Code != "card_declined" {
		t.Fatalf("settled %+v", got)
	}
	// A retry with a good card works.
	got, err := sc.PaymentIntents.Confirm(pi.ID, &stripe.PaymentIntentConfirmParams{PaymentMethod: stripe.String("pm_card_visa")})
	if err != nil || got.Status != stripe.PaymentIntentStatusSucceeded {
		t.Fatalf("retry: %v %+v", err, got)
	}
	for _, bad := range []string{`{"kind":"processing","outcome":"maybe"}`, `{"kind":"status_500","outcome":"fail"}`} {
		if st, _ := controlDo(t, http.MethodPost, f.URL+"/_fake/faults", bad); st != 400 {
			t.Errorf("POST %s: %d, want 400", bad, st)
		}
	}
}

func TestFaultSlow(t *testing.T) {
	t.Parallel()
	f := StartTest(t)
	sc := f.Client()
	pi := mustPI(t, sc, piParams(5100, "usd", "pm_card_visa", false))
	if err := f.InjectFault(Fault{Kind: Slow, Delay: 600 * time.Millisecond, Match: "POST /v1/payment_intents/*/confirm"}); err != nil {
		t.Fatal(err)
	}
	confirm := func(c *client.API) (*stripe.PaymentIntent, error) {
		p := &stripe.PaymentIntentConfirmParams{}
		p.SetIdempotencyKey("slow-confirm")
		return c.PaymentIntents.Confirm(pi.ID, p)
	}
	// The client gives up after 100ms...
	impatient := ClientWith(f.URL, TestAPIKey, &http.Client{Timeout: 100 * time.Millisecond})
	if _, err := confirm(impatient); err == nil || !strings.Contains(strings.ToLower(err.Error()), "timeout") {
		t.Fatalf("want a client timeout, got %v", err)
	}
	if len(f.Charges()) != 0 {
		t.Fatal("executed before the delay")
	}
	// ...its retry with the same key finds the key in flight...
	_, err := confirm(sc)
	wantErr(t, err, 409, stripe.ErrorTypeIdempotency, "idempotency_key_in_use", "")
	// ...the request executes anyway after the delay...
	waitFor(t, func() bool { s, ok := f.IdempotentResponse("", "slow-confirm"); return ok && !s.InFlight })
	waitFor(t, func() bool { return len(f.Requests()) == 3 })
	if n := len(f.SuccessfulCharges()); n != 1 {
		t.Fatalf("successful charges %d", n)
	}
	// ...and the next retry gets the stored answer.
	got, err := confirm(sc)
	if err != nil || got.Status != stripe.PaymentIntentStatusSucceeded || got.LastResponse.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry after the delay: %v %+v", err, got)
	}
	// The log is in completion order: the 409 finished before the slow
	// request, which nobody was listening to any more (status 0).
	log := f.Requests()
	if len(log) != 4 || log[1].Status != 409 || log[2].Fault != Slow || log[2].Status != 0 || !log[3].Replayed {
		t.Fatalf("log %+v", log)
	}

	// A patient client simply gets the answer late.
	pi2 := mustPI(t, sc, piParams(5100, "usd", "pm_card_visa", false))
	if err := f.InjectFault(Fault{Kind: Slow, Delay: 100 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got, err = sc.PaymentIntents.Confirm(pi2.ID, nil)
	if err != nil || got.Status != stripe.PaymentIntentStatusSucceeded || time.Since(start) < 100*time.Millisecond {
		t.Fatalf("patient client: %v %+v after %v", err, got, time.Since(start))
	}
	if err := f.InjectFault(Fault{Kind: Slow}); err == nil {
		t.Fatal("slow without a delay accepted")
	}
}
