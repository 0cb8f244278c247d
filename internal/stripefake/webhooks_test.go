package stripefake

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
)

// controlDo calls a /_fake control endpoint with a JSON body.
func controlDo(t *testing.T, method, u, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s %s: body is not JSON: %s", method, u, b)
	}
	return resp.StatusCode, m
}

func TestWebhookEventsForEachStateChange(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		run  func(t *testing.T, sc *client.API, f *Fake)
		want []string
	}{
		{"automatic capture", func(t *testing.T, sc *client.API, _ *Fake) {
			mustPI(t, sc, piParams(2000, "usd", "pm_card_visa", true))
		}, []string{"payment_intent.created", "charge.succeeded", "payment_intent.succeeded"}},
		{"two-step confirm", func(t *testing.T, sc *client.API, _ *Fake) {
			pi := mustPI(t, sc, piParams(2000, "usd", "", false))
			if _, err := sc.PaymentIntents.Confirm(pi.ID, &stripe.PaymentIntentConfirmParams{PaymentMethod: stripe.String("pm_card_visa")}); err != nil {
				t.Fatal(err)
			}
		}, []string{"payment_intent.created", "charge.succeeded", "payment_intent.succeeded"}},
		{"decline", func(t *testing.T, sc *client.API, _ *Fake) {
			_, err := sc.PaymentIntents.New(piParams(2000, "usd", "pm_card_chargeDeclined", true))
			asStripeErr(t, err)
		}, []string{"payment_intent.created", "charge.failed", "payment_intent.payment_failed"}},
		{"manual capture then capture", func(t *testing.T, sc *client.API, _ *Fake) {
			p := piParams(2000, "usd", "pm_card_visa", true)
			p.CaptureMethod = stripe.String("manual")
			pi := mustPI(t, sc, p)
			if _, err := sc.PaymentIntents.Capture(pi.ID, nil); err != nil {
				t.Fatal(err)
			}
		}, []string{"payment_intent.created", "charge.succeeded", "payment_intent.amount_capturable_updated",
			"charge.captured", "payment_intent.succeeded"}},
		{"manual capture then cancel", func(t *testing.T, sc *client.API, _ *Fake) {
			p := piParams(2000, "usd", "pm_card_visa", true)
			p.CaptureMethod = stripe.String("manual")
			pi := mustPI(t, sc, p)
			if _, err := sc.PaymentIntents.Cancel(pi.ID, nil); err != nil {
				t.Fatal(err)
			}
		}, []string{"payment_intent.created", "charge.succeeded", "payment_intent.amount_capturable_updated",
			"charge.refunded", "payment_intent.canceled"}},
		{"3-D Secure then authenticated", func(t *testing.T, sc *client.API, f *Fake) {
			pi := mustPI(t, sc, piParams(2000, "usd", "pm_card_authenticationRequired", true))
			if err := f.CompleteAuthentication(pi.ID, true); err != nil {
				t.Fatal(err)
			}
		}, []string{"payment_intent.created", "payment_intent.requires_action", "charge.succeeded", "payment_intent.succeeded"}},
		{"3-D Secure failed", func(t *testing.T, sc *client.API, f *Fake) {
			pi := mustPI(t, sc, piParams(2000, "usd", "pm_card_authenticationRequired", true))
			if err := f.CompleteAuthentication(pi.ID, false); err != nil {
				t.Fatal(err)
			}
		}, []string{"payment_intent.created", "payment_intent.requires_action", "payment_intent.payment_failed"}},
		{"refund", func(t *testing.T, sc *client.API, _ *Fake) {
			pi := mustPI(t, sc, piParams(2000, "usd", "pm_card_visa", true))
			if _, err := sc.Refunds.New(&stripe.RefundParams{PaymentIntent: stripe.String(pi.ID), Amount: stripe.Int64(500)}); err != nil {
				t.Fatal(err)
			}
		}, []string{"payment_intent.created", "charge.succeeded", "payment_intent.succeeded", "refund.created", "charge.refunded"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rc := newReceiver(t)
			f := webhookFake(t, rc)
			sc := mirroredClient(t, f)
			tc.run(t, sc, f)
			waitIdle(t, f)
			if got := rc.types(); !equalStrings(got, tc.want) {
				t.Fatalf("delivered %v\nwant      %v", got, tc.want)
			}
			for _, ev := range f.Events() {
				if ev.State != EventDelivered || len(ev.Attempts) != 1 || ev.Attempts[0].Status != 200 {
					t.Fatalf("event %s %s: state %s attempts %+v", ev.ID, ev.Type, ev.State, ev.Attempts)
				}
			}
		})
	}
}

func mustPI(t *testing.T, sc *client.API, p *stripe.PaymentIntentParams) *stripe.PaymentIntent {
	t.Helper()
	pi, err := sc.PaymentIntents.New(p)
	if err != nil {
		t.Fatal(err)
	}
	return pi
}

func TestWebhookEventShape(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	f := webhookFake(t, rc)
	sc := mirroredClient(t, f)
	p := piParams(2500, "usd", "pm_card_visa", true)
	p.SetIdempotencyKey("shape-key")
	p.AddMetadata("checkout_id", "co_shape")
	pi := mustPI(t, sc, p)
	waitIdle(t, f)
	got := rc.received()
	if len(got) != 3 {
		t.Fatalf("received %d events", len(got))
	}
	created, succeeded := got[0], got[2]
	for _, ev := range got {
		if !strings.HasPrefix(ev.ID, "evt_") || ev.Object != "event" || ev.APIVersion != APIVersion || ev.Livemode ||
			ev.Created == 0 || ev.PendingWebhooks != 1 || ev.Request == nil ||
			ev.Request.ID != pi.LastResponse.RequestID || ev.Request.IdempotencyKey != "shape-key" {
			t.Fatalf("event %+v (request %+v)", ev, ev.Request)
		}
	}
	// data.object is the object as it was when the event was created.
	if created.Data.Object["id"] != pi.ID || created.Data.Object["status"] != "requires_confirmation" ||
		succeeded.Data.Object["status"] != "succeeded" || succeeded.Data.Object["amount_received"] != float64(2500) {
		t.Fatalf("data.object: created %v / succeeded %v", created.Data.Object["status"], succeeded.Data.Object["status"])
	}
	var obj stripe.PaymentIntent
	if err := json.Unmarshal(succeeded.Data.Raw, &obj); err != nil || obj.Metadata["checkout_id"] != "co_shape" {
		t.Fatalf("data.object decodes to %+v (%v)", obj, err)
	}
	// The API shows the event too, delivered now (pending_webhooks 0).
	ev, err := sc.Events.Get(succeeded.ID, nil)
	if err != nil || ev.Type != "payment_intent.succeeded" || ev.PendingWebhooks != 0 || ev.Data.Object["id"] != pi.ID {
		t.Fatalf("GET event: %v %+v", err, ev)
	}
	// An asynchronous change has no request.
	f2 := webhookFake(t, newReceiver(t))
	pi2 := mustPI(t, f2.Client(), piParams(1000, "usd", "pm_card_pendingRefund", true))
	if _, err := f2.Client().Refunds.New(&stripe.RefundParams{PaymentIntent: stripe.String(pi2.ID)}); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, f2)
	upd := f2.EventsOfType("refund.updated")
	if len(upd) != 1 || !strings.Contains(string(upd[0].Payload), `"request": {`+"\n"+`    "id": null,`) {
		t.Fatalf("refund.updated %+v", upd)
	}
}

func TestWebhookFaults(t *testing.T) {
	t.Parallel()
	flow := []string{"payment_intent.created", "charge.succeeded", "payment_intent.succeeded"}
	cases := []struct {
		name    string
		fault   Fault
		want    []string // delivery order
		state   string   // state of the faulted event
		minTime time.Duration
	}{
		{"duplicate", Fault{Kind: WebhookDuplicate, Match: "payment_intent.succeeded"},
			append(append([]string(nil), flow...), "payment_intent.succeeded"), EventDelivered, 0},
		{"delay", Fault{Kind: WebhookDelay, Match: "charge.*", Delay: 300 * time.Millisecond},
			[]string{"payment_intent.created", "payment_intent.succeeded", "charge.succeeded"}, EventDelivered, 300 * time.Millisecond},
		{"reorder", Fault{Kind: WebhookReorder, Match: "payment_intent.created"},
			[]string{"charge.succeeded", "payment_intent.succeeded", "payment_intent.created"}, EventDelivered, 0},
		{"drop", Fault{Kind: WebhookDrop, Match: "payment_intent.succeeded"},
			[]string{"payment_intent.created", "charge.succeeded"}, EventDropped, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rc := newReceiver(t)
			f := webhookFake(t, rc)
			if err := f.InjectFault(tc.fault); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			pi := mustPI(t, f.Client(), piParams(2000, "usd", "pm_card_visa", true))
			waitIdle(t, f)
			if el := time.Since(start); el < tc.minTime {
				t.Fatalf("idle after %v, before the %v delay", el, tc.minTime)
			}
			if got := rc.types(); !equalStrings(got, tc.want) {
				t.Fatalf("delivered %v\nwant      %v", got, tc.want)
			}
			var faulted []Event
			for _, ev := range f.Events() {
				if ev.Fault != "" {
					faulted = append(faulted, ev)
				}
			}
			if len(faulted) != 1 || faulted[0].Fault != tc.fault.Kind || faulted[0].State != tc.state || faulted[0].Chaos {
				t.Fatalf("faulted events %+v", faulted)
			}
			if tc.fault.Kind == WebhookDuplicate {
				got := rc.received()
				if got[2].ID != got[3].ID || len(faulted[0].Attempts) != 2 {
					t.Fatalf("duplicate ids %s %s, attempts %+v", got[2].ID, got[3].ID, faulted[0].Attempts)
				}
			}
			if tc.fault.Kind == WebhookDrop {
				// A lost webhook: the event exists, never delivered; the
				// PaymentIntent shows the truth.
				ev, err := mirroredClient(t, f).Events.Get(faulted[0].ID, nil)
				if err != nil || ev.PendingWebhooks != 1 || len(faulted[0].Attempts) != 0 {
					t.Fatalf("dropped event %v %+v", err, ev)
				}
				got, _ := f.Client().PaymentIntents.Get(pi.ID, nil)
				if got.Status != stripe.PaymentIntentStatusSucceeded {
					t.Fatalf("status %s", got.Status)
				}
			}
		})
	}
}

func TestWebhookReorderReleasedWithoutSuccessor(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	f := webhookFake(t, rc)
	if err := f.InjectFault(Fault{Kind: WebhookReorder, Match: "payment_intent.succeeded", Delay: 150 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	mustPI(t, f.Client(), piParams(2000, "usd", "pm_card_visa", true))
	waitIdle(t, f)
	if el := time.Since(start); el < 150*time.Millisecond {
		t.Fatalf("held event delivered after %v", el)
	}
	if got := rc.types(); len(got) != 3 || got[2] != "payment_intent.succeeded" {
		t.Fatalf("delivered %v", got)
	}
}

func TestWebhookRetries(t *testing.T) {
	t.Parallel()
	t.Run("receiver answers 500 then 503", func(t *testing.T) {
		t.Parallel()
		rc := newReceiver(t, 500, 503)
		f := webhookFake(t, rc)
		start := time.Now()
		mustPI(t, f.Client(), piParams(2000, "usd", "pm_card_visa", true))
		waitIdle(t, f)
		if el := time.Since(start); el < webhookRetryBase {
			t.Fatalf("retried after %v, before the %v backoff", el, webhookRetryBase)
		}
		got := rc.types()
		if len(got) != 3 || rc.attempts != 5 {
			t.Fatalf("delivered %v in %d attempts", got, rc.attempts)
		}
		evs := f.Events()
		if s := evs[0].Attempts; len(s) != 2 || s[0].Status != 500 || s[1].Status != 200 || s[1].Time.Sub(s[0].Time) < webhookRetryBase {
			t.Fatalf("attempts of the first event %+v", s)
		}
		if s := evs[1].Attempts; len(s) != 2 || s[0].Status != 503 || s[1].Status != 200 {
			t.Fatalf("attempts of the second event %+v", s)
		}
		for _, ev := range evs {
			if ev.State != EventDelivered {
				t.Fatalf("state %+v", ev)
			}
		}
	})
	t.Run("gives up after WebhookMaxAge", func(t *testing.T) {
		t.Parallel()
		rc := newReceiver(t, 500, 500, 500, 500, 500, 500, 500, 500, 500)
		f := webhookFake(t, rc, Options{AsyncDelay: 20 * time.Millisecond, WebhookMaxAge: 700 * time.Millisecond})
		if _, err := f.Client().PaymentIntents.New(piParams(2000, "usd", "", false)); err != nil {
			t.Fatal(err)
		}
		waitIdle(t, f)
		evs := f.Events()
		if len(evs) != 1 || evs[0].State != EventFailed || len(evs[0].Attempts) != 2 {
			t.Fatalf("events %+v", evs)
		}
		// Stripe's delivery_success=false lists it.
		it := mirroredClient(t, f).Events.List(&stripe.EventListParams{DeliverySuccess: stripe.Bool(false)})
		n := 0
		for it.Next() {
			n++
		}
		if it.Err() != nil || n != 1 {
			t.Fatalf("delivery_success=false: %d %v", n, it.Err())
		}
	})
	t.Run("connection refused, then the endpoint moves", func(t *testing.T) {
		t.Parallel()
		dead := httptest.NewServer(http.NotFoundHandler())
		deadURL := dead.URL
		dead.Close()
		f := webhookFake(t, nil)
		if err := f.SetWebhookEndpoint(deadURL, testWebhookSecret); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Client().PaymentIntents.New(piParams(2000, "usd", "", false)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool { ev := f.Events(); return len(ev) == 1 && len(ev[0].Attempts) == 1 })
		if a := f.Events()[0].Attempts[0]; a.Status != 0 || a.Error == "" {
			t.Fatalf("attempt %+v", a)
		}
		rc := newReceiver(t)
		if err := f.SetWebhookEndpoint(rc.URL, rc.secret); err != nil {
			t.Fatal(err)
		}
		waitIdle(t, f)
		if got := rc.types(); len(got) != 1 || f.Events()[0].State != EventDelivered {
			t.Fatalf("delivered %v, events %+v", got, f.Events())
		}
	})
}

func TestWebhookEndpointControlAndEventLog(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	f := webhookFake(t, nil)
	sc := f.Client()
	// No endpoint: events are created but never sent.
	mustPI(t, sc, piParams(1000, "usd", "", false))
	st, body := controlDo(t, http.MethodPost, f.URL+"/_fake/webhook_endpoint", `{"url":"`+rc.URL+`","secret":"`+rc.secret+`"}`)
	if st != 200 || body["url"] != rc.URL || body["secret"] != rc.secret {
		t.Fatalf("POST endpoint: %d %v", st, body)
	}
	if st, body = controlDo(t, http.MethodGet, f.URL+"/_fake/webhook_endpoint", ""); st != 200 || body["url"] != rc.URL {
		t.Fatalf("GET endpoint: %d %v", st, body)
	}
	mustPI(t, sc, piParams(1000, "usd", "", false))
	waitIdle(t, f)
	if st, body = controlDo(t, http.MethodDelete, f.URL+"/_fake/webhook_endpoint", ""); st != 200 || body["url"] != "" {
		t.Fatalf("DELETE endpoint: %d %v", st, body)
	}
	mustPI(t, sc, piParams(1000, "usd", "", false))
	if got := rc.types(); len(got) != 1 {
		t.Fatalf("delivered %v", got)
	}
	st, body = controlDo(t, http.MethodGet, f.URL+"/_fake/events", "")
	evs, _ := body["events"].([]any)
	if st != 200 || len(evs) != 3 {
		t.Fatalf("GET events: %d %v", st, body)
	}
	states := []string{}
	for _, e := range evs {
		m := e.(map[string]any)
		states = append(states, m["state"].(string))
		if m["type"] != "payment_intent.created" || m["event"].(map[string]any)["object"] != "event" {
			t.Fatalf("event entry %v", m)
		}
	}
	if !equalStrings(states, []string{EventNoEndpoint, EventDelivered, EventNoEndpoint}) {
		t.Fatalf("states %v", states)
	}
	delivered := evs[1].(map[string]any)["attempts"].([]any)
	if len(delivered) != 1 || delivered[0].(map[string]any)["status"] != float64(200) {
		t.Fatalf("attempts %v", delivered)
	}
	for _, bad := range []string{`{"url":"ftp://x"}`, `{"secret":"s"}`, `{"url":`, `{"url":"http://127.0.0.1:1","colour":1}`} {
		if st, _ := controlDo(t, http.MethodPost, f.URL+"/_fake/webhook_endpoint", bad); st != 400 {
			t.Errorf("POST %s: %d, want 400", bad, st)
		}
	}
	// An endpoint without a secret gets one.
	if err := f.SetWebhookEndpoint(rc.URL, ""); err != nil {
		t.Fatal(err)
	}
	if _, s := f.WebhookEndpoint(); !strings.HasPrefix(s, "whsec_") {
		t.Fatalf("generated secret %q", s)
	}
}

func TestWebhookAndAPIFaultsAreSeparate(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	f := webhookFake(t, rc)
	sc := f.Client()
	// A catch-all webhook fault queued before a catch-all API fault.
	if err := f.InjectFault(Fault{Kind: WebhookDrop}); err != nil {
		t.Fatal(err)
	}
	if err := f.InjectFault(Fault{Kind: Status500}); err != nil {
		t.Fatal(err)
	}
	_, err := sc.PaymentIntents.New(piParams(1000, "usd", "", false))
	wantErr(t, err, 500, stripe.ErrorTypeAPI, "", "")
	if p := f.PendingFaults(); len(p) != 1 || p[0].Kind != WebhookDrop {
		t.Fatalf("the API request took a webhook fault: pending %+v", p)
	}
	mustPI(t, sc, piParams(1000, "usd", "", false)) // no API fault left; the event takes the webhook fault
	waitIdle(t, f)
	if len(f.PendingFaults()) != 0 || len(rc.received()) != 0 || f.Events()[0].State != EventDropped {
		t.Fatalf("pending %+v, received %v, events %+v", f.PendingFaults(), rc.types(), f.Events())
	}
	if log := f.Requests(); log[0].Fault != Status500 || log[1].Fault != "" {
		t.Fatalf("log %+v", log)
	}
}

func TestWebhookCloseStopsDeliveries(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	f := webhookFake(t, rc)
	if err := f.InjectFault(Fault{Kind: WebhookDelay, Delay: time.Hour, Times: 10}); err != nil {
		t.Fatal(err)
	}
	mustPI(t, f.Client(), piParams(1000, "usd", "", false))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := f.WaitWebhooksIdle(ctx); err == nil {
		t.Fatal("idle although a delivery is pending")
	}
	f.Close()
	waitIdle(t, f)
	mustPI(t, f.Client(), piParams(1000, "usd", "", false)) // still serves, sends nothing
	waitIdle(t, f)
	for _, ev := range f.Events() {
		if ev.State != EventCanceled {
			t.Fatalf("event %+v", ev)
		}
	}
	if len(rc.received()) != 0 {
		t.Fatal("delivered after Close")
	}
}

func TestStartHostsWebhooks(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	f := New(Options{WebhookURL: rc.URL, WebhookSecret: rc.secret})
	u, stop, err := f.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	mustPI(t, Client(u), piParams(1000, "usd", "pm_card_visa", true))
	waitIdle(t, f)
	if got := rc.types(); len(got) != 3 {
		t.Fatalf("delivered %v", got)
	}
	stop()
	f.Reset() // state can still be driven in process; nothing is sent any more
	f.mu.Lock()
	f.emitLocked(nil, "payment_intent.created", "pi_x", map[string]string{"id": "pi_x"}, nil)
	f.mu.Unlock()
	waitIdle(t, f)
	if evs := f.Events(); len(evs) != 1 || evs[0].State != EventCanceled || len(rc.received()) != 3 {
		t.Fatalf("after stop: %+v", evs)
	}
}
