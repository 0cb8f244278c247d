package stack_test

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/checkout-dev/checkout/localaws/sam"
)

// The sample events under events/. Each must decode strictly (no unknown
// fields) into the aws-lambda-go type its function receives and agree with
// template.yaml as the SAM model reads it.

// Dev-only secrets the sample events are signed with: the Stripe webhook
// secret of events/stripe-webhook.json, and the HS256 secret of every Bearer
// token in events/ (set CHECKOUT_JWT_SECRET to it to replay them locally).
const (
	devWebhookSecret = "whsec_local_dev_webhook_secret"
	devJWTSecret     = "local-dev-jwt-secret-change-me"
)

// verifyDevToken checks an "Authorization: Bearer" value against devJWTSecret
// and returns its claims.
func verifyDevToken(t *testing.T, bearer string) jwt.MapClaims {
	t.Helper()
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(strings.TrimPrefix(bearer, "Bearer "), claims,
		func(*jwt.Token) (any, error) { return []byte(devJWTSecret), nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired())
	if err != nil {
		t.Fatalf("token %q: %v", bearer, err)
	}
	return claims
}

func decodeStrict(t *testing.T, name string, dst any) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "events", name))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return data
}

func TestAPIEvents(t *testing.T) {
	t.Parallel()
	tpl := loadRepoTemplate(t)
	files := map[string]string{ // file -> "METHOD resource"
		"api-post-checkout.json":       "POST /v1/checkouts",
		"api-get-checkout.json":        "GET /v1/checkouts/{id}",
		"api-get-order.json":           "GET /v1/orders/{id}",
		"api-get-product.json":         "GET /v1/products/{sku}",
		"api-put-admin-inventory.json": "PUT /v1/admin/inventory/{sku}",
		"api-get-admin-inventory.json": "GET /v1/admin/inventory/{sku}",
		"api-put-admin-product.json":   "PUT /v1/admin/products/{sku}",
		"api-health.json":              "GET /v1/health",
		"api-preflight-checkouts.json": "OPTIONS /v1/checkouts",
		"api-post-cart.json":           "POST /v1/carts",
		"api-get-cart.json":            "GET /v1/carts/{id}",
		"api-delete-cart.json":         "DELETE /v1/carts/{id}",
		"api-put-cart-item.json":       "PUT /v1/carts/{id}/items/{sku}",
		"stripe-webhook.json":          "POST /v1/webhooks/stripe",

		"api-get-admin-inventory-gate.json":    "GET /v1/admin/inventory/{sku}/gate",
		"api-put-admin-inventory-gate.json":    "PUT /v1/admin/inventory/{sku}/gate",
		"api-delete-admin-inventory-gate.json": "DELETE /v1/admin/inventory/{sku}/gate",
	}
	covered := map[string]bool{}
	for file, want := range files {
		t.Run(file, func(t *testing.T) {
			var ev events.APIGatewayProxyRequest
			decodeStrict(t, file, &ev)
			if got := ev.HTTPMethod + " " + ev.Resource; got != want {
				t.Fatalf("method/resource = %q, want %q", got, want)
			}
			var route *sam.Route
			for i := range tpl.Routes {
				if tpl.Routes[i].Method == ev.HTTPMethod && tpl.Routes[i].Path == ev.Resource {
					route = &tpl.Routes[i]
				}
			}
			if route == nil {
				t.Fatalf("template.yaml has no route %s", want)
			}
			params, ok := route.Match(ev.HTTPMethod, ev.Path)
			if !ok {
				t.Fatalf("path %s does not match %s", ev.Path, ev.Resource)
			}
			if len(params) == 0 {
				params = nil
			}
			if len(ev.PathParameters) != len(params) {
				t.Errorf("pathParameters = %v, want %v", ev.PathParameters, params)
			}
			for k, v := range params {
				if ev.PathParameters[k] != v {
					t.Errorf("pathParameters[%s] = %q, want %q", k, ev.PathParameters[k], v)
				}
			}
			rc := ev.RequestContext
			if rc.ResourcePath != ev.Resource || rc.HTTPMethod != ev.HTTPMethod || rc.Stage == "" || rc.Path != "/"+rc.Stage+ev.Path {
				t.Errorf("requestContext = %+v", rc)
			}
			// API key: present exactly when the route requires one.
			if route.ApiKeyRequired != (rc.Identity.APIKey != "") || ev.Headers["x-api-key"] != rc.Identity.APIKey {
				t.Errorf("apiKey %q / header %q, route requires key: %v", rc.Identity.APIKey, ev.Headers["x-api-key"], route.ApiKeyRequired)
			}
			// Authorizer context: present exactly when the route has one.
			if route.Authorizer == "" {
				if rc.Authorizer != nil {
					t.Errorf("route without authorizer has authorizer context %v", rc.Authorizer)
				}
			} else {
				sub, _ := rc.Authorizer["principalId"].(string)
				if sub == "" || rc.Authorizer["sub"] != sub {
					t.Errorf("authorizer context = %v", rc.Authorizer)
				}
				if _, ok := rc.Authorizer["scope"].(string); !ok {
					t.Errorf("authorizer context has no string scope: %v", rc.Authorizer)
				}
				if strings.Contains(ev.Resource, "/admin/") && rc.Authorizer["scope"] != "admin" {
					t.Errorf("admin route scope = %v", rc.Authorizer["scope"])
				}
				claims := verifyDevToken(t, ev.Headers["Authorization"])
				if claims["sub"] != sub {
					t.Errorf("token sub %v, authorizer principalId %q", claims["sub"], sub)
				}
				if sc, _ := claims["scope"].(string); sc != rc.Authorizer["scope"] {
					t.Errorf("token scope %q, authorizer scope %v", sc, rc.Authorizer["scope"])
				}
				z := tpl.Apis[route.Api].Authorizers[route.Authorizer]
				if !regexp.MustCompile(z.ValidationExpression).MatchString(ev.Headers[z.IdentityHeader]) {
					t.Errorf("%s header %q does not match %s", z.IdentityHeader, ev.Headers[z.IdentityHeader], z.ValidationExpression)
				}
			}
			for k, v := range ev.Headers {
				if mv := ev.MultiValueHeaders[k]; len(mv) != 1 || mv[0] != v {
					t.Errorf("multiValueHeaders[%s] = %v, headers = %q", k, mv, v)
				}
			}
			if ev.Body != "" && !json.Valid([]byte(ev.Body)) {
				t.Errorf("body is not JSON: %s", ev.Body)
			}
			if ev.HTTPMethod == "POST" && ev.Resource == "/v1/checkouts" && ev.Headers["Idempotency-Key"] == "" {
				t.Error("POST /v1/checkouts needs an Idempotency-Key header")
			}
		})
		covered[want] = true
	}
	for _, r := range tpl.Routes {
		if r.Method == "OPTIONS" && covered["OPTIONS /v1/checkouts"] {
			continue // every preflight is the same call; one sample shows it
		}
		if !covered[r.Method+" "+r.Path] {
			t.Errorf("route %s %s has no sample event", r.Method, r.Path)
		}
	}
}

func TestStripeWebhookEventSignature(t *testing.T) {
	t.Parallel()
	var ev events.APIGatewayProxyRequest
	decodeStrict(t, "stripe-webhook.json", &ev)
	sig := ev.Headers["Stripe-Signature"]
	se, err := webhook.ConstructEventIgnoringTolerance([]byte(ev.Body), sig, devWebhookSecret)
	if err != nil {
		t.Fatalf("signature does not verify with the dev secret: %v", err)
	}
	if se.Type != stripe.EventTypePaymentIntentSucceeded {
		t.Errorf("type = %s", se.Type)
	}
	var pi stripe.PaymentIntent
	if err := json.Unmarshal(se.Data.Raw, &pi); err != nil {
		t.Fatal(err)
	}
	if pi.Status != stripe.PaymentIntentStatusSucceeded || pi.Amount <= 0 || pi.Metadata["checkout_id"] == "" {
		t.Errorf("payment intent = %+v", pi)
	}
	// A tampered body must not verify.
	if _, err := webhook.ConstructEventIgnoringTolerance([]byte(strings.Replace(ev.Body, "4997", "1", 1)), sig, devWebhookSecret); err == nil {
		t.Error("tampered body verified")
	}
}

func TestAuthorizerEvent(t *testing.T) {
	t.Parallel()
	tpl := loadRepoTemplate(t)
	var ev events.APIGatewayCustomAuthorizerRequest
	decodeStrict(t, "authorizer.json", &ev)
	z := tpl.Apis["CheckoutApi"].Authorizers["JwtAuthorizer"]
	if ev.Type != z.PayloadType {
		t.Errorf("type = %q, want %q", ev.Type, z.PayloadType)
	}
	if !regexp.MustCompile(z.ValidationExpression).MatchString(ev.AuthorizationToken) {
		t.Errorf("token %q does not match %s", ev.AuthorizationToken, z.ValidationExpression)
	}
	if claims := verifyDevToken(t, ev.AuthorizationToken); claims["sub"] == "" {
		t.Errorf("claims = %v", claims)
	}
	if !regexp.MustCompile(`^arn:aws:execute-api:[a-z0-9-]+:\d{12}:[a-z0-9]+/[A-Za-z0-9_]+/[A-Z]+/.+$`).MatchString(ev.MethodArn) {
		t.Errorf("methodArn = %q", ev.MethodArn)
	}
}

// orderEvent is the post-order message schema (schema_version 1).
type orderEvent struct {
	SchemaVersion int       `json:"schema_version"`
	EventID       string    `json:"event_id"`
	Type          string    `json:"type"`
	OccurredAt    time.Time `json:"occurred_at"`
	Order         struct {
		OrderID    string `json:"order_id"`
		CheckoutID string `json:"checkout_id"`
		UserID     string `json:"user_id"`
		Amount     int64  `json:"amount"`
		Currency   string `json:"currency"`
		Items      []struct {
			SKU        string `json:"sku"`
			Name       string `json:"name"`
			Quantity   int64  `json:"quantity"`
			UnitAmount int64  `json:"unit_amount"`
		} `json:"items"`
	} `json:"order"`
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestSQSEvents(t *testing.T) {
	t.Parallel()
	tpl := loadRepoTemplate(t)
	for file, queueID := range map[string]string{
		"sqs-notification.json": "NotificationQueue",
		"sqs-shipping.json":     "ShippingQueue",
		"sqs-analytics.json":    "AnalyticsQueue",
	} {
		t.Run(file, func(t *testing.T) {
			var ev events.SQSEvent
			decodeStrict(t, file, &ev)
			if len(ev.Records) == 0 {
				t.Fatal("no records")
			}
			for _, r := range ev.Records {
				if !strings.HasSuffix(r.EventSourceARN, ":"+tpl.Queues[queueID].Name) || r.EventSource != "aws:sqs" {
					t.Errorf("source = %s %s, want queue %s", r.EventSource, r.EventSourceARN, tpl.Queues[queueID].Name)
				}
				sum := md5.Sum([]byte(r.Body))
				if r.Md5OfBody != hex.EncodeToString(sum[:]) {
					t.Errorf("md5OfBody does not match the body")
				}
				if !uuidRE.MatchString(r.MessageId) {
					t.Errorf("messageId %q is not a UUID", r.MessageId)
				}
				var oe orderEvent
				dec := json.NewDecoder(strings.NewReader(r.Body))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&oe); err != nil {
					t.Fatalf("body: %v", err)
				}
				if oe.SchemaVersion != 1 || oe.Type != "order.created" || oe.OccurredAt.IsZero() || len(oe.Order.Currency) != 3 {
					t.Errorf("event = %+v", oe)
				}
				for _, id := range []string{oe.EventID, oe.Order.OrderID, oe.Order.CheckoutID, oe.Order.UserID} {
					if !uuidRE.MatchString(id) {
						t.Errorf("%q is not a UUID", id)
					}
				}
				var total int64
				for _, it := range oe.Order.Items {
					if it.SKU == "" || it.Name == "" || it.Quantity <= 0 || it.UnitAmount <= 0 {
						t.Errorf("item = %+v", it)
					}
					total += it.Quantity * it.UnitAmount
				}
				if total != oe.Order.Amount || total == 0 {
					t.Errorf("amount %d, items sum to %d", oe.Order.Amount, total)
				}
			}
		})
	}
}

func TestSweeperEvent(t *testing.T) {
	t.Parallel()
	var ev events.EventBridgeEvent
	decodeStrict(t, "sweeper.json", &ev)
	if ev.DetailType != "Scheduled Event" || ev.Source != "aws.events" || ev.Time.IsZero() || len(ev.Resources) != 1 ||
		!strings.HasPrefix(ev.Resources[0], "arn:aws:events:") {
		t.Errorf("event = %+v", ev)
	}
}
