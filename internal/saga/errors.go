package saga

import (
	"context"
	"errors"
	"log/slog"
	"slices"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/payment"
)

// The typed errors a step returns. aws-lambda-go reports an error's Go type
// name as its errorType, and Step Functions matches Retry and Catch on that
// name, so these names ARE the state machine's error names.
type (
	// OutOfStock: not enough units. Caught: mark failed, nothing to compensate.
	OutOfStock struct{ Message string }
	// InvalidRequest: the step's input is wrong. Never retried.
	InvalidRequest struct{ Message string }
	// PaymentDeclined: the card was declined. Caught: release the stock.
	PaymentDeclined struct{ Message string }
	// PaymentFailed: the gateway refused the request for good.
	PaymentFailed struct{ Message string }
	// PaymentRequiresAction: the customer must authenticate the payment.
	PaymentRequiresAction struct{ Message string }
	// PaymentAuthenticationFailed: the customer failed or abandoned the
	// payment's authentication (sent by SendTaskFailure to the waiting
	// state, or returned when a payment asks again). Caught: void, release.
	PaymentAuthenticationFailed struct{ Message string }
	// PaymentGatewayUnavailable: the gateway failed or throttled. Retried.
	PaymentGatewayUnavailable struct{ Message string }
	// PaymentOutcomeUnknown: a charge or refund may have happened. Retried:
	// the step resolves it by retrieval, never by charging again.
	PaymentOutcomeUnknown struct{ Message string }
	// PaymentPending: the gateway is still processing the payment; it can
	// be neither confirmed nor canceled yet. Retried with long waits.
	PaymentPending struct{ Message string }
	// OrderConfirmed: a compensation refused to refund because the
	// checkout's order exists (its step's answer was lost). Caught: manual
	// review, with the reason.
	OrderConfirmed struct{ Message string }
	// StateConflict: the checkout or its payment is in a state that does
	// not allow the step (canceled, refunded, being compensated).
	StateConflict struct{ Message string }
	// ReservationExpired: the stock hold ran out before the order was made.
	ReservationExpired struct{ Message string }
	// RefundFailed: the gateway refused the refund for good.
	RefundFailed struct{ Message string }
	// Transient: a passing failure (database contention). Retried.
	Transient struct{ Message string }
	// InternalError: a bug or misconfiguration; details are in the logs.
	InternalError struct{ Message string }
)

func (e *OutOfStock) Error() string                  { return e.Message }
func (e *InvalidRequest) Error() string              { return e.Message }
func (e *PaymentDeclined) Error() string             { return e.Message }
func (e *PaymentFailed) Error() string               { return e.Message }
func (e *PaymentRequiresAction) Error() string       { return e.Message }
func (e *PaymentGatewayUnavailable) Error() string   { return e.Message }
func (e *PaymentAuthenticationFailed) Error() string { return e.Message }
func (e *PaymentOutcomeUnknown) Error() string       { return e.Message }
func (e *PaymentPending) Error() string              { return e.Message }
func (e *OrderConfirmed) Error() string              { return e.Message }
func (e *StateConflict) Error() string               { return e.Message }
func (e *ReservationExpired) Error() string          { return e.Message }
func (e *RefundFailed) Error() string                { return e.Message }
func (e *Transient) Error() string                   { return e.Message }
func (e *InternalError) Error() string               { return e.Message }

// ErrorNames lists every error name a step can return, for the check that
// the state machine only matches errors that exist.
var ErrorNames = []string{"OutOfStock", "InvalidRequest", "PaymentDeclined", "PaymentFailed",
	"PaymentRequiresAction", "PaymentAuthenticationFailed", "PaymentGatewayUnavailable", "PaymentOutcomeUnknown", "PaymentPending", "OrderConfirmed",
	"StateConflict", "ReservationExpired", "RefundFailed", "Transient", "InternalError"}

// toStepError maps a domain error to the typed error the state machine sees.
// Internal errors are logged in full and shown as "internal error".
func toStepError(ctx context.Context, log *slog.Logger, step Step, err error) error {
	if err == nil {
		return nil
	}
	ae := apperr.As(err)
	if ae == nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return &Transient{Message: "the step ran out of time"}
		}
		log.ErrorContext(ctx, "step failed", "step", step, "err", err)
		return &InternalError{Message: "internal error"}
	}
	msg := ae.Message
	if ae.Field != "" {
		msg = ae.Field + ": " + msg
	}
	switch ae.Kind {
	case apperr.OutOfStock:
		return &OutOfStock{Message: msg}
	case apperr.Invalid:
		switch ae.Code {
		case payment.CodeFailed:
			return &PaymentFailed{Message: msg}
		case payment.CodeRefundFailed:
			return &RefundFailed{Message: msg}
		}
		return &InvalidRequest{Message: msg}
	case apperr.NotFound:
		return &InvalidRequest{Message: msg}
	case apperr.Declined:
		return &PaymentDeclined{Message: msg}
	case apperr.RequiresAction:
		if ae.Code == payment.CodeAuthenticationFailed {
			return &PaymentAuthenticationFailed{Message: msg}
		}
		return &PaymentRequiresAction{Message: msg}
	case apperr.Unavailable:
		return &PaymentGatewayUnavailable{Message: msg}
	case apperr.Transient:
		if ae.Code == payment.CodeGatewayUnavailable {
			return &PaymentGatewayUnavailable{Message: msg}
		}
		return &Transient{Message: msg}
	case apperr.UnknownOutcome:
		return &PaymentOutcomeUnknown{Message: msg}
	case apperr.Expired:
		return &ReservationExpired{Message: msg}
	case apperr.Pending:
		return &PaymentPending{Message: msg}
	case apperr.State:
		if ae.Code == codeOrderExists {
			return &OrderConfirmed{Message: msg}
		}
		return &StateConflict{Message: msg}
	}
	log.ErrorContext(ctx, "step failed", "step", step, "kind", ae.Kind.String(), "err", err)
	return &InternalError{Message: "internal error"}
}

// failureCodes maps an error name caught by the state machine to the
// checkout's public failure code.
var failureCodes = map[string]string{
	"OutOfStock":                  "out_of_stock",
	"InvalidRequest":              "invalid_request",
	"PaymentDeclined":             "payment_declined",
	"PaymentFailed":               "payment_failed",
	"PaymentRequiresAction":       "payment_requires_action",
	"PaymentAuthenticationFailed": "payment_authentication_failed",
	// The AwaitAuthentication state timed out: the customer never finished.
	"States.Timeout":            "authentication_timeout",
	"PaymentGatewayUnavailable": "payment_unavailable",
	"PaymentOutcomeUnknown":     "payment_failed",
	"PaymentPending":            "payment_failed",
	"ReservationExpired":        "reservation_expired",
}

// FailureCodes lists every failure code a checkout can end with: the
// codes of failureCodes, internal_error for anything else, and the
// needs_review codes (compensation_failed here, refund_failed from
// reconciliation). The API's contract lists exactly these.
func FailureCodes() []string {
	codes := []string{"internal_error", "compensation_failed", "refund_failed"}
	for _, c := range failureCodes {
		if !slices.Contains(codes, c) {
			codes = append(codes, c)
		}
	}
	slices.Sort(codes)
	return codes
}

// FailureCode returns the public failure code for a caught error name.
func FailureCode(errorName string) string {
	if c, ok := failureCodes[errorName]; ok {
		return c
	}
	return "internal_error"
}
