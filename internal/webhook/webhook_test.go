package webhook_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/checkout-dev/checkout/localaws"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	stripewebhook "github.com/stripe/stripe-go/v76/webhook"

	"github.com/checkout-dev/checkout/internal/api"
	"github.com/checkout-dev/checkout/internal/checkout"
	"github.com/checkout-dev/checkout/internal/events/eventstest"
	"github.com/checkout-dev/checkout/internal/payment"
	"github.com/checkout-dev/checkout/internal/postgres"
	"github.com/checkout-dev/checkout/internal/webhook"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m, postgres.Migrate, localaws.Migrate) }

const secret = "whsec_test_0123456789abcdef"

type fixture struct {
	pool  *pgxpool.Pool
	h     *webhook.Handler
	sqs   eventstest.Target
	queue string
	logs  *bytes.Buffer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	pool := pgtest.NewPool(t)
	if _, err := pool.Exec(context.Background(), `INSERT INTO products (sku, name, amount, currency) VALUES ('TEE-1', 'T-shirt', 1999, 'USD')`); err != nil {
		t.Fatal(err)
	}
	f := &fixture{pool: pool, sqs: eventstest.Local(t, pool), logs: &bytes.Buffer{}}
	out, err := f.sqs.Client.CreateQueue(context.Background(), &awssqs.CreateQueueInput{QueueName: aws.String(eventstest.Uniq("payment-events"))})
	if err != nil {
		t.Fatal(err)
	}
	f.queue = aws.ToString(out.QueueUrl)
	log := slog.New(slog.NewJSONHandler(&lockedWriter{w: f.logs}, nil))
	f.h = webhook.New(pool, secret, webhook.SQSForwarder{Client: f.sqs.Client, QueueURL: f.queue}, log)
	return f
}

// lockedWriter serialises writes from concurrent handlers.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// notices drains the payment-events queue.
func (f *fixture) notices(t *testing.T) []payment.Notice {
	t.Helper()
	var out []payment.Notice
	for {
		res, err := f.sqs.Client.ReceiveMessage(context.Background(), &awssqs.ReceiveMessageInput{QueueUrl: aws.String(f.queue), MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Messages) == 0 {
			return out
		}
		for _, m := range res.Messages {
			n, err := payment.DecodeNotice([]byte(aws.ToString(m.Body)))
			if err != nil {
				t.Fatalf("queued message %s: %v", aws.ToString(m.Body), err)
			}
			out = append(out, n)
			if _, err := f.sqs.Client.DeleteMessage(context.Background(), &awssqs.DeleteMessageInput{QueueUrl: aws.String(f.queue), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// payment records a checkout with a charge row in status for intent.
func (f *fixture) payment(t *testing.T, status, intent string) uuid.UUID {
	t.Helper()
	ctx := context.Background()
	c, _, err := checkout.NewStore(f.pool).CreateOrGet(ctx, "buyer-"+uuid.NewString(), uuid.NewString(), // a buyer each: no customer limit applies
		checkout.Request{Items: []checkout.Item{{SKU: "TEE-1", Quantity: 1}}, Currency: "USD", PaymentMethod: "pm_card_visa"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.pool.Exec(ctx, `INSERT INTO payment_transactions (checkout_id, kind, idempotency_key, amount, currency, status, provider_payment_id)
		VALUES ($1, 'charge', $2, 1999, 'USD', $3, $4)`, c.ID, c.ID.String()+"-charge", status, intent); err != nil {
		t.Fatal(err)
	}
	return c.ID
}

func (f *fixture) status(t *testing.T, id uuid.UUID) string {
	t.Helper()
	var st string
	if err := f.pool.QueryRow(context.Background(), `SELECT status FROM payment_transactions WHERE checkout_id = $1 AND kind = 'charge'`, id).Scan(&st); err != nil {
		t.Fatal(err)
	}
	return st
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
	co := f.payment(t, "processing", "pi_sig")
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
	if st := f.status(t, co); st != "processing" {
		t.Fatalf("charge %s after bad signatures; want processing", st)
	}
	if n := f.count(t, `SELECT count(*) FROM audit_log`); n != 0 {
		t.Fatalf("%d audit rows; want 0", n)
	}
	if n := f.notices(t); len(n) != 0 {
		t.Fatalf("bad signatures forwarded %v", n)
	}
	// The header name is case-insensitive; a lower-case one verifies.
	r := delivery(payload)
	r.Headers["stripe-signature"] = r.Headers["Stripe-Signature"]
	delete(r.Headers, "Stripe-Signature")
	if status, body := f.send(t, r); status != 200 || body["received"] != true {
		t.Fatalf("lower-case header: %d %v", status, body)
	}
}

// The webhook trusts no status in an event: it forwards the PaymentIntent
// the event is about to reconciliation (which reads the gateway), records
// the event once, and changes no payment row itself. A payment_failed event
// arriving while the charge is still being confirmed therefore cannot mark
// a charge the gateway will confirm as failed.
func TestEventsAreForwardedNeverApplied(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	co := f.payment(t, "processing", "pi_1")
	cases := []struct {
		name, id, typ, object, intent string
	}{
		{"payment failed", "evt_1", "payment_intent.payment_failed",
			intent("pi_1", "requires_payment_method", `{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds"}`), "pi_1"},
		{"succeeded", "evt_2", "payment_intent.succeeded", intent("pi_1", "succeeded", ""), "pi_1"},
		{"charge refunded", "evt_3", "charge.refunded", `{"id":"ch_1","object":"charge","amount":1999,"amount_refunded":1999,"currency":"usd",
			"refunded":true,"payment_intent":"pi_1"}`, "pi_1"},
		{"refund failed", "evt_4", "refund.failed", `{"id":"re_1","object":"refund","amount":1999,"currency":"usd","status":"failed","payment_intent":"pi_1"}`, "pi_1"},
		{"expanded intent reference", "evt_5", "charge.succeeded", `{"id":"ch_2","object":"charge","payment_intent":{"id":"pi_1","object":"payment_intent"}}`, "pi_1"},
		{"not about a payment", "evt_6", "customer.created", `{"id":"cus_1","object":"customer"}`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := f.send(t, delivery(event(tc.id, tc.typ, tc.object)))
			if status != 200 || body["received"] != true || body["duplicate"] != nil {
				t.Fatalf("%d %v; want 200 received", status, body)
			}
			got := f.notices(t)
			if tc.intent == "" {
				if len(got) != 0 {
					t.Fatalf("forwarded %v; want nothing", got)
				}
			} else if len(got) != 1 || got[0].IntentID != tc.intent || got[0].EventID != tc.id || got[0].EventType != tc.typ {
				t.Fatalf("forwarded %+v; want one notice for %s from %s", got, tc.intent, tc.id)
			}
			// A repeated delivery: 200 duplicate, nothing forwarded again.
			status, body = f.send(t, delivery(event(tc.id, tc.typ, tc.object)))
			if status != 200 || body["duplicate"] != true {
				t.Fatalf("redelivery: %d %v; want 200 duplicate", status, body)
			}
			if got := f.notices(t); len(got) != 0 {
				t.Fatalf("redelivery forwarded %v", got)
			}
		})
	}
	if st := f.status(t, co); st != "processing" {
		t.Fatalf("the webhook changed the charge to %s; only reconciliation (from the gateway's truth) may", st)
	}
	if n := f.count(t, `SELECT count(*) FROM stripe_events`); n != len(cases) {
		t.Errorf("%d events recorded; want %d", n, len(cases))
	}
}

// When the queue cannot take the notice, the webhook answers 500 and
// records nothing, so Stripe's retry forwards the event again.
func TestForwardFailureIsRetriedByStripe(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	good := f.h
	f.h = webhook.New(f.pool, secret, webhook.SQSForwarder{Client: f.sqs.Client, QueueURL: f.queue + "-missing"}, slog.New(slog.DiscardHandler))
	payload := event("evt_retry", "payment_intent.succeeded", intent("pi_r", "succeeded", ""))
	if status, body := f.send(t, delivery(payload)); status != 500 || errCode(body) != "internal_error" {
		t.Fatalf("%d %v; want 500 internal_error", status, body)
	}
	if n := f.count(t, `SELECT count(*) FROM stripe_events`); n != 0 {
		t.Fatalf("%d events recorded after a failed forward; want 0", n)
	}
	f.h = good
	if status, body := f.send(t, delivery(payload)); status != 200 || body["duplicate"] != nil {
		t.Fatalf("retry: %d %v", status, body)
	}
	if got := f.notices(t); len(got) != 1 || got[0].IntentID != "pi_r" {
		t.Fatalf("forwarded %+v; want the retried event", got)
	}
}

func TestDisputeIsRecordedForFinance(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	co := f.payment(t, "succeeded", "pi_d")
	dispute := `{"id":"du_1","object":"dispute","amount":1999,"currency":"usd","reason":"fraudulent","status":"needs_response",
		"charge":"ch_d","payment_intent":"pi_d"}`
	if status, _ := f.send(t, delivery(event("evt_d", "charge.dispute.created", dispute))); status != 200 {
		t.Fatal(status)
	}
	var checkoutID uuid.UUID
	var amount int64
	var currency, reason, st string
	if err := f.pool.QueryRow(context.Background(), `SELECT checkout_id, amount, currency, reason, status FROM payment_disputes WHERE id = 'du_1'`).
		Scan(&checkoutID, &amount, &currency, &reason, &st); err != nil {
		t.Fatal(err)
	}
	if checkoutID != co || amount != 1999 || currency != "USD" || reason != "fraudulent" || st != "needs_response" {
		t.Fatalf("dispute %v %d %s %s %s", checkoutID, amount, currency, reason, st)
	}
	if n := f.count(t, `SELECT count(*) FROM audit_log WHERE checkout_id = $1 AND action = 'dispute_opened'`, co); n != 1 {
		t.Fatalf("%d dispute_opened audit rows; want 1", n)
	}
	if got := f.notices(t); len(got) != 1 || got[0].DisputeID != "du_1" || got[0].IntentID != "pi_d" {
		t.Fatalf("forwarded %+v; want the dispute for review", got)
	}
}

// jsonb cannot hold a NUL; a payload with \u0000 is still stored (with the
// NUL written out) instead of failing with 500 on every delivery.
func TestPayloadWithNULIsStored(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	payload := event("evt_nul", "customer.created", `{"id":"cus_nul","object":"customer","name":"a\u0000b"}`)
	if status, body := f.send(t, delivery(payload)); status != 200 || body["received"] != true {
		t.Fatalf("%d %v", status, body)
	}
	var name string
	if err := f.pool.QueryRow(context.Background(), `SELECT payload->'data'->'object'->>'name' FROM stripe_events WHERE id = 'evt_nul'`).Scan(&name); err != nil {
		t.Fatal(err)
	}
	if name != `a\u0000b` {
		t.Fatalf("stored name %q", name)
	}
	if status, body := f.send(t, delivery(payload)); status != 200 || body["duplicate"] != true {
		t.Fatalf("redelivery %d %v", status, body)
	}
}

// An endpoint not pinned to 2023-10-16 must not silently stop
// reconciliation: the event is handled (its payment forwarded, its version
// recorded) and the mismatch is logged at ERROR level.
func TestOtherAPIVersionIsHandledLoudly(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	payload := []byte(`{"id":"evt_v","object":"event","api_version":"2025-03-31.basil","type":"payment_intent.succeeded",
		"data":{"object":{"id":"pi_v","object":"payment_intent","status":"succeeded"}}}`)
	if status, body := f.send(t, delivery(payload)); status != 200 || body["received"] != true {
		t.Fatalf("%d %v; want 200", status, body)
	}
	if got := f.notices(t); len(got) != 1 || got[0].IntentID != "pi_v" {
		t.Fatalf("forwarded %+v", got)
	}
	var ver string
	if err := f.pool.QueryRow(context.Background(), `SELECT api_version FROM stripe_events WHERE id = 'evt_v'`).Scan(&ver); err != nil || ver != "2025-03-31.basil" {
		t.Fatalf("api_version %q %v", ver, err)
	}
	if !strings.Contains(f.logs.String(), `"level":"ERROR"`) || !strings.Contains(f.logs.String(), "2025-03-31.basil") {
		t.Fatalf("no ERROR log naming the version: %s", f.logs.String())
	}
}

func TestUnreadableDeliveries(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	otherVersion := []byte(`{"id":"evt_v","object":"event","api_version":"2020-08-27","type":"payment_intent.succeeded","data":{"object":{"id":"pi_x"}}}`)
	status, body := f.send(t, delivery([]byte(`{"object":"event","api_version":"2023-10-16","type":"x","data":{"object":{}}}`)))
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
	// Stripe always sends application/json (with a charset); anything else
	// is not a Stripe delivery, signed or not.
	for _, ct := range []string{"text/plain", "", "application/x-www-form-urlencoded", "application/jsonx"} {
		req = delivery(event("evt_ct", "customer.created", `{"id":"cus_3","object":"customer"}`))
		req.Headers["Content-Type"] = ct
		if status, body = f.send(t, req); status != 415 || errCode(body) != "unsupported_media_type" {
			t.Errorf("Content-Type %q: %d %v; want 415", ct, status, body)
		}
	}
	req = delivery(event("evt_charset", "customer.created", `{"id":"cus_4","object":"customer"}`))
	req.Headers["Content-Type"] = "application/json; charset=utf-8"
	if status, body = f.send(t, req); status != 200 {
		t.Errorf("application/json; charset=utf-8: %d %v; want 200", status, body)
	}
	if n := f.count(t, `SELECT count(*) FROM stripe_events WHERE id <> 'evt_charset'`); n != 0 {
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
