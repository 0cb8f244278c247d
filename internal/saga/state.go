// Package saga holds the checkout saga's steps as plain Go: the state passed
// between them, the step handlers, and the typed errors whose Go type names
// are the error names the state machine's Retry and Catch match.
package saga

import (
	"encoding/json"
	"time"

	"github.com/checkout-dev/checkout/internal/checkout"
	"github.com/checkout-dev/checkout/internal/events"
)

// State is the JSON document the state machine passes from step to step.
// Every step takes the whole state and returns it with its own part filled:
//
//	{"checkout_id","user_id","items":[{"sku","quantity"}],"currency","amount","payment_method",
//	 "reservation":{"expires_at"},           // ReserveStock
//	 "payment":{"transaction_id","intent_id","status"},  // ChargePayment
//	 "order":{"order_id"}, "event":{...},     // CreateOrder (event: events.OrderEvent)
//	 "release":{"released"}, "refund":{"refunded"},      // compensations
//	 "error":{"Error","Cause"},               // set by a Catch on a forward step
//	 "compensation_error":{"Error","Cause"},  // set by a Catch on a compensation
//	 "failed_state":"RefundPayment"}          // which compensation failed
//
// The cart fields are a copy of the recorded checkout; each step checks them
// against the database and refuses a state that does not match.
type State struct {
	CheckoutID        string             `json:"checkout_id"`
	UserID            string             `json:"user_id"`
	Items             []checkout.Item    `json:"items"`
	Currency          string             `json:"currency"`
	Amount            int64              `json:"amount"`
	PaymentMethod     string             `json:"payment_method"`
	Reservation       *Reservation       `json:"reservation,omitempty"`
	Payment           *Payment           `json:"payment,omitempty"`
	Order             *OrderRef          `json:"order,omitempty"`
	Event             *events.OrderEvent `json:"event,omitempty"`
	Release           *Release           `json:"release,omitempty"`
	Refund            *Refund            `json:"refund,omitempty"`
	Error             *StepError         `json:"error,omitempty"`
	CompensationError *StepError         `json:"compensation_error,omitempty"`
	FailedState       string             `json:"failed_state,omitempty"`
	// AuthenticationTimeoutSeconds bounds the wait for the customer to
	// authenticate a payment (the AwaitAuthentication state's
	// TimeoutSecondsPath); set when the saga starts.
	AuthenticationTimeoutSeconds int `json:"authentication_timeout_seconds,omitempty"`
	// Authentication is what ended that wait (SendTaskSuccess's output).
	Authentication *Authentication `json:"authentication,omitempty"`
	// RequiresAction is the error that sent the saga to wait for the
	// customer (set by ChargePayment's Catch).
	RequiresAction *StepError `json:"requires_action,omitempty"`
	// Capture is CapturePayment's result.
	Capture *Capture `json:"capture,omitempty"`
	// Traceparent is the checkout's trace (W3C traceparent of the request
	// that created it): steps continue it when nothing else gives them a
	// parent span (internal/tracing).
	Traceparent string `json:"traceparent,omitempty"`
}

// DefaultAuthenticationTimeout is how long a checkout waits for its
// customer to authenticate the payment when nothing else is configured.
const DefaultAuthenticationTimeout = 15 * time.Minute

// Authentication is how the customer's authentication ended.
type Authentication struct {
	Status   string `json:"status"`
	IntentID string `json:"intent_id,omitempty"`
}

// Capture is CapturePayment's result.
type Capture struct {
	Status string `json:"status"`
}

// AwaitInput is AwaitAuthentication's input (the Task's Payload): the
// saga's state and the task token the execution waits on.
type AwaitInput struct {
	State     State  `json:"state"`
	TaskToken string `json:"task_token"`
}

// Reservation is ReserveStock's result.
type Reservation struct {
	ExpiresAt time.Time `json:"expires_at"`
}

// Payment is ChargePayment's result.
type Payment struct {
	TransactionID int64  `json:"transaction_id"`
	IntentID      string `json:"intent_id"`
	Status        string `json:"status"`
}

// OrderRef is CreateOrder's result.
type OrderRef struct {
	OrderID string `json:"order_id"`
}

// Release is ReleaseStock's result.
type Release struct {
	Released bool `json:"released"`
}

// Refund is RefundPayment's result: what the compensation did to the
// payment (payment.Reversal's action: none, voided, refunded,
// refund_pending).
type Refund struct {
	Refunded bool   `json:"refunded"`
	Action   string `json:"action,omitempty"`
}

// StepError is what a Catch puts in the state: the error name and its cause
// (for a Lambda task, the JSON {"errorMessage","errorType"}).
type StepError struct {
	Error string `json:"Error"`
	Cause string `json:"Cause"`
}

// Outcome is MarkOutcome's input: the final status of a checkout and the
// error that decided it.
type Outcome struct {
	CheckoutID string          `json:"checkout_id"`
	Status     checkout.Status `json:"status"`
	Error      *StepError      `json:"error,omitempty"`
}

// StateFor builds the saga's initial state for a recorded checkout.
func StateFor(c checkout.Checkout) State {
	req := c.Request()
	return State{CheckoutID: c.ID.String(), UserID: c.UserID, Items: req.Items, Currency: c.Currency,
		Amount: c.Amount, PaymentMethod: c.PaymentMethod, Traceparent: c.Traceparent,
		AuthenticationTimeoutSeconds: int(DefaultAuthenticationTimeout / time.Second)}
}

// Input is the execution input of checkout c: its initial state as JSON
// (the checkout.Starter's Input), with the default authentication timeout.
func Input(c checkout.Checkout) ([]byte, error) {
	return json.Marshal(StateFor(c))
}

// InputWith returns an Input that waits at most authTimeout for a
// customer to authenticate (0: the default).
func InputWith(authTimeout time.Duration) func(checkout.Checkout) ([]byte, error) {
	return func(c checkout.Checkout) ([]byte, error) {
		st := StateFor(c)
		if authTimeout > 0 {
			st.AuthenticationTimeoutSeconds = int(authTimeout / time.Second)
		}
		return json.Marshal(st)
	}
}
