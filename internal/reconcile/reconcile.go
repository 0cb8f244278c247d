// Package reconcile brings a checkout's payment in line with the gateway
// after the saga is done with it: the gateway's answer always wins. It is
// driven by the Stripe webhook (through the payment-events queue) and by
// operators; it never acts on a checkout whose saga is still running.
//
// For a checkout that ended without an order, money the gateway took is
// refunded and a payment that could still move money is voided; a refund
// that failed, a dispute, or an intent whose amount is not the ledger's is
// handed to a person (the manual-review queue) once, with an audit row.
package reconcile

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/checkout"
	"github.com/checkout-dev/checkout/internal/inventory"
	"github.com/checkout-dev/checkout/internal/order"
	"github.com/checkout-dev/checkout/internal/payment"
)

// Actions a reconciliation reports.
const (
	ActionNotOurs    = "not_ours"    // the intent is not one of our checkouts'
	ActionNoPayment  = "no_payment"  // the checkout never started a payment
	ActionInProgress = "in_progress" // the saga still owns the checkout: the ledger was synced, nothing else
	ActionResumed    = "resumed"     // the execution waiting for the customer's authentication was resumed
	ActionSettled    = "settled"     // the ledger agrees with the gateway and nothing is owed
	ActionWaiting    = "waiting"     // the gateway is still processing the payment
	ActionRefunded   = "refunded"    // money taken for a checkout without an order was refunded
	ActionRefunding  = "refund_pending"
	ActionVoided     = "voided"   // an intent that could still move money was canceled
	ActionReviewed   = "reviewed" // a person was asked to act
)

// Review reasons (the manual-review message's type).
const (
	ReasonRefundFailed   = payment.CodeRefundFailed   // the gateway reports a refund failed: the customer is owed money
	ReasonAmountMismatch = payment.CodeAmountMismatch // the gateway's amount or currency is not the ledger's
	ReasonDispute        = "dispute_opened"           // a card holder disputed a charge
)

// Reconciler reconciles payments. Pool, Payments, Checkouts, Orders and
// Review are required.
type Reconciler struct {
	Pool      *pgxpool.Pool
	Payments  *payment.Service
	Checkouts *checkout.Store
	Orders    *order.Service
	Review    Reviewer
	// Inventory releases the stock of a checkout whose saga ended without
	// finishing it (Sweep).
	Inventory *inventory.Store
	// Resumer completes the task of an execution waiting for its
	// customer's authentication once the gateway decided it; nil leaves
	// such executions to their timeout.
	Resumer payment.Resumer
	// Executions tells Sweep whether a checkout's saga still runs; nil
	// leaves every non-final checkout to its saga.
	Executions Executions
	Log        *slog.Logger
	// Retry retries a reconciliation that failed transiently (the gateway
	// or the database) inside one call; the zero value is the payment
	// package's default backoff.
	Retry payment.Backoff
	// Requeue, when set, lets a failed message come back sooner than the
	// queue's visibility timeout (consumer only).
	Requeue Requeuer
	// Actor names who acted in the sweep's audit rows; default
	// "reconciliation" (the scheduled job). checkoutctl reconcile names
	// its operator.
	Actor string
}

// Result says what a reconciliation found and did.
type Result struct {
	CheckoutID string         `json:"checkout_id,omitempty"`
	Checkout   string         `json:"checkout_status,omitempty"`
	Charge     payment.Status `json:"charge_status,omitempty"`
	Action     string         `json:"action"`
	Reviews    []string       `json:"reviews,omitempty"`
}

func (r *Reconciler) log() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.Default()
}

// Notice reconciles the checkout a notice names (by checkout id, or by the
// PaymentIntent its charge goes through). Idempotent: a repeated, stale or
// out-of-order notice changes nothing once the ledger agrees.
func (r *Reconciler) Notice(ctx context.Context, n payment.Notice) (Result, error) {
	var id uuid.UUID
	if n.CheckoutID != "" {
		var err error
		if id, err = uuid.Parse(n.CheckoutID); err != nil {
			return Result{}, apperr.InvalidField("checkout_id", "must be a checkout id (UUID)")
		}
	} else {
		var found bool
		var err error
		if id, found, err = r.Payments.CheckoutOfIntent(ctx, n.IntentID); err != nil {
			return Result{}, err
		}
		if !found {
			r.log().InfoContext(ctx, "reconcile: the intent is not one of our checkouts'", "intent", n.IntentID, "event", n.EventID)
			return Result{Action: ActionNotOurs}, nil
		}
	}
	var res Result
	err := r.Retry.Do(ctx, payment.Retryable, func(ctx context.Context) error {
		var err error
		res, err = r.Checkout(ctx, id)
		return err
	})
	if err != nil {
		return res, err
	}
	if n.DisputeID != "" {
		if err := r.review(ctx, &res, id, ReasonDispute, n.DisputeID,
			fmt.Sprintf("dispute %s opened on intent %s: respond in the Stripe dashboard before its deadline", n.DisputeID, n.IntentID),
			map[string]any{"dispute_id": n.DisputeID, "intent": n.IntentID}); err != nil {
			return res, err
		}
	}
	return res, nil
}

// Checkout reconciles checkout id: it syncs the ledger with the gateway
// (payment.Service.Sync), then, if the checkout ended without an order,
// gives back what the gateway holds for it.
//
// Errors are transient (the gateway or the database failed): calling again
// is safe. Problems a retry cannot fix are sent to review and reported in
// the result, not as errors.
func (r *Reconciler) Checkout(ctx context.Context, id uuid.UUID) (Result, error) {
	res := Result{CheckoutID: id.String()}
	c, err := r.Checkouts.Get(ctx, id)
	if err != nil {
		return res, err
	}
	res.Checkout = string(c.Status)
	snap, err := r.Payments.Sync(ctx, id)
	switch {
	case apperr.Is(err, apperr.NotFound):
		res.Action = ActionNoPayment
		return res, nil
	case apperr.As(err) != nil && apperr.As(err).Code == payment.CodeAmountMismatch:
		res.Action = ActionReviewed
		return res, r.review(ctx, &res, id, ReasonAmountMismatch, "", apperr.As(err).Message, nil)
	case err != nil:
		return res, err
	}
	res.Charge = snap.Charge.Status
	for _, rf := range snap.Refunds {
		if rf.Status == payment.StatusFailed && snap.Charge.Status != payment.StatusRefunded {
			res.Action = ActionReviewed
			summary := fmt.Sprintf("refund %s of %d %s failed at the gateway (%s): the customer was not paid back",
				rf.ProviderRefundID, rf.Amount, rf.Currency, rf.FailureCode)
			if err := r.review(ctx, &res, id, ReasonRefundFailed, rf.ProviderRefundID, summary,
				map[string]any{"refund_id": rf.ProviderRefundID, "failure_reason": rf.FailureCode}); err != nil {
				return res, err
			}
			// The compensation did not give the money back: a checkout that
			// failed is now a case for a person (a completed one keeps its
			// order and status).
			if c.Status == checkout.StatusFailed {
				if err := r.Checkouts.Finish(ctx, id, checkout.NeedsReview(ReasonRefundFailed, summary)); err != nil {
					return res, err
				}
				res.Checkout = string(checkout.StatusNeedsReview)
			}
		}
	}
	if res.Action == ActionReviewed {
		return res, nil
	}
	if !checkout.IsFinal(c.Status) {
		res.Action = ActionInProgress
		if r.Resumer != nil {
			resumed, err := r.Payments.Resume(ctx, id, r.Resumer)
			if err != nil {
				return res, err
			}
			if resumed {
				res.Action = ActionResumed
			}
		}
		return res, nil
	}
	if _, err := r.Orders.ByCheckout(ctx, id); err == nil {
		res.Action = ActionSettled // the money is the order's
		return res, nil
	} else if !apperr.Is(err, apperr.NotFound) {
		return res, err
	}
	return r.giveBack(ctx, res, snap)
}

// giveBack returns what the gateway holds for a checkout that ended
// without an order.
func (r *Reconciler) giveBack(ctx context.Context, res Result, snap payment.Snapshot) (Result, error) {
	switch snap.Charge.Status {
	case payment.StatusSucceeded:
		if snap.Returning() >= snap.Charge.Amount {
			res.Action = ActionSettled
			return res, nil
		}
	case payment.StatusAuthorized, payment.StatusRequiresAction, payment.StatusFailed, payment.StatusProcessing:
	default: // initiated, canceled, refunded
		res.Action = ActionSettled
		return res, nil
	}
	id := uuid.MustParse(res.CheckoutID)
	r.log().WarnContext(ctx, "reconcile: the gateway holds money for a checkout that ended without an order; giving it back",
		"checkout_id", res.CheckoutID, "checkout_status", res.Checkout, "charge_status", snap.Charge.Status, "intent", snap.Charge.ProviderPaymentID)
	rev, err := r.Payments.Reverse(ctx, id, payment.OriginReconciliation)
	switch {
	case apperr.Is(err, apperr.Pending):
		res.Action = ActionWaiting
		return res, nil
	case apperr.As(err) != nil && apperr.As(err).Code == payment.CodeRefundFailed:
		res.Action = ActionReviewed
		return res, r.review(ctx, &res, id, ReasonRefundFailed, "", apperr.As(err).Message, nil)
	case err != nil:
		return res, err
	}
	switch rev.Action {
	case payment.ReversalRefunded:
		res.Action = ActionRefunded
	case payment.ReversalRefundPending:
		res.Action = ActionRefunding
	case payment.ReversalVoided:
		res.Action = ActionVoided
	default:
		res.Action = ActionSettled
	}
	return res, nil
}
