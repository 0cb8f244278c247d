package webhook_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	stripewebhook "github.com/stripe/stripe-go/v76/webhook"

	"github.com/checkout-dev/checkout/internal/api"
	"github.com/checkout-dev/checkout/internal/checkout"
	"github.com/checkout-dev/checkout/internal/postgres"
	"github.com/checkout-dev/checkout/internal/webhook"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m, postgres.Migrate) }

const secret = "whsec_test_0123456789abcdef"

type fixture struct {
	pool *pgxpool.Pool
	h    *webhook.Handler
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	pool := pgtest.NewPool(t)
	if _, err := pool.Exec(context.Background(), `INSERT INTO products (sku, name, amount, currency) VALUES ('TEE-1', 'T-shirt', 1999, 'USD')`); err != nil {
		t.Fatal(err)
	}
	return &fixture{pool: pool, h: webhook.New(pool, secret, slog.New(slog.DiscardHandler))}
}

// payment records a checkout with a payment row of kind in status for intent.
func (f *fixture) payment(t *testing.T, kind, status, intent string) uuid.UUID {
	t.Helper()
	ctx := context.Background()
	c, _, err := checkout.NewStore(f.pool).CreateOrGet(ctx, "user-1", uuid.NewString(),
		checkout.Request{Items: []checkout.Item{{SKU: "TEE-1", Quantity: 1}}, Currency: "USD", PaymentMethod: "pm_card_visa"})
	if err != nil {
		t.Fatal(err)
	}
	chargeStatus := status
	if kind == "refund" {
		chargeStatus = "succeeded"
	}
	if _, err := f.pool.Exec(ctx, `INSERT INTO payment_transactions (checkout_id, kind, idempotency_key, amount, currency, status, provider_payment_id)
		VALUES ($1, 'charge', $2, 1999, 'USD', $3, $4)`, c.ID, c.ID.String()+"-charge", chargeStatus, intent); err != nil {
		t.Fatal(err)
	}
	if kind == "refund" {
		if _, err := f.pool.Exec(ctx, `INSERT INTO payment_transactions (checkout_id, kind, idempotency_key, amount, currency, status, provider_payment_id)
			VALUES ($1, 'refund', $2, 1999, 'USD', $3, $4)`, c.ID, c.ID.String()+"-refund", status, intent); err != nil {
			t.Fatal(err)
		}
	}
	return c.ID
}

func (f *fixture) row(t *testing.T, id uuid.UUID, kind string) (status, failureCode, refundID string) {
	t.Helper()
	err := f.pool.QueryRow(context.Background(), `SELECT status, coalesce(failure_code, ''), coalesce(provider_refund_id, '')
		FROM payment_transactions WHERE checkout_id = $1 AND kind = $2`, id, kind).Scan(&status, &failureCode, &refundID)
	if err != nil {
		t.Fatal(err)
	}
	return
}

func (f *fixture) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := f.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func event(id, typ, object string) []byte {
	return []byte(fmt.Sprintf(`{"id":%q,"object":"event","api_version":"2023-10-16","created":1795687200,"livemode":false,
		"pending_webhooks":1,"type":%q,"data":{"object":%s}}`, id, typ, object))
}

func intent(id, status, lastError string) string {
	s := fmt.Sprintf(`{"id":%q,"object":"payment_intent","amount":1999,"currency":"usd","status":%q`, id, status)
	if lastError != "" {
		s += `,"last_payment_error":` + lastError
	}
	return s + "}"
}

// delivery is a webhook request signed like Stripe signs it.
func delivery(payload []byte, opts ...func(*stripewebhook.UnsignedPayload)) events.APIGatewayProxyRequest {
	u := &stripewebhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: time.Now()}
	for _, o := range opts {
		o(u)
	}
	signed := stripewebhook.GenerateTestSignedPayload(u)
	return events.APIGatewayProxyRequest{HTTPMethod: "POST", Path: webhook.Path, Resource: webhook.Path, Body: string(payload),
		Headers: map[string]string{"Content-Type": "application/json", "Stripe-Signature": signed.Header}}
}

func (f *fixture) send(t *testing.T, req events.APIGatewayProxyRequest) (int, map[string]any) {
	t.Helper()
	resp, err := f.h.Handle(context.Background(), req)
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if resp.Headers["Content-Type"] != "application/json" {
		t.Errorf("Content-Type %q", resp.Headers["Content-Type"])
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
		t.Fatalf("body %q: %v", resp.Body, err)
	}
	documented := false
	for _, s := range webhook.Statuses {
		documented = documented || s == resp.StatusCode
	}
	if !documented && resp.StatusCode != 405 {
		t.Errorf("status %d is not in webhook.Statuses", resp.StatusCode)
	}
	return resp.StatusCode, body
}

func errCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func TestSignatureIsRequired(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	co := f.payment(t, "charge", "processing", "pi_sig")
	payload := event("evt_sig", "payment_intent.succeeded", intent("pi_sig", "succeeded", ""))
	cases := []struct {
		name string
		req  events.APIGatewayProxyRequest
	}{
		{"missing header", func() events.APIGatewayProxyRequest {
			r := delivery(payload)
			delete(r.Headers, "Stripe-Signature")
			return r
		}()},
		{"other secret", delivery(payload, func(u *stripewebhook.UnsignedPayload) { u.Secret = "whsec_other" })},
		{"tampered payload", func() events.APIGatewayProxyRequest {
			r := delivery(payload)
			r.Body = strings.Replace(r.Body, "pi_sig", "pi_sig", 1) + " "
			return r
		}()},
		{"stale timestamp", delivery(payload, func(u *stripewebhook.UnsignedPayload) { u.Timestamp = time.Now().Add(-301 * time.Second) })},
		{"garbage header", func() events.APIGatewayProxyRequest {
			r := delivery(payload)
			r.Headers["Stripe-Signature"] = "nonsense"
			return r
		}()},
		{"v0 scheme only", delivery(payload, func(u *stripewebhook.UnsignedPayload) { u.Scheme = "v0" })},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := f.send(t, tc.req)
			if status != 400 || errCode(body) != "invalid_signature" {
				t.Fatalf("%d %v; want 400 invalid_signature", status, body)
			}
		})
	}
	if n := f.count(t, `SELECT count(*) FROM stripe_events`); n != 0 {
		t.Fatalf("%d events recorded from bad signatures; want 0", n)
	}
	if st, _, _ := f.row(t, co, "charge"); st != "processing" {
		t.Fatalf("charge %s after bad signatures; want processing", st)
	}
	if n := f.count(t, `SELECT count(*) FROM audit_log`); n != 0 {
		t.Fatalf("%d audit rows; want 0", n)
	}
	// The header name is case-insensitive; a lower-case one verifies.
	r := delivery(payload)
	r.Headers["stripe-signature"] = r.Headers["Stripe-Signature"]
	delete(r.Headers, "Stripe-Signature")
	if status, body := f.send(t, r); status != 200 || body["received"] != true {
		t.Fatalf("lower-case header: %d %v", status, body)
	}
}

func TestReconciliation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	processing := f.payment(t, "charge", "processing", "pi_ok")
	initiated := f.payment(t, "charge", "initiated", "pi_fail")
	declined := f.payment(t, "charge", "processing", "pi_decl")
	done := f.payment(t, "charge", "failed", "pi_done")
	refund := f.payment(t, "refund", "processing", "pi_ref")

	type want struct {
		kind, status, code, refundID string
	}
	cases := []struct {
		name    string
		payload []byte
		co      uuid.UUID
		want    want
		audits  int // audit rows for the checkout after the event
		action  string
	}{
		{"succeeded", event("evt_1", "payment_intent.succeeded", intent("pi_ok", "succeeded", "")), processing,
			want{"charge", "succeeded", "", ""}, 1, "charge_succeeded"},
		{"failed with an error code", event("evt_2", "payment_intent.payment_failed",
			intent("pi_fail", "requires_payment_method", `{"type":"card_error","code":"expired_card","message":"expired"}`)), initiated,
			want{"charge", "failed", "expired_card", ""}, 1, "charge_failed"},
		{"failed with a decline code", event("evt_3", "payment_intent.payment_failed",
			intent("pi_decl", "requires_payment_method", `{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds"}`)), declined,
			want{"charge", "failed", "insufficient_funds", ""}, 1, "charge_failed"},
		{"already final: ignored", event("evt_4", "payment_intent.succeeded", intent("pi_done", "succeeded", "")), done,
			want{"charge", "failed", "", ""}, 0, ""},
		{"refunded", event("evt_5", "charge.refunded", `{"id":"ch_1","object":"charge","amount":1999,"amount_refunded":1999,"currency":"usd",
			"refunded":true,"payment_intent":"pi_ref","refunds":{"object":"list","data":[{"id":"re_1","object":"refund","amount":1999,"status":"succeeded"}]}}`), refund,
			want{"refund", "succeeded", "", "re_1"}, 1, "refund_succeeded"},
		{"unknown intent: ignored", event("evt_6", "payment_intent.succeeded", intent("pi_unknown", "succeeded", "")), uuid.Nil, want{}, 0, ""},
		{"other type: ignored", event("evt_7", "customer.created", `{"id":"cus_1","object":"customer"}`), uuid.Nil, want{}, 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := f.send(t, delivery(tc.payload))
			if status != 200 || body["received"] != true || body["duplicate"] != nil {
				t.Fatalf("%d %v; want 200 received", status, body)
			}
			if tc.co != uuid.Nil {
				st, code, ref := f.row(t, tc.co, tc.want.kind)
				if st != tc.want.status || code != tc.want.code || ref != tc.want.refundID {
					t.Fatalf("%s row: %s %q %q; want %+v", tc.want.kind, st, code, ref, tc.want)
				}
				if n := f.count(t, `SELECT count(*) FROM audit_log WHERE checkout_id = $1`, tc.co); n != tc.audits {
					t.Fatalf("%d audit rows; want %d", n, tc.audits)
				}
				if tc.action != "" {
					if n := f.count(t, `SELECT count(*) FROM audit_log WHERE checkout_id = $1 AND action = $2 AND actor = 'stripe_webhook'`, tc.co, tc.action); n != 1 {
						t.Fatalf("no %s audit row", tc.action)
					}
				}
			}
			// A repeated delivery of the same event: 200, no effect.
			before := f.count(t, `SELECT count(*) FROM audit_log`)
			status, body = f.send(t, delivery(tc.payload))
			if status != 200 || body["duplicate"] != true {
				t.Fatalf("redelivery: %d %v; want 200 duplicate", status, body)
			}
			if after := f.count(t, `SELECT count(*) FROM audit_log`); after != before {
				t.Fatalf("redelivery wrote %d audit rows", after-before)
			}
		})
	}
	if st, _, _ := f.row(t, refund, "charge"); st != "refunded" {
		t.Errorf("refunded charge is %s; want refunded", st)
	}
	if n := f.count(t, `SELECT count(*) FROM stripe_events`); n != len(cases) {
		t.Errorf("%d events recorded; want %d", n, len(cases))
	}
	// A later success for a failed charge changes nothing (it is final).
	if status, _ := f.send(t, delivery(event("evt_8", "payment_intent.succeeded", intent("pi_fail", "succeeded", "")))); status != 200 {
		t.Fatal(status)
	}
	if st, code, _ := f.row(t, initiated, "charge"); st != "failed" || code != "expired_card" {
		t.Errorf("failed charge became %s %s", st, code)
	}
}

func TestUnreadableDeliveries(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	otherVersion := []byte(`{"id":"evt_v","object":"event","api_version":"2020-08-27","type":"payment_intent.succeeded","data":{"object":{"id":"pi_x"}}}`)
	status, body := f.send(t, delivery(otherVersion))
	if status != 400 || errCode(body) != "invalid_request" {
		t.Errorf("other API version: %d %v", status, body)
	}
	status, body = f.send(t, delivery([]byte(`{"object":"event","api_version":"2023-10-16","type":"x","data":{"object":{}}}`)))
	if status != 400 || errCode(body) != "invalid_request" {
		t.Errorf("no id: %d %v", status, body)
	}
	big := event("evt_big", "customer.created", `{"id":"cus_1","pad":"`+strings.Repeat("x", webhook.MaxBodyBytes)+`"}`)
	if status, body = f.send(t, delivery(big)); status != 413 || errCode(body) != "payload_too_large" {
		t.Errorf("big: %d %v", status, body)
	}
	req := delivery(event("evt_get", "customer.created", `{}`))
	req.HTTPMethod = "GET"
	if status, body = f.send(t, req); status != 405 || errCode(body) != "method_not_allowed" {
		t.Errorf("GET: %d %v", status, body)
	}
	if n := f.count(t, `SELECT count(*) FROM stripe_events`); n != 0 {
		t.Errorf("%d events recorded; want 0", n)
	}
	// A base64-encoded body (API Gateway binary mode) verifies on its bytes.
	payload := event("evt_b64", "customer.created", `{"id":"cus_2","object":"customer"}`)
	req = delivery(payload)
	req.Body, req.IsBase64Encoded = base64.StdEncoding.EncodeToString(payload), true
	if status, body = f.send(t, req); status != 200 || body["received"] != true {
		t.Errorf("base64: %d %v", status, body)
	}
	// The error shape is the API's.
	var eb api.ErrorBody
	resp, _ := f.h.Handle(context.Background(), delivery(otherVersion, func(u *stripewebhook.UnsignedPayload) { u.Secret = "x" }))
	if err := json.Unmarshal([]byte(resp.Body), &eb); err != nil || eb.Error.Code != "invalid_signature" || eb.Error.Message == "" {
		t.Errorf("error body %s", resp.Body)
	}
}
