package lambdatest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/internal/saga"
)

// functionCase says how to run one function: what its database must hold
// first, the environment it needs beyond fixture.env, and the invocations
// (in order, on one warm container) with their checks.
type functionCase struct {
	prepare func(t *testing.T, fx *fixture)
	env     func(fx *fixture) map[string]string
	invokes []invocation
}

// invocation is one Invoke API call. The payload is events/<event>, or
// payload's result when set. check gets the response body of an HTTP 200.
type invocation struct {
	name    string
	event   string
	payload func(t *testing.T, fx *fixture) []byte
	check   func(t *testing.T, fx *fixture, body []byte)
}

// cases lists a case per function folder. A functions/<name> with a
// main.go and no entry here fails TestLambdaBinaries.
func cases() map[string]functionCase {
	return map[string]functionCase{
		"migrate": migrateCase(),
		"starter": starterCase(),
		string(saga.FnReserveStock): {
			prepare: func(t *testing.T, fx *fixture) { fx.sagaUpTo(t) },
			invokes: []invocation{{name: "sample", event: "reserve-stock.json", check: checkReserved}, malformedStep()},
		},
		string(saga.FnChargePayment): {
			prepare: func(t *testing.T, fx *fixture) { fx.sagaUpTo(t, saga.FnReserveStock) },
			invokes: []invocation{{name: "sample", event: "charge-payment.json", check: checkCharged}, malformedStep()},
		},
		string(saga.FnCreateOrder): {
			prepare: func(t *testing.T, fx *fixture) { fx.sagaUpTo(t, saga.FnReserveStock, saga.FnChargePayment) },
			invokes: []invocation{{name: "sample", event: "create-order.json", check: checkOrdered}, malformedStep()},
		},
		string(saga.FnReleaseStock): {
			prepare: func(t *testing.T, fx *fixture) { fx.sagaUpTo(t, saga.FnReserveStock) },
			invokes: []invocation{{name: "sample", event: "release-stock.json", check: checkReleased}, malformedStep()},
		},
		string(saga.FnAwaitAuthentication): {
			prepare: prepareAwait,
			env: func(*fixture) map[string]string {
				return map[string]string{"AWS_ENDPOINT_URL_SFN": "http://127.0.0.1:1"} // nothing is decided yet: never called
			},
			invokes: []invocation{{name: "sample", event: "await-authentication.json", check: checkAwaiting}},
		},
		string(saga.FnCapturePayment): {
			prepare: func(t *testing.T, fx *fixture) {
				fx.sagaUpTo(t, saga.FnReserveStock, saga.FnChargePayment, saga.FnCreateOrder)
			},
			invokes: []invocation{{name: "sample", event: "capture-payment.json", check: checkCaptured}, malformedStep()},
		},
		string(saga.FnRefundPayment): {
			// The money taken (captured) and no order: a refund.
			prepare: func(t *testing.T, fx *fixture) {
				fx.sagaUpTo(t, saga.FnReserveStock, saga.FnChargePayment, saga.FnCapturePayment)
			},
			invokes: []invocation{{name: "sample", event: "refund-payment.json", check: checkRefunded}, malformedStep()},
		},
		string(saga.FnMarkOutcome): {
			prepare: func(t *testing.T, fx *fixture) { fx.sagaUpTo(t, saga.FnReserveStock) },
			invokes: []invocation{{name: "sample", event: "mark-outcome.json", check: checkMarked}, malformedStep()},
		},
		"authorizer": {
			invokes: []invocation{
				{name: "sample", event: "authorizer.json", check: checkAllowed},
				{name: "forged token", payload: forgedAuthorizerEvent, check: checkUnauthorized},
			},
		},
		"sweeper": {
			prepare: func(t *testing.T, fx *fixture) { fx.expiredReservation(t) },
			invokes: []invocation{{name: "sample", event: "sweeper.json", check: checkSwept}},
		},
		"reconciliation": {
			prepare: prepareStuck,
			env: func(fx *fixture) map[string]string {
				endpoint, url := fx.queue(fx.t, "checkout-manual-review")
				return map[string]string{"MANUAL_REVIEW_QUEUE_URL": url, "AWS_ENDPOINT_URL_SQS": endpoint,
					"AWS_ENDPOINT_URL_SFN": "http://127.0.0.1:1", "RECONCILE_STUCK_AFTER": "15m"}
			},
			invokes: []invocation{{name: "sample", event: "reconciliation.json", check: checkSweptStuck}},
		},
		"api": {
			prepare: seedAPIProduct,
			env: func(*fixture) map[string]string {
				return map[string]string{
					"STATE_MACHINE_ARN":    "arn:aws:states:us-east-1:123456789012:stateMachine:checkout",
					"AWS_ENDPOINT_URL_SFN": "http://127.0.0.1:1",
					"CORS_ALLOWED_ORIGINS": "https://shop.example.com",
				}
			},
			invokes: []invocation{
				{name: "health", event: "api-health.json", check: checkHealth},
				{name: "get product", event: "api-get-product.json", check: checkProduct},
				{name: "CORS preflight", event: "api-preflight-checkouts.json", check: checkPreflight},
			},
		},
		"stripe-webhook": {
			env: func(fx *fixture) map[string]string {
				endpoint, url := fx.queue(fx.t, "checkout-payment-events")
				return map[string]string{"STRIPE_WEBHOOK_SECRET": devWebhookKey, "PAYMENT_EVENTS_QUEUE_URL": url,
					"AWS_ENDPOINT_URL_SQS": endpoint}
			},
			invokes: []invocation{{name: "sample (re-signed now)", payload: resignedWebhookEvent, check: checkWebhookForwarded}},
		},
		"payment-reconciler": {
			prepare: func(t *testing.T, fx *fixture) { fx.sagaUpTo(t, saga.FnReserveStock, saga.FnChargePayment) },
			env: func(fx *fixture) map[string]string {
				endpoint, url := fx.queue(fx.t, "checkout-manual-review")
				_, events := fx.queue(fx.t, "checkout-payment-events")
				return map[string]string{"MANUAL_REVIEW_QUEUE_URL": url, "PAYMENT_EVENTS_QUEUE_URL": events, "AWS_ENDPOINT_URL_SQS": endpoint}
			},
			invokes: []invocation{{name: "sample", event: "payment-reconciler.json", check: checkReconciled}},
		},
		"notification": {
			env: func(*fixture) map[string]string { return map[string]string{"NOTIFY_SENDER": "outbox"} },
			invokes: []invocation{{name: "sample", event: "sqs-notification.json",
				check: checkConsumed("notification", "sqs-notification.json", checkOutboxEmail)}},
		},
		"shipping": {
			invokes: []invocation{{name: "sample", event: "sqs-shipping.json",
				check: checkConsumed("shipping", "sqs-shipping.json", checkShipment)}},
		},
		"analytics": {
			env: func(fx *fixture) map[string]string { return map[string]string{"ANALYTICS_DIR": analyticsDir(fx)} },
			invokes: []invocation{{name: "sample", event: "sqs-analytics.json",
				check: checkConsumed("analytics", "sqs-analytics.json", checkAnalyticsFile)}},
		},
	}
}

// --- helpers shared by the checks -----------------------------------------

// lambdaError is the body a Go Lambda answers when its handler fails.
type lambdaError struct {
	ErrorType    string `json:"errorType"`
	ErrorMessage string `json:"errorMessage"`
}

// decode unmarshals a successful answer into v, failing with the body when
// it is a Lambda error instead.
func decode(t *testing.T, body []byte, v any) {
	t.Helper()
	var le lambdaError
	if json.Unmarshal(body, &le) == nil && le.ErrorType != "" {
		t.Fatalf("the function failed: errorType %q, errorMessage %q", le.ErrorType, le.ErrorMessage)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("decode the answer: %v\nbody: %s", err, body)
	}
}

func decodeState(t *testing.T, body []byte) saga.State {
	t.Helper()
	var st saga.State
	decode(t, body, &st)
	if st.CheckoutID != sagaCheckoutID {
		t.Errorf("checkout_id = %q, want %q", st.CheckoutID, sagaCheckoutID)
	}
	return st
}

// malformedStep sends a saga step a checkout_id of the wrong JSON type: the
// step must fail with errorType InvalidRequest, the Go type name of
// saga.InvalidRequest that the state machine's Catch matches.
func malformedStep() invocation {
	return invocation{
		name:    "malformed payload",
		payload: func(*testing.T, *fixture) []byte { return []byte(`{"checkout_id": 42}`) },
		check: func(t *testing.T, _ *fixture, body []byte) {
			var le lambdaError
			if err := json.Unmarshal(body, &le); err != nil {
				t.Fatalf("decode: %v\nbody: %s", err, body)
			}
			if le.ErrorType != "InvalidRequest" {
				t.Errorf("errorType = %q, want InvalidRequest (body %s)", le.ErrorType, body)
			}
			if !strings.Contains(le.ErrorMessage, "checkout_id") {
				t.Errorf("errorMessage = %q, want it to name checkout_id", le.ErrorMessage)
			}
		},
	}
}

// --- saga steps -----------------------------------------------------------

func checkReserved(t *testing.T, fx *fixture, body []byte) {
	st := decodeState(t, body)
	if st.Reservation == nil {
		t.Fatalf("no reservation in the answer: %s", body)
	}
	now := time.Now()
	if exp := st.Reservation.ExpiresAt; exp.Before(now.Add(10*time.Minute)) || exp.After(now.Add(16*time.Minute)) {
		t.Errorf("reservation.expires_at = %s, want about now + RESERVATION_TTL (15m)", exp)
	}
	var status string
	var reserved, heldTee int
	fx.queryOne(t, `SELECT status FROM checkouts WHERE id = $1`, []any{sagaCheckoutID}, &status)
	fx.queryOne(t, `SELECT count(*) FROM reservations WHERE checkout_id = $1 AND status = 'reserved'`, []any{sagaCheckoutID}, &reserved)
	fx.queryOne(t, `SELECT reserved FROM inventory WHERE sku = 'TEE-BLACK-M'`, nil, &heldTee)
	if status != "processing" || reserved != 2 || heldTee != 2 {
		t.Errorf("database: checkout %s, %d reserved lines, %d TEE-BLACK-M held; want processing, 2, 2", status, reserved, heldTee)
	}
}

func checkCharged(t *testing.T, fx *fixture, body []byte) {
	st := decodeState(t, body)
	if st.Payment == nil || st.Payment.Status != "authorized" || !strings.HasPrefix(st.Payment.IntentID, "pi_") || st.Payment.TransactionID <= 0 {
		t.Fatalf("payment = %+v, want status authorized with an intent and a transaction id", st.Payment)
	}
	pi, ok := fx.stripe.PaymentIntent(st.Payment.IntentID)
	if !ok || pi.Status != "requires_capture" || pi.CaptureMethod != "manual" || pi.Amount != 6200 || pi.Currency != "usd" {
		t.Errorf("Stripe fake intent %s = %+v (found %v), want requires_capture (manual) 6200 usd", st.Payment.IntentID, pi, ok)
	}
	var status, provider string
	fx.queryOne(t, `SELECT status, provider_payment_id FROM payment_transactions WHERE checkout_id = $1 AND kind = 'charge'`,
		[]any{sagaCheckoutID}, &status, &provider)
	if status != "authorized" || provider != st.Payment.IntentID {
		t.Errorf("database charge: %s %s, want authorized %s", status, provider, st.Payment.IntentID)
	}
}

func checkCaptured(t *testing.T, fx *fixture, body []byte) {
	st := decodeState(t, body)
	if st.Capture == nil || st.Capture.Status != "succeeded" {
		t.Fatalf("capture = %+v, want succeeded", st.Capture)
	}
	var status, intent string
	fx.queryOne(t, `SELECT status, provider_payment_id FROM payment_transactions WHERE checkout_id = $1 AND kind = 'charge'`,
		[]any{sagaCheckoutID}, &status, &intent)
	pi, _ := fx.stripe.PaymentIntent(intent)
	if status != "succeeded" || pi.Status != "succeeded" || pi.AmountReceived != 6200 {
		t.Errorf("charge %s, intent %+v; want both succeeded with 6200 received", status, pi)
	}
}

func checkOrdered(t *testing.T, fx *fixture, body []byte) {
	st := decodeState(t, body)
	if st.Order == nil || st.Event == nil {
		t.Fatalf("order/event missing from the answer: %s", body)
	}
	if _, err := uuid.Parse(st.Order.OrderID); err != nil {
		t.Errorf("order.order_id = %q, not a UUID", st.Order.OrderID)
	}
	ev := st.Event
	if ev.Type != "order.created" || ev.Order.OrderID != st.Order.OrderID || ev.Order.Amount != 6200 || len(ev.Order.Items) != 2 {
		t.Errorf("event = %+v, want order.created for order %s, 6200, 2 lines", ev, st.Order.OrderID)
	}
	var orderID uuid.UUID
	var status string
	var committed int
	fx.queryOne(t, `SELECT o.id, c.status FROM orders o JOIN checkouts c ON c.id = o.checkout_id WHERE o.checkout_id = $1`,
		[]any{sagaCheckoutID}, &orderID, &status)
	fx.queryOne(t, `SELECT count(*) FROM reservations WHERE checkout_id = $1 AND status = 'committed'`, []any{sagaCheckoutID}, &committed)
	if orderID.String() != st.Order.OrderID || status != "completed" || committed != 2 {
		t.Errorf("database: order %s, checkout %s, %d committed lines; want %s, completed, 2", orderID, status, committed, st.Order.OrderID)
	}
}

func checkReleased(t *testing.T, fx *fixture, body []byte) {
	st := decodeState(t, body)
	if st.Release == nil || !st.Release.Released {
		t.Fatalf("release = %+v, want released true", st.Release)
	}
	var released, held int
	fx.queryOne(t, `SELECT count(*) FROM reservations WHERE checkout_id = $1 AND status = 'released'`, []any{sagaCheckoutID}, &released)
	fx.queryOne(t, `SELECT sum(reserved) FROM inventory`, nil, &held)
	if released != 2 || held != 0 {
		t.Errorf("database: %d released lines, %d units still held; want 2, 0", released, held)
	}
}

func checkRefunded(t *testing.T, fx *fixture, body []byte) {
	st := decodeState(t, body)
	if st.Refund == nil || !st.Refund.Refunded {
		t.Fatalf("refund = %+v, want refunded true", st.Refund)
	}
	var status, intent string
	fx.queryOne(t, `SELECT status, provider_payment_id FROM payment_transactions WHERE checkout_id = $1 AND kind = 'charge'`,
		[]any{sagaCheckoutID}, &status, &intent)
	if status != "refunded" {
		t.Errorf("database charge status %s, want refunded", status)
	}
	if rs := fx.stripe.RefundsFor(intent); len(rs) != 1 || rs[0].Amount != 6200 {
		t.Errorf("Stripe fake refunds of %s = %+v, want one of 6200", intent, rs)
	}
}

func checkMarked(t *testing.T, fx *fixture, body []byte) {
	var out saga.Outcome
	decode(t, body, &out)
	if out.CheckoutID != sagaCheckoutID || out.Status != "failed" {
		t.Errorf("answer = %+v, want the failed outcome of %s", out, sagaCheckoutID)
	}
	var status, code string
	fx.queryOne(t, `SELECT status, coalesce(failure_code, '') FROM checkouts WHERE id = $1`, []any{sagaCheckoutID}, &status, &code)
	if want := saga.FailureCode("PaymentDeclined"); status != "failed" || code != want {
		t.Errorf("database: checkout %s (%s), want failed (%s)", status, code, want)
	}
}

// --- sweeper --------------------------------------------------------------

func checkSwept(t *testing.T, fx *fixture, body []byte) {
	var res struct {
		Released       *int   `json:"released"`
		Duration       string `json:"duration"`
		MonthsAhead    *int   `json:"partition_months_ahead"`
		PartitionError string `json:"partition_error"`
	}
	decode(t, body, &res)
	if res.Released == nil || *res.Released < 1 || res.Duration == "" {
		t.Fatalf("answer %s, want released >= 1 and a duration", body)
	}
	// The sweep also kept the partitions of the next 3 months.
	if res.MonthsAhead == nil || *res.MonthsAhead != 3 || res.PartitionError != "" {
		t.Errorf("answer %s, want partition_months_ahead 3 and no partition_error", body)
	}
	var expired, held int
	fx.queryOne(t, `SELECT count(*) FROM reservations WHERE checkout_id = $1 AND status = 'released' AND release_reason = 'expired'`,
		[]any{sagaCheckoutID}, &expired)
	fx.queryOne(t, `SELECT sum(reserved) FROM inventory`, nil, &held)
	if expired != 2 || held != 0 {
		t.Errorf("database: %d lines released as expired, %d units held; want 2, 0", expired, held)
	}
}
