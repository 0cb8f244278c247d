package stripefake

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"
)

func TestFaultStatus500And429(t *testing.T) {
	t.Parallel()
	cases := []struct {
		kind   FaultKind
		status int
		typ    stripe.ErrorType
		code   stripe.ErrorCode
	}{
		{Status500, 500, stripe.ErrorTypeAPI, ""},
		{Status429, 429, stripe.ErrorTypeInvalidRequest, "rate_limit"},
	}
	for _, tc := range cases {
		t.Run(string(tc.kind), func(t *testing.T) {
			t.Parallel()
			f, sc := newTest(t)
			if err := f.InjectFault(Fault{Kind: tc.kind, Match: "POST /v1/payment_intents"}); err != nil {
				t.Fatal(err)
			}
			mk := func() *stripe.PaymentIntentParams {
				p := piParams(2000, "usd", "pm_card_visa", true)
				p.SetIdempotencyKey("k-" + string(tc.kind))
				return p
			}
			_, err := sc.PaymentIntents.New(mk())
			wantErr(t, err, tc.status, tc.typ, tc.code, "")
			if len(f.PaymentIntents()) != 0 || len(f.Charges()) != 0 {
				t.Fatal("a faulted request did work")
			}
			// Not stored: the retry with the same key executes.
			pi, err := sc.PaymentIntents.New(mk())
			if err != nil || pi.Status != stripe.PaymentIntentStatusSucceeded {
				t.Fatalf("retry: %v", err)
			}
			if pi.LastResponse.Header.Get("Idempotent-Replayed") != "" {
				t.Fatal("retry was a replay of the fault")
			}
			log := f.Requests()
			if len(log) != 2 || log[0].Status != tc.status || log[0].Fault != tc.kind || log[1].Status != 200 || log[1].Fault != "" {
				t.Fatalf("request log %+v", log)
			}
		})
	}
}

func TestFaultConnReset(t *testing.T) {
	t.Parallel()
	f, sc := newTest(t)
	if err := f.InjectFault(Fault{Kind: ConnReset, Match: "POST /v1/payment_intents/*/confirm"}); err != nil {
		t.Fatal(err)
	}
	pi, err := sc.PaymentIntents.New(piParams(2000, "usd", "pm_card_visa", false)) // not matched
	if err != nil {
		t.Fatal(err)
	}
	_, err = sc.PaymentIntents.Confirm(pi.ID, nil)
	if err == nil {
		t.Fatal("expected a connection error")
	}
	var se *stripe.Error
	if asErr(err, &se) {
		t.Fatalf("got a Stripe answer %v; want a transport error", se)
	}
	got, err := sc.PaymentIntents.Get(pi.ID, nil)
	if err != nil || got.Status != stripe.PaymentIntentStatusRequiresConfirmation || len(f.Charges()) != 0 {
		t.Fatalf("conn reset did work: %v %+v", err, got)
	}
	log := f.Requests()
	if log[1].Fault != ConnReset || log[1].Status != 0 {
		t.Fatalf("log %+v", log[1])
	}
	// Fault used up: the next confirm works.
	if got, err = sc.PaymentIntents.Confirm(pi.ID, nil); err != nil || got.Status != stripe.PaymentIntentStatusSucceeded {
		t.Fatalf("confirm after fault: %v", err)
	}
}

func TestFaultTimeoutAfterCharge(t *testing.T) {
	t.Parallel()
	f := StartTest(t)
	// The client gives up after 300ms; the fake holds until it does.
	impatient := ClientWith(f.URL, TestAPIKey, &http.Client{Timeout: 300 * time.Millisecond})
	if err := f.InjectFault(Fault{Kind: TimeoutAfterCharge, Match: "POST /v1/payment_intents"}); err != nil {
		t.Fatal(err)
	}
	mk := func() *stripe.PaymentIntentParams {
		p := piParams(6100, "usd", "pm_card_visa", true)
		p.SetIdempotencyKey("charge-then-timeout")
		p.AddMetadata("checkout_id", "co_timeout")
		return p
	}
	_, err := impatient.PaymentIntents.New(mk())
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "timeout") {
		t.Fatalf("want a client timeout, got %v", err)
	}
	// Money moved although the client saw a timeout.
	if n := len(f.SuccessfulCharges()); n != 1 {
		t.Fatalf("successful charges = %d, want 1", n)
	}
	// The replay with the same key returns the stored response...
	sc := f.Client()
	pi, err := sc.PaymentIntents.New(mk())
	if err != nil || pi.LastResponse.Header.Get("Idempotent-Replayed") != "true" || pi.Status != stripe.PaymentIntentStatusSucceeded {
		t.Fatalf("replay: %v %+v", err, pi)
	}
	// ...and a retrieve shows the truth.
	got, err := sc.PaymentIntents.Get(pi.ID, nil)
	if err != nil || got.Status != stripe.PaymentIntentStatusSucceeded || got.AmountReceived != 6100 {
		t.Fatalf("retrieve: %v %+v", err, got)
	}
	if byMeta := f.PaymentIntentsByMetadata("checkout_id", "co_timeout"); len(byMeta) != 1 || byMeta[0].ID != pi.ID {
		t.Fatalf("by metadata %+v", byMeta)
	}
	if len(f.PaymentIntents()) != 1 || len(f.SuccessfulCharges()) != 1 {
		t.Fatal("replay charged again")
	}
	// The log is in completion order, and the held request may complete
	// after the replay: find it by its fault.
	waitFor(t, func() bool { return len(f.Requests()) == 3 })
	held := 0
	for _, r := range f.Requests() {
		if r.Fault == TimeoutAfterCharge {
			held++
			if r.Status != 0 || r.Replayed {
				t.Fatalf("log %+v", r)
			}
		}
	}
	if held != 1 {
		t.Fatalf("log %+v", f.Requests())
	}
}

func TestFaultTimeoutAfterChargeWithDelay(t *testing.T) {
	t.Parallel()
	f, sc := newTest(t)
	pi, err := sc.PaymentIntents.New(piParams(900, "usd", "pm_card_visa", false))
	if err != nil {
		t.Fatal(err)
	}
	// Delay set: the fake itself closes the connection after 50ms.
	if err := f.InjectFault(Fault{Kind: TimeoutAfterCharge, Delay: 50 * time.Millisecond, Match: "POST /v1/payment_intents/*/confirm"}); err != nil {
		t.Fatal(err)
	}
	if _, err = sc.PaymentIntents.Confirm(pi.ID, nil); err == nil {
		t.Fatal("want an error: the fake never answered")
	}
	got, err := sc.PaymentIntents.Get(pi.ID, nil)
	if err != nil || got.Status != stripe.PaymentIntentStatusSucceeded {
		t.Fatalf("retrieve after withheld confirm: %v %+v", err, got)
	}
}

func TestFaultLatency(t *testing.T) {
	t.Parallel()
	f, sc := newTest(t)
	if err := f.InjectFault(Fault{Kind: Latency, Delay: 150 * time.Millisecond, Match: "/v1/payment_intents"}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	pi, err := sc.PaymentIntents.New(piParams(1000, "usd", "pm_card_visa", true))
	if err != nil || pi.Status != stripe.PaymentIntentStatusSucceeded {
		t.Fatalf("latency then normal service: %v", err)
	}
	if el := time.Since(start); el < 150*time.Millisecond {
		t.Fatalf("answered after %v, before the injected delay", el)
	}
	// A client that gives up during the delay: nothing happens.
	if err := f.InjectFault(Fault{Kind: Latency, Delay: 5 * time.Second, Match: "POST /v1/payment_intents"}); err != nil {
		t.Fatal(err)
	}
	impatient := ClientWith(f.URL, TestAPIKey, &http.Client{Timeout: 100 * time.Millisecond})
	if _, err := impatient.PaymentIntents.New(piParams(1000, "usd", "pm_card_visa", true)); err == nil {
		t.Fatal("want client timeout")
	}
	waitFor(t, func() bool { return len(f.Requests()) == 2 })
	if len(f.PaymentIntents()) != 1 {
		t.Fatalf("request abandoned during latency was executed: %d PIs", len(f.PaymentIntents()))
	}
}

func TestFaultMatchingAndOrder(t *testing.T) {
	t.Parallel()
	f, sc := newTest(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(f.InjectFault(Fault{Kind: Status429, Times: 2, Match: "POST /v1/refunds"}))
	must(f.InjectFault(Fault{Kind: Status500, Match: "POST /v1/refunds"}))
	pi, err := sc.PaymentIntents.New(piParams(1000, "usd", "pm_card_visa", true)) // unmatched
	must(err)
	var statuses []int
	for range 4 {
		_, err := sc.Refunds.New(&stripe.RefundParams{PaymentIntent: stripe.String(pi.ID), Amount: stripe.Int64(100)})
		if err != nil {
			statuses = append(statuses, asStripeErr(t, err).HTTPStatusCode)
		} else {
			statuses = append(statuses, 200)
		}
	}
	if want := []int{429, 429, 500, 200}; !equalInts(statuses, want) {
		t.Fatalf("statuses %v, want %v", statuses, want)
	}
	if len(f.Refunds()) != 1 || len(f.PendingFaults()) != 0 {
		t.Fatalf("refunds %d, pending %v", len(f.Refunds()), f.PendingFaults())
	}
	for _, bad := range []Fault{{Kind: "explode"}, {Kind: Latency}, {Kind: Status500, Match: "POST /v1/[x"}} {
		if err := f.InjectFault(bad); err == nil {
			t.Errorf("InjectFault(%+v) accepted", bad)
		}
	}
}

func TestFaultControlEndpoint(t *testing.T) {
	t.Parallel()
	f, sc := newTest(t)
	do := func(method, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, f.URL+"/_fake/faults", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	st, body := do(http.MethodPost, `[{"kind":"status_500","times":3,"match":"POST /v1/payment_intents"},{"kind":"latency","delay":"10ms"}]`)
	if st != 200 {
		t.Fatalf("post faults: %d %s", st, body)
	}
	var listed struct{ Faults []Fault }
	st, body = do(http.MethodGet, "")
	if err := json.Unmarshal([]byte(body), &listed); err != nil || st != 200 || len(listed.Faults) != 2 ||
		listed.Faults[0].Times != 3 || listed.Faults[1].Delay != 10*time.Millisecond {
		t.Fatalf("get faults: %d %s %v", st, body, err)
	}
	_, err := sc.PaymentIntents.New(piParams(1000, "usd", "", false))
	wantErr(t, err, 500, stripe.ErrorTypeAPI, "", "")
	if st, _ = do(http.MethodDelete, ""); st != 200 || len(f.PendingFaults()) != 0 {
		t.Fatalf("delete faults: %d, pending %v", st, f.PendingFaults())
	}
	if _, err := sc.PaymentIntents.New(piParams(1000, "usd", "", false)); err != nil {
		t.Fatalf("after DELETE: %v", err)
	}
	if st, body = do(http.MethodPost, `{"kind":"meteor"}`); st != 400 || !strings.Contains(body, "unknown fault kind") {
		t.Fatalf("bad fault: %d %s", st, body)
	}
}

func asErr(err error, target **stripe.Error) bool {
	se, ok := err.(*stripe.Error)
	if ok {
		*target = se
	}
	return ok
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
