package reconcile

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/audit"
	"github.com/checkout-dev/checkout/internal/checkout"
	"github.com/checkout-dev/checkout/internal/order"
	"github.com/checkout-dev/checkout/internal/payment"
	"github.com/checkout-dev/checkout/internal/postgres"
)

// Executions says whether a checkout's saga execution still runs.
type Executions interface {
	// Running reports whether execution executionARN is still running;
	// false when it ended or does not exist.
	Running(ctx context.Context, executionARN string) (bool, error)
}

// What a sweep does for a stuck checkout (Finding.Action).
const (
	SweepNone    = "none"    // nothing to do: the saga still owns it, or it is settled
	SweepRecord  = "record"  // the ledger is behind the gateway: record the gateway's status
	SweepResume  = "resume"  // the gateway decided the customer's authentication: resume the waiting execution
	SweepCapture = "capture" // the order exists and the money is only authorized: capture it
	SweepVoid    = "void"    // no order will come: cancel the authorization or the intent
	SweepRefund  = "refund"  // no order will come and the money was taken: refund it
	SweepWait    = "wait"    // the gateway is still processing: look again later
	SweepFinish  = "finish"  // the saga ended without finishing the checkout: undo and fail it
)

// SweepOptions configure Sweep.
type SweepOptions struct {
	// StuckAfter: a payment or checkout unchanged for this long in a
	// non-final state is looked at; default 15 minutes. (Authorizations
	// are captured or voided here long before they expire after 7 days.)
	StuckAfter time.Duration
	// Limit bounds the checkouts looked at in one sweep; default 100.
	Limit int
	// Apply makes the sweep act; without it, it only reports what it
	// would do and changes nothing (a dry run).
	Apply bool
}

// Finding is one stuck checkout: what the ledger and the gateway say, and
// what the sweep did (or, in a dry run, would do) about it.
type Finding struct {
	CheckoutID string          `json:"checkout_id"`
	Checkout   checkout.Status `json:"checkout_status"`
	Order      bool            `json:"order"`
	Charge     payment.Status  `json:"charge_status,omitempty"`
	Intent     string          `json:"intent_status,omitempty"`
	IntentID   string          `json:"intent_id,omitempty"`
	Waiting    bool            `json:"waiting_for_customer,omitempty"`
	Running    bool            `json:"execution_running"`
	Action     string          `json:"action"`
	Reason     string          `json:"reason"`
	Applied    bool            `json:"applied"`
	Result     string          `json:"result,omitempty"` // what applying it did
	Error      string          `json:"error,omitempty"`
}

func (o SweepOptions) withDefaults() SweepOptions {
	if o.StuckAfter <= 0 {
		o.StuckAfter = 15 * time.Minute
	}
	if o.Limit <= 0 {
		o.Limit = 100
	}
	return o
}

// Sweep is the polling fallback of the webhook: it finds the checkouts
// whose payment or status has not moved for StuckAfter while not final
// (or whose charge is left authorized, processing or waiting), reads each
// one's PaymentIntent, and drives it to its end — resume the execution
// waiting for an authentication the gateway decided, capture the money of
// an order, void or refund what a checkout without an order holds, record
// what the ledger missed, or, when its saga ended without finishing it,
// undo it and mark it failed. Every action writes audit rows (actor
// "reconciliation"). Without Apply it changes nothing.
//
// One checkout's failure does not stop the sweep: it is reported in its
// Finding. The error is for the sweep itself (the database).
func (r *Reconciler) Sweep(ctx context.Context, o SweepOptions) ([]Finding, error) {
	o = o.withDefaults()
	rows, err := r.Pool.Query(ctx, `
		SELECT checkout_id FROM (
			SELECT checkout_id, updated_at FROM payment_transactions
			WHERE kind = 'charge' AND status IN ('initiated', 'processing', 'requires_action', 'authorized')
				AND updated_at < now() - $1::interval
			UNION ALL
			SELECT id, updated_at FROM checkouts
			WHERE status IN ('pending', 'processing', 'requires_action') AND updated_at < now() - $1::interval
		) stuck GROUP BY checkout_id ORDER BY min(updated_at) LIMIT $2`, o.StuckAfter, o.Limit)
	if err != nil {
		return nil, fmt.Errorf("reconcile: find stuck checkouts: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("reconcile: find stuck checkouts: %w", err)
	}
	out := make([]Finding, 0, len(ids))
	for _, id := range ids {
		if ctx.Err() != nil {
			break
		}
		f := r.inspect(ctx, id)
		if o.Apply && f.Error == "" && f.Action != SweepNone {
			r.apply(ctx, &f)
		}
		out = append(out, f)
	}
	return out, ctx.Err()
}

// inspect reads one checkout and decides what to do, changing nothing.
func (r *Reconciler) inspect(ctx context.Context, id uuid.UUID) Finding {
	f := Finding{CheckoutID: id.String(), Action: SweepNone}
	c, err := r.Checkouts.Get(ctx, id)
	if err != nil {
		f.Error = err.Error()
		return f
	}
	f.Checkout, f.Order = c.Status, c.OrderID != nil
	if !c.Status.Final() {
		if f.Running, err = r.running(ctx, c); err != nil {
			f.Error = err.Error()
			return f
		}
	}
	v, err := r.Payments.Inspect(ctx, id)
	switch {
	case apperr.Is(err, apperr.NotFound):
		f.Action, f.Reason = decideNoCharge(f)
		return f
	case err != nil:
		f.Error = err.Error()
		return f
	}
	f.Charge, f.Intent, f.IntentID, f.Waiting = v.Charge.Status, v.Intent.Status, v.Intent.ID, v.Waiting
	f.Action, f.Reason = decide(f, v.Reflects())
	return f
}

// running reports whether c's execution still runs (true when nothing can
// tell: the saga is then left alone).
func (r *Reconciler) running(ctx context.Context, c checkout.Checkout) (bool, error) {
	if r.Executions == nil {
		return true, nil
	}
	if c.ExecutionID == "" {
		return false, nil // never started (StartExecution failed for good)
	}
	return r.Executions.Running(ctx, c.ExecutionID)
}

func decideNoCharge(f Finding) (string, string) {
	if !f.Checkout.Final() && !f.Running {
		return SweepFinish, "its saga ended (or never started) before any payment: release the stock and fail the checkout"
	}
	return SweepNone, "no payment was ever started"
}

// decide is the sweep's rule for one checkout with a charge.
func decide(f Finding, reflects bool) (string, string) {
	decided := f.Intent == payment.IntentRequiresCapture || f.Intent == payment.IntentSucceeded ||
		f.Intent == payment.IntentRequiresPaymentMethod || f.Intent == payment.IntentCanceled
	switch {
	case f.Waiting && decided && f.Running:
		return SweepResume, "the customer's authentication ended (intent " + f.Intent + ") but the execution still waits: the webhook was lost"
	case f.Order && f.Intent == payment.IntentRequiresCapture:
		return SweepCapture, "the order exists but its money is only authorized: capture it before the authorization expires"
	case f.Order:
		if !reflects {
			return SweepRecord, "the ledger says " + string(f.Charge) + ", the gateway " + f.Intent
		}
		return SweepNone, "the order's payment is settled"
	case f.Checkout.Final():
		switch f.Intent {
		case payment.IntentRequiresCapture, payment.IntentRequiresAction, payment.IntentRequiresPaymentMethod, payment.IntentRequiresConfirmation:
			return SweepVoid, "the checkout is " + string(f.Checkout) + " without an order and its intent is " + f.Intent + ": cancel it"
		case payment.IntentSucceeded:
			if f.Charge != payment.StatusRefunded {
				return SweepRefund, "the checkout is " + string(f.Checkout) + " without an order and the gateway took the money: refund it"
			}
		case payment.IntentProcessing:
			return SweepWait, "the gateway is still processing the payment"
		case "":
			if f.Charge == payment.StatusInitiated {
				return SweepVoid, "the checkout ended before its intent was recorded: close the charge"
			}
		}
		if !reflects {
			return SweepRecord, "the ledger says " + string(f.Charge) + ", the gateway " + f.Intent
		}
		return SweepNone, "settled"
	case !f.Running:
		return SweepFinish, "its saga ended without finishing the checkout: void or refund the payment, release the stock and fail it"
	case !reflects:
		return SweepRecord, "the saga still runs; the ledger says " + string(f.Charge) + ", the gateway " + f.Intent
	}
	return SweepNone, "its saga still runs"
}

// apply carries out f's action and records it.
func (r *Reconciler) apply(ctx context.Context, f *Finding) {
	id := uuid.MustParse(f.CheckoutID)
	var err error
	switch f.Action {
	case SweepResume:
		var resumed bool
		if resumed, err = r.Payments.Resume(ctx, id, r.Resumer); err == nil {
			f.Result = map[bool]string{true: "resumed", false: "nothing waited any more"}[resumed]
		}
	case SweepCapture:
		var tx payment.Transaction
		if tx, err = r.Payments.Capture(ctx, id); err == nil {
			f.Result = "charge " + string(tx.Status)
		}
	case SweepRecord:
		var snap payment.Snapshot
		if snap, err = r.Payments.Sync(ctx, id); err == nil {
			f.Result = "charge " + string(snap.Charge.Status)
		}
	case SweepVoid, SweepRefund, SweepWait:
		var res Result
		if res, err = r.Checkout(ctx, id); err == nil {
			f.Result = res.Action
		}
	case SweepFinish:
		f.Result, err = r.finish(ctx, id)
	}
	if err != nil {
		f.Error = err.Error()
		r.log().WarnContext(ctx, "reconcile: sweep action failed", "checkout_id", id, "action", f.Action, "err", err)
		return
	}
	f.Applied = true
	r.log().InfoContext(ctx, "reconcile: swept", "checkout_id", id, "action", f.Action, "result", f.Result, "reason", f.Reason)
	if err := audit.Write(ctx, r.Pool, audit.Entry{Actor: r.actor(), Action: "reconcile_" + f.Action, CheckoutID: id,
		Detail: map[string]any{"reason": f.Reason, "result": f.Result, "checkout_status": f.Checkout, "charge_status": f.Charge,
			"intent": f.IntentID, "intent_status": f.Intent}}); err != nil {
		f.Error = err.Error()
	}
}

// codeSagaEnded is the failure code of a checkout whose saga ended
// without finishing it (reconciliation undid it).
const codeSagaEnded = "internal_error"

// finish undoes a checkout whose saga ended without finishing it: it
// claims it for compensation (unless its order exists), gives back what
// its payment took or holds, releases its stock and marks it failed.
func (r *Reconciler) finish(ctx context.Context, id uuid.UUID) (string, error) {
	var hasOrder bool
	err := postgres.InTx(ctx, r.Pool, func(tx pgx.Tx) error {
		if err := checkout.BeginCompensationTx(ctx, tx, id); err != nil {
			return err
		}
		var err error
		hasOrder, err = order.ExistsTx(ctx, tx, id)
		return err
	})
	if err != nil {
		return "", err
	}
	if hasOrder {
		return "the order exists: nothing undone", nil
	}
	rev, err := r.Payments.Reverse(ctx, id, payment.OriginReconciliation)
	if err != nil {
		return "", err
	}
	if _, err := r.Inventory.Release(ctx, id); err != nil {
		return "", err
	}
	err = r.Checkouts.Finish(ctx, id, checkout.Failed(codeSagaEnded,
		"the checkout's saga ended without finishing it; reconciliation gave back its payment and released its stock"))
	if err != nil {
		return "", err
	}
	return "payment " + rev.Action + ", stock released, checkout failed", nil
}

// actor is who the sweep's audit rows name.
func (r *Reconciler) actor() string {
	if r.Actor != "" {
		return r.Actor
	}
	return "reconciliation"
}
