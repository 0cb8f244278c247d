package stack_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/internal/local/devtrace"
	"github.com/checkout-dev/checkout/internal/tracing"
)

// A checkout through the stack is one trace: the API request is its root,
// every Task state of the saga is a child of it, each saga step a child of
// its state, the Stripe calls children of the steps that make them, and
// the three post-order consumers children of the states that sent them
// their message (AWSTraceHeader).
func TestCheckoutIsOneTrace(t *testing.T) {
	t.Parallel()
	e := startE2E(t, roomy)
	e.product("TRACE-TEE", 2500, 5)
	alice := e.token("alice", false)
	r := e.post(alice, "trace-1", cart("TRACE-TEE", 1, "pm_card_visa"))
	if r.status != 202 && r.status != 201 {
		t.Fatalf("POST /v1/checkouts: %d %s", r.status, r.raw)
	}
	id := r.str("checkout_id")
	if f := e.wait(alice, id); f.str("status") != "completed" {
		t.Fatalf("checkout ended %s: %s", f.str("status"), f.raw)
	}
	ctx := context.Background()
	pool := e.stack.Core().Pool
	traceID, err := devtrace.CheckoutTrace(ctx, pool, uuid.MustParse(id))
	if err != nil || len(traceID) != 32 {
		t.Fatalf("trace id of the checkout: %q, %v", traceID, err)
	}

	wantConsumers := []string{"consumer:analytics", "consumer:notification", "consumer:shipping"}
	var spans []devtrace.Span
	for deadline := time.Now().Add(30 * time.Second); ; {
		tracing.Flush(ctx)
		if spans, err = devtrace.Trace(ctx, pool, traceID); err != nil {
			t.Fatal(err)
		}
		if hasServices(spans, append(wantConsumers, "step:capture-payment")...) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}

	t.Logf("%d spans:\n%s", len(spans), dump(spans))
	byID := map[string]devtrace.Span{}
	for _, s := range spans {
		byID[s.SpanID] = s
	}
	parentOf := func(s devtrace.Span) devtrace.Span { return byID[s.ParentID] }
	var roots []devtrace.Span
	for _, s := range spans {
		if _, ok := byID[s.ParentID]; !ok {
			roots = append(roots, s)
		}
	}
	if len(roots) != 1 || roots[0].Name != "POST /v1/checkouts" || roots[0].Service != "api" {
		t.Fatalf("roots %v: want the one API request POST /v1/checkouts\n%s", names(roots), dump(spans))
	}
	root := roots[0]

	states := map[string]devtrace.Span{}
	for _, s := range spans {
		if s.Service == "sfn" {
			states[strings.TrimPrefix(s.Name, "state ")] = s
			if parentOf(s).SpanID != root.SpanID {
				t.Errorf("state span %s: parent %q, want the API request", s.Name, parentOf(s).Name)
			}
		}
	}
	steps := map[string]string{"ReserveStock": "reserve-stock", "ChargePayment": "charge-payment",
		"CreateOrder": "create-order", "CapturePayment": "capture-payment"}
	for state, fn := range steps {
		st, ok := states[state]
		if !ok {
			t.Errorf("no span for state %s\n%s", state, dump(spans))
			continue
		}
		found := false
		for _, s := range spans {
			if s.Service == "step:"+fn && s.ParentID == st.SpanID {
				found = true
			}
		}
		if !found {
			t.Errorf("no step:%s span under state %s", fn, state)
		}
	}
	// The database transactions of note and the stock gate, under the span
	// that made them.
	under := func(name, parentService string) bool {
		for _, s := range spans {
			if s.Name == name && parentOf(s).Service == parentService {
				return true
			}
		}
		return false
	}
	for _, w := range []struct{ name, parent string }{
		{"sql checkout.create", "api"},
		{"stockgate.Reserve", "step:reserve-stock"},
		{"sql inventory_reserve", "step:reserve-stock"},
		{"sql order.create", "step:create-order"},
	} {
		if !under(w.name, w.parent) {
			t.Errorf("no %q span under %s", w.name, w.parent)
		}
	}
	stripeUnder := map[string]bool{}
	for _, s := range spans {
		if s.Service == "stripe" {
			stripeUnder[parentOf(s).Service] = true
			if k, _ := s.Attributes["checkout.idempotency_key"].(string); k == "" && s.Attributes["http.request.method"] == "POST" {
				t.Errorf("stripe span %s has no idempotency key", s.Name)
			}
		}
	}
	if !stripeUnder["step:charge-payment"] || !stripeUnder["step:capture-payment"] {
		t.Errorf("stripe spans under %v: want under step:charge-payment and step:capture-payment", stripeUnder)
	}
	for _, c := range wantConsumers {
		var got []devtrace.Span
		for _, s := range spans {
			if s.Service == c {
				got = append(got, s)
			}
		}
		if len(got) == 0 {
			t.Errorf("no %s span\n%s", c, dump(spans))
			continue
		}
		if p := parentOf(got[0]); p.Service != "sfn" || !strings.HasPrefix(p.Name, "state Publish") {
			t.Errorf("%s span's parent is %q [%s], want a Publish… state", c, p.Name, p.Service)
		}
	}
	for _, s := range spans {
		if s.Status == "error" {
			t.Errorf("span %s [%s] is an error: %s", s.Name, s.Service, s.StatusMessage)
		}
		if s.End.Before(s.Start) {
			t.Errorf("span %s ends before it starts", s.Name)
		}
	}
}

func hasServices(spans []devtrace.Span, services ...string) bool {
	have := map[string]bool{}
	for _, s := range spans {
		have[s.Service] = true
	}
	for _, s := range services {
		if !have[s] {
			return false
		}
	}
	return true
}

func names(spans []devtrace.Span) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name+" ["+s.Service+"]")
	}
	return out
}

func dump(spans []devtrace.Span) string {
	var b bytes.Buffer
	for _, s := range spans {
		b.WriteString("  " + s.SpanID + " <- " + s.ParentID + "  " + s.Name + " [" + s.Service + "] " + s.Status + "\n")
	}
	return b.String()
}
