package payment

import (
	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/backoff"
)

// Backoff is how the service retries a gateway call inside one step: the
// shared backoff.Policy (full jitter, bounded by the attempts and by the
// context's deadline, keeping a reserve so a Lambda answers in time).
type Backoff = backoff.Policy

// Retryable reports the errors worth another try inside a step: the
// gateway failed or throttled, the outcome is unknown (resolved by
// retrieval), or the payment is still processing.
func Retryable(err error) bool {
	switch apperr.KindOf(err) {
	case apperr.Transient, apperr.Unavailable, apperr.UnknownOutcome, apperr.Pending:
		return true
	}
	return false
}
