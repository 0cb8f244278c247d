package lambdatest

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stripe/stripe-go/v76/webhook"
)

// --- authorizer -------------------------------------------------------------

// sampleToken returns the bearer token of events/authorizer.json and its
// claims (read without verification: the function verifies it).
func sampleToken(t *testing.T, fx *fixture) (string, jwt.MapClaims) {
	t.Helper()
	var ev events.APIGatewayCustomAuthorizerRequest
	if err := json.Unmarshal(fx.event(t, "authorizer.json"), &ev); err != nil {
		t.Fatalf("decode events/authorizer.json: %v", err)
	}
	tok := strings.TrimPrefix(ev.AuthorizationToken, "Bearer ")
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(tok, claims); err != nil {
		t.Fatalf("events/authorizer.json: token: %v", err)
	}
	return tok, claims
}

// forgedAuthorizerEvent is events/authorizer.json with its token's claims
// signed by another key.
func forgedAuthorizerEvent(t *testing.T, fx *fixture) []byte {
	_, claims := sampleToken(t, fx)
	forged, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte("not-" + devJWTSecret))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.APIGatewayCustomAuthorizerRequest
	if err := json.Unmarshal(fx.event(t, "authorizer.json"), &ev); err != nil {
		t.Fatal(err)
	}
	ev.AuthorizationToken = "Bearer " + forged
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func checkAllowed(t *testing.T, fx *fixture, body []byte) {
	_, claims := sampleToken(t, fx)
	sub, _ := claims.GetSubject()
	var resp events.APIGatewayCustomAuthorizerResponse
	decode(t, body, &resp)
	if resp.PrincipalID != sub || sub == "" {
		t.Errorf("principalId = %q, want the token's sub %q", resp.PrincipalID, sub)
	}
	st := resp.PolicyDocument.Statement
	if len(st) == 0 || st[0].Effect != "Allow" || !slices.Contains(st[0].Action, "execute-api:Invoke") || len(st[0].Resource) == 0 ||
		!strings.HasPrefix(st[0].Resource[0], "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/dev/") {
		t.Errorf("policy = %+v, want Allow execute-api:Invoke on the stage", resp.PolicyDocument)
	}
}

func checkUnauthorized(t *testing.T, _ *fixture, body []byte) {
	var le lambdaError
	if err := json.Unmarshal(body, &le); err != nil || le.ErrorMessage != "Unauthorized" {
		t.Errorf("answer %s, want errorMessage \"Unauthorized\" (API Gateway's 401)", body)
	}
}

// --- api ------------------------------------------------------------------

// The product of events/api-get-product.json (the API samples' catalog,
// not the demo one), as the SQS samples describe it.
const (
	apiSKU    = "SKU-TSHIRT-M"
	apiName   = "T-shirt (M)"
	apiAmount = 1999
	apiStock  = 40
)

func seedAPIProduct(t *testing.T, fx *fixture) {
	ctx := context.Background()
	if _, err := fx.pool.Exec(ctx, `INSERT INTO products (sku, name, amount, currency) VALUES ($1, $2, $3, 'USD')`, apiSKU, apiName, apiAmount); err != nil {
		t.Fatalf("seed product: %v", err)
	}
	if _, err := fx.pool.Exec(ctx, `INSERT INTO inventory (sku, on_hand) VALUES ($1, $2)`, apiSKU, apiStock); err != nil {
		t.Fatalf("seed stock: %v", err)
	}
}

func proxyResponse(t *testing.T, body []byte, wantStatus int) events.APIGatewayProxyResponse {
	t.Helper()
	var resp events.APIGatewayProxyResponse
	decode(t, body, &resp)
	if resp.StatusCode != wantStatus {
		t.Fatalf("statusCode = %d, want %d; body %s", resp.StatusCode, wantStatus, resp.Body)
	}
	return resp
}

func checkHealth(t *testing.T, _ *fixture, body []byte) {
	resp := proxyResponse(t, body, 200)
	var h struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &h); err != nil || h.Status != "ok" {
		t.Errorf("body %q, want {\"status\":\"ok\"}", resp.Body)
	}
}

// checkPreflight: the sample preflight from https://shop.example.com, an
// origin CORS_ALLOWED_ORIGINS lists, is allowed to POST.
func checkPreflight(t *testing.T, _ *fixture, body []byte) {
	resp := proxyResponse(t, body, 204)
	if resp.Headers["Access-Control-Allow-Origin"] != "https://shop.example.com" || resp.Headers["Access-Control-Allow-Methods"] != "POST" ||
		!strings.Contains(resp.Headers["Access-Control-Allow-Headers"], "Idempotency-Key") {
		t.Errorf("preflight headers %v; want the origin allowed to POST with Idempotency-Key", resp.Headers)
	}
}

func checkProduct(t *testing.T, _ *fixture, body []byte) {
	resp := proxyResponse(t, body, 200)
	var p struct {
		SKU       string `json:"sku"`
		Name      string `json:"name"`
		Amount    int64  `json:"amount"`
		Currency  string `json:"currency"`
		Available *int   `json:"available"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &p); err != nil {
		t.Fatalf("body %q: %v", resp.Body, err)
	}
	if p.SKU != apiSKU || p.Name != apiName || p.Amount != apiAmount || p.Currency != "USD" || p.Available == nil || *p.Available != apiStock {
		t.Errorf("product %s, want %s %q %d USD with %d available", resp.Body, apiSKU, apiName, apiAmount, apiStock)
	}
}

// --- stripe-webhook ---------------------------------------------------------

// resignedWebhookEvent is events/stripe-webhook.json with its body signed
// now with the dev webhook secret: the sample's own signature carries a
// fixed timestamp that Stripe's 5-minute tolerance soon rejects.
func resignedWebhookEvent(t *testing.T, fx *fixture) []byte {
	var ev events.APIGatewayProxyRequest
	if err := json.Unmarshal(fx.event(t, "stripe-webhook.json"), &ev); err != nil {
		t.Fatalf("decode events/stripe-webhook.json: %v", err)
	}
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: []byte(ev.Body), Secret: devWebhookKey, Timestamp: time.Now()})
	ev.Headers["Stripe-Signature"] = signed.Header
	ev.MultiValueHeaders["Stripe-Signature"] = []string{signed.Header}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkWebhookForwarded: the event is acknowledged and its PaymentIntent
// sent to the payment-events queue for reconciliation.
func checkWebhookForwarded(t *testing.T, fx *fixture, body []byte) {
	var resp events.APIGatewayProxyResponse
	decode(t, body, &resp)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		t.Fatalf("statusCode = %d, want 2xx (the event acknowledged); body %s", resp.StatusCode, resp.Body)
	}
	_, url := fx.queue(t, "checkout-payment-events")
	got := fx.received(t, url)
	if len(got) != 1 || !strings.Contains(got[0], `"intent_id":"pi_3QabcdEFghijKLmn0123abcd"`) {
		t.Errorf("payment-events queue holds %q; want one notice for the sample's intent", got)
	}
}

// checkReconciled: the notice was processed (no batch item failure).
func checkReconciled(t *testing.T, _ *fixture, body []byte) {
	var resp events.SQSEventResponse
	decode(t, body, &resp)
	if len(resp.BatchItemFailures) != 0 {
		t.Errorf("batchItemFailures %+v; want none", resp.BatchItemFailures)
	}
}

// --- SQS consumers ----------------------------------------------------------

// sampleOrderEvent is the order event inside an SQS sample's first record.
type sampleOrderEvent struct {
	EventID string `json:"event_id"`
	Order   struct {
		OrderID string `json:"order_id"`
	} `json:"order"`
}

// checkConsumed checks a consumer's answer to an SQS sample: no batch item
// failure, the event claimed in processed_messages as done, then side.
func checkConsumed(consumer, sample string, side func(t *testing.T, fx *fixture, ev sampleOrderEvent)) func(*testing.T, *fixture, []byte) {
	return func(t *testing.T, fx *fixture, body []byte) {
		var in events.SQSEvent
		if err := json.Unmarshal(fx.event(t, sample), &in); err != nil || len(in.Records) == 0 {
			t.Fatalf("events/%s: %v", sample, err)
		}
		var ev sampleOrderEvent
		if err := json.Unmarshal([]byte(in.Records[0].Body), &ev); err != nil {
			t.Fatalf("events/%s: record body: %v", sample, err)
		}
		var resp events.SQSEventResponse
		decode(t, body, &resp)
		if len(resp.BatchItemFailures) != 0 {
			t.Fatalf("batchItemFailures = %+v, want none; body %s", resp.BatchItemFailures, body)
		}
		var outcome string
		fx.queryOne(t, `SELECT outcome FROM processed_messages WHERE consumer = $1 AND event_id = $2`,
			[]any{consumer, ev.EventID}, &outcome)
		if outcome != "done" {
			t.Errorf("processed_messages outcome %q, want done", outcome)
		}
		side(t, fx, ev)
	}
}

func checkOutboxEmail(t *testing.T, fx *fixture, ev sampleOrderEvent) {
	var orderID, subject string
	fx.queryOne(t, `SELECT order_id::text, subject FROM outbox_emails WHERE event_id = $1`, []any{ev.EventID}, &orderID, &subject)
	if orderID != ev.Order.OrderID || subject == "" {
		t.Errorf("outbox e-mail for order %s with subject %q, want order %s and a subject", orderID, subject, ev.Order.OrderID)
	}
}

func checkShipment(t *testing.T, fx *fixture, ev sampleOrderEvent) {
	var status, eventID string
	fx.queryOne(t, `SELECT status, event_id::text FROM shipments WHERE order_id = $1`, []any{ev.Order.OrderID}, &status, &eventID)
	if status != "requested" || eventID != ev.EventID {
		t.Errorf("shipment %s from event %s, want requested from %s", status, eventID, ev.EventID)
	}
}

func analyticsDir(fx *fixture) string { return filepath.Join(fx.dir, "analytics") }

func checkAnalyticsFile(t *testing.T, fx *fixture, ev sampleOrderEvent) {
	var found []string
	err := filepath.WalkDir(analyticsDir(fx), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte(`"event_id":"`+ev.EventID+`"`)) {
			found = append(found, p)
		}
		return err
	})
	if err != nil || len(found) != 1 {
		t.Errorf("batch files under ANALYTICS_DIR holding event %s: %v (err %v), want exactly one", ev.EventID, found, err)
	}
}
