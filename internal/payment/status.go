package payment

import "slices"

// Status is the status of a payment_transactions row. A charge row and a
// refund row use different subsets (see the migration that defines them).
type Status string

// Charge statuses.
const (
	StatusInitiated      Status = "initiated"       // row written, no intent yet
	StatusProcessing     Status = "processing"      // an intent exists; the gateway has not decided
	StatusRequiresAction Status = "requires_action" // the customer must authenticate (3-D Secure)
	StatusAuthorized     Status = "authorized"      // the amount is held (capture_method=manual), not yet captured
	StatusSucceeded      Status = "succeeded"       // the money moved
	StatusFailed         Status = "failed"          // declined; the intent is not canceled yet
	StatusCanceled       Status = "canceled"        // the intent is canceled: no money can move any more
	StatusRefunded       Status = "refunded"        // the money moved and came back in full
)

// Refund statuses (besides StatusProcessing, StatusSucceeded, StatusFailed
// and StatusCanceled, shared with charges).
const (
	StatusPending Status = "pending" // the gateway accepted the refund; the money is on its way back
)

// Kind of a payment_transactions row.
const (
	KindCharge = "charge"
	KindRefund = "refund"
)

// chargeTransitions lists, for each charge status, the statuses a row may
// move to from it. Every transition records what the gateway confirmed, so
// some run "backwards" from the happy path: a failed (declined) intent that
// the customer confirmed again with another card can still succeed, and a
// refund that the gateway later reports failed puts the charge back to
// succeeded. What never happens: a succeeded charge becoming failed or
// canceled, or anything leaving canceled.
var chargeTransitions = map[Status][]Status{
	StatusInitiated:      {StatusProcessing, StatusCanceled},
	StatusProcessing:     {StatusRequiresAction, StatusAuthorized, StatusSucceeded, StatusFailed, StatusCanceled},
	StatusRequiresAction: {StatusProcessing, StatusAuthorized, StatusSucceeded, StatusFailed, StatusCanceled},
	StatusFailed:         {StatusProcessing, StatusRequiresAction, StatusAuthorized, StatusSucceeded, StatusCanceled},
	StatusAuthorized:     {StatusSucceeded, StatusCanceled},
	StatusSucceeded:      {StatusRefunded},
	StatusRefunded:       {StatusSucceeded},
	StatusCanceled:       {},
}

// refundTransitions is chargeTransitions for refund rows. A succeeded
// refund may still fail later (the card was closed: Stripe reports
// refund.failed and returns the money to the balance).
var refundTransitions = map[Status][]Status{
	StatusProcessing: {StatusPending, StatusSucceeded, StatusFailed, StatusCanceled},
	StatusPending:    {StatusSucceeded, StatusFailed, StatusCanceled},
	StatusSucceeded:  {StatusFailed},
	StatusFailed:     {},
	StatusCanceled:   {},
}

// allowedFrom returns the statuses a row of kind may move to status from.
func allowedFrom(kind string, to Status) []string {
	table := chargeTransitions
	if kind == KindRefund {
		table = refundTransitions
	}
	var from []string
	for f, tos := range table {
		if slices.Contains(tos, to) {
			from = append(from, string(f))
		}
	}
	return from
}

// CanMove reports whether a row of kind may move from one status to another.
func CanMove(kind string, from, to Status) bool {
	return slices.Contains(allowedFrom(kind, to), string(from))
}

// IsSettled reports whether a charge in status needs nothing more from the
// charge step: the gateway decided and the decision cannot be undone by it.
func (s Status) IsSettled() bool {
	switch s {
	case StatusSucceeded, StatusAuthorized, StatusFailed, StatusCanceled, StatusRefunded:
		return true
	}
	return false
}

// Holds reports whether money is (or may still be) taken under a charge in
// status s: what a compensation must give back or release.
func (s Status) Holds() bool {
	switch s {
	case StatusSucceeded, StatusAuthorized, StatusProcessing, StatusRequiresAction:
		return true
	}
	return false
}
