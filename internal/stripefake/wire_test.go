package stripefake

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stripe/stripe-go/v76"
)

type rawResp struct {
	status int
	header http.Header
	body   map[string]any
}

func rawDo(t *testing.T, method, u, auth string, form url.Values, hdr map[string]string) rawResp {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("body is not JSON: %s", b)
	}
	return rawResp{resp.StatusCode, resp.Header, m}
}

func TestAuthRequired(t *testing.T) {
	t.Parallel()
	f, _ := newTest(t)
	cases := []struct{ name, auth string }{
		{"missing", ""},
		{"live key", "Bearer sk_live_abcdefghijklmnop"},
		{"garbage", "Bearer nope"},
		{"wrong scheme", "Token sk_test_abc"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := rawDo(t, http.MethodPost, f.URL+"/v1/payment_intents", tc.auth, url.Values{"amount": {"100"}, "currency": {"usd"}}, nil)
			e, _ := r.body["error"].(map[string]any)
			if r.status != 401 || e["type"] != "invalid_request_error" || e["message"] == "" || !strings.HasPrefix(r.header.Get("Request-Id"), "req_") {
				t.Fatalf("got %d %v %v", r.status, r.body, r.header)
			}
		})
	}
	// Through stripe-go with a wrong key.
	_, err := ClientWith(f.URL, "sk_live_1234567890abcdef", nil).PaymentIntents.Get("pi_x", nil)
	wantErr(t, err, 401, stripe.ErrorTypeInvalidRequest, "", "")
	// A strict fake accepts only its key.
	strict := StartTest(t, Options{APIKey: "sk_test_only_this"})
	_, err = Client(strict.URL).PaymentIntents.Get("pi_x", nil)
	wantErr(t, err, 401, stripe.ErrorTypeInvalidRequest, "", "")
	_, err = ClientWith(strict.URL, "sk_test_only_this", nil).PaymentIntents.Get("pi_x", nil)
	wantErr(t, err, 404, stripe.ErrorTypeInvalidRequest, "resource_missing", "intent")
	if len(f.PaymentIntents()) != 0 {
		t.Fatal("unauthenticated request did work")
	}
}

func TestRawWireFormat(t *testing.T) {
	t.Parallel()
	f, _ := newTest(t)
	// Stripe bracket nesting, "expand[]" style, curl-style basic auth.
	form := url.Values{
		"amount": {"1999"}, "currency": {"USD"}, "payment_method": {"pm_card_visa"}, "confirm": {"true"},
		"metadata[checkout_id]": {"co_1"}, "metadata[tenant]": {"t9"}, "expand[]": {"latest_charge"},
		"payment_method_types[0]": {"card"},
	}
	req, _ := http.NewRequest(http.MethodPost, f.URL+"/v1/payment_intents", strings.NewReader(form.Encode()))
	req.SetBasicAuth("sk_test_curl", "")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Idempotency-Key", "raw-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var pi map[string]any
	if err := json.Unmarshal(b, &pi); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	if !strings.HasPrefix(resp.Header.Get("Request-Id"), "req_") || resp.Header.Get("Idempotency-Key") != "raw-1" ||
		resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("headers %v", resp.Header)
	}
	md := pi["metadata"].(map[string]any)
	if pi["object"] != "payment_intent" || pi["currency"] != "usd" || pi["livemode"] != false || pi["status"] != "succeeded" ||
		md["checkout_id"] != "co_1" || md["tenant"] != "t9" || !strings.HasPrefix(pi["id"].(string), "pi_") {
		t.Fatalf("pi %s", b)
	}
	ch, ok := pi["latest_charge"].(map[string]any)
	if !ok || ch["object"] != "charge" || !strings.HasPrefix(ch["id"].(string), "ch_") {
		t.Fatalf("latest_charge not expanded: %v", pi["latest_charge"])
	}
	// Stripe sends nullable fields as explicit nulls.
	for _, k := range []string{"canceled_at", "cancellation_reason", "last_payment_error", "next_action", "description", "customer"} {
		if v, present := pi[k]; !present || v != nil {
			t.Errorf("%s = %v (present %v), want null", k, v, present)
		}
	}
	// Unknown URL and unknown nested-looking parameter.
	r := rawDo(t, http.MethodPost, f.URL+"/v1/charges_and_more", "Bearer sk_test_x", nil, nil)
	if e := r.body["error"].(map[string]any); r.status != 404 || !strings.Contains(e["message"].(string), "Unrecognized request URL") {
		t.Fatalf("unknown url %d %v", r.status, r.body)
	}
	r = rawDo(t, http.MethodPost, f.URL+"/v1/payment_intents", "Bearer sk_test_x",
		url.Values{"amount": {"100"}, "currency": {"usd"}, "shipping_speed[fast]": {"yes"}}, nil)
	if e := r.body["error"].(map[string]any); r.status != 400 || e["code"] != "parameter_unknown" || e["param"] != "shipping_speed" {
		t.Fatalf("unknown param %d %v", r.status, r.body)
	}
	if e := r.body["error"].(map[string]any); !strings.HasPrefix(r.header.Get("Request-Id"), "req_") || e["type"] != "invalid_request_error" {
		t.Fatalf("error headers/body %v %v", r.header, r.body)
	}
}

func TestResetAndRequestLog(t *testing.T) {
	t.Parallel()
	f, sc := newTest(t)
	p := piParams(1000, "usd", "pm_card_visa", true)
	p.SetIdempotencyKey("log-key")
	pi, err := sc.PaymentIntents.New(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.PaymentIntents.Get(pi.ID, nil); err != nil {
		t.Fatal(err)
	}
	log := f.Requests()
	if len(log) != 2 || log[0].Method != "POST" || log[0].Path != "/v1/payment_intents" || log[0].IdempotencyKey != "log-key" ||
		log[0].Status != 200 || log[1].Method != "GET" || log[1].IdempotencyKey != "" || log[1].Path != "/v1/payment_intents/"+pi.ID {
		t.Fatalf("log %+v", log)
	}
	f.Reset()
	if len(f.PaymentIntents())+len(f.Charges())+len(f.Refunds())+len(f.Requests()) != 0 {
		t.Fatal("Reset left state")
	}
	if _, ok := f.IdempotentResponse("", "log-key"); ok {
		t.Fatal("Reset kept idempotency keys")
	}
	_, err = sc.PaymentIntents.Get(pi.ID, nil)
	wantErr(t, err, 404, stripe.ErrorTypeInvalidRequest, "resource_missing", "intent")
}

func TestStartLoopback(t *testing.T) {
	t.Parallel()
	f := New(Options{})
	u, stop, err := f.Start("")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if !strings.HasPrefix(u, "http://127.0.0.1:") || f.URL != u {
		t.Fatalf("url %q / %q", u, f.URL)
	}
	pi, err := Client(u).PaymentIntents.New(piParams(1000, "usd", "pm_card_visa", true))
	if err != nil || pi.Status != stripe.PaymentIntentStatusSucceeded {
		t.Fatalf("%v %+v", err, pi)
	}
	// Control: finish a 3DS step over HTTP as a person would with curl.
	pi, err = Client(u).PaymentIntents.New(piParams(1000, "usd", "pm_card_authenticationRequired", true))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(u+"/_fake/payment_intents/"+pi.ID+"/authenticate?result=success", "", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("authenticate: %v %v", err, resp)
	}
	resp.Body.Close()
	if got, _ := f.PaymentIntent(pi.ID); got.Status != "succeeded" {
		t.Fatalf("after authenticate %+v", got)
	}
	stop()
	stop() // idempotent
	if _, err := http.Get(u + "/v1/payment_intents/x"); err == nil {
		t.Fatal("server still answering after stop")
	}
}
