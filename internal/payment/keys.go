package payment

import (
	"strconv"

	"github.com/google/uuid"
)

// Idempotency keys are derived from the checkout, so a retried, duplicated
// or re-run step sends the same keys and the gateway can never act twice.
//
// attempt is the row's key generation (payment_transactions.attempt). It
// starts at 0, whose keys are the plain ones below, and moves on only after
// the gateway answered a 5xx for the current key (Stripe stores that answer
// and replays it for every retry with the key) and the gateway's own state
// showed the call did not take effect. A new key is then safe: the
// PaymentIntent itself allows one successful payment, and the saga only
// ever confirms, cancels or refunds the one intent its row records.
func chargeKey(id uuid.UUID) string { return "checkout-" + id.String() + "-charge" }

func createKey(id uuid.UUID, attempt int) string {
	return withAttempt(chargeKey(id)+"-create", attempt)
}

func confirmKey(id uuid.UUID, attempt int) string {
	return withAttempt(chargeKey(id)+"-confirm", attempt)
}

func cancelKey(id uuid.UUID, attempt int) string {
	return withAttempt(chargeKey(id)+"-cancel", attempt)
}

func refundKey(id uuid.UUID) string { return "checkout-" + id.String() + "-refund" }

func refundCallKey(id uuid.UUID, attempt int) string { return withAttempt(refundKey(id), attempt) }

// gatewayRefundKey is the ledger key of a refund made outside the saga
// (found at the gateway by reconciliation).
func gatewayRefundKey(refundID string) string { return "stripe:" + refundID }

func withAttempt(key string, attempt int) string {
	if attempt <= 0 {
		return key
	}
	return key + "-" + strconv.Itoa(attempt)
}

func captureKey(id uuid.UUID, attempt int) string {
	return withAttempt(chargeKey(id)+"-capture", attempt)
}
