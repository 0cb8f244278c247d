// Package payment moves money through a payment gateway at most once per
// checkout. The Gateway port hides the provider; the stripe-go adapter is the
// production implementation and, pointed at the stripefake server, the local
// and test one too. Service records every movement in payment_transactions.
package payment

import (
	"context"
	"encoding/json"
)

// PaymentIntent statuses, as Stripe names them.
const (
	IntentRequiresPaymentMethod = "requires_payment_method"
	IntentRequiresConfirmation  = "requires_confirmation"
	IntentRequiresAction        = "requires_action"
	IntentProcessing            = "processing"
	IntentRequiresCapture       = "requires_capture"
	IntentCanceled              = "canceled"
	IntentSucceeded             = "succeeded"
)

// Intent is the gateway's view of one payment.
type Intent struct {
	ID       string
	Status   string
	Amount   int64
	Currency string // upper case
	// DeclineCode and FailureCode describe the last failed attempt, if any.
	DeclineCode string
	FailureCode string
	// AmountReceived is what the gateway collected (0 until it succeeded).
	AmountReceived int64
	// CheckoutID is the intent's metadata checkout_id (set at creation).
	CheckoutID string
	// NextActionURL is where the customer authenticates (redirect_to_url),
	// set while the intent requires action; ClientSecret lets Stripe.js do
	// it in the page instead.
	NextActionURL string
	ClientSecret  string
	Raw           json.RawMessage // the provider's response, kept for audit
}

// Refund statuses, as Stripe names them.
const (
	RefundPending   = "pending"
	RefundSucceeded = "succeeded"
	RefundFailed    = "failed"
	RefundCanceled  = "canceled"
	// RefundRequiresAction: the customer must provide details to receive
	// the refund (not for cards).
	RefundRequiresAction = "requires_action"
)

// Refund is one refund of an intent.
type Refund struct {
	ID            string
	PaymentIntent string
	Status        string
	Amount        int64
	Currency      string // upper case
	FailureReason string
	Raw           json.RawMessage
}

// NewIntent is what CreateIntent needs.
type NewIntent struct {
	Amount        int64
	Currency      string
	PaymentMethod string
	CheckoutID    string
	// Manual makes the intent authorize only (capture_method=manual): the
	// money is held at confirm and taken by CaptureIntent.
	Manual bool
}

// Gateway is the payment provider port. Every method is idempotent for a
// given idempotency key. Errors carry an apperr kind: Declined (do not retry),
// Invalid (the provider refused the request), Transient or Unavailable
// (nothing happened; retry with the same key), UnknownOutcome (the request
// may have moved money: resolve with GetIntent, never by a new charge),
// Internal (configuration or a bug).
type Gateway interface {
	CreateIntent(ctx context.Context, in NewIntent, idempotencyKey string) (Intent, error)
	ConfirmIntent(ctx context.Context, intentID, paymentMethod, idempotencyKey string) (Intent, error)
	GetIntent(ctx context.Context, intentID string) (Intent, error)
	// CancelIntent cancels an intent that has not succeeded, so that no
	// later confirmation (a customer finishing 3-D Secure) can move money.
	// Canceling a succeeded intent fails with apperr State.
	CancelIntent(ctx context.Context, intentID, idempotencyKey string) (Intent, error)
	Refund(ctx context.Context, intentID string, amount int64, idempotencyKey string) (Refund, error)
	// CaptureIntent takes the authorized amount of an intent in
	// requires_capture. It moves money: a lost answer is UnknownOutcome.
	// Capturing an intent that is not capturable fails with apperr State.
	CaptureIntent(ctx context.Context, intentID, idempotencyKey string) (Intent, error)
	// ListRefunds returns every refund of intentID, whoever made it (the
	// saga, reconciliation, or someone in the gateway's dashboard).
	ListRefunds(ctx context.Context, intentID string) ([]Refund, error)
}
