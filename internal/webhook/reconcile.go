package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stripe/stripe-go/v76"

	"github.com/checkout-dev/checkout/internal/postgres"
)

// Outcomes of Process.
const (
	OutcomeDuplicate  = "duplicate"  // the event id was already recorded: nothing done
	OutcomeReconciled = "reconciled" // a payment row changed (and was audited)
	OutcomeIgnored    = "ignored"    // recorded; nothing to change
)

// Result says what Process did.
type Result struct {
	Outcome    string
	CheckoutID string // the checkout whose payment changed, if any
}

// Process records a verified event once and reconciles in the same
// transaction:
//
//   - payment_intent.succeeded / payment_intent.payment_failed: the charge
//     row (kind charge, provider_payment_id = the intent) still initiated or
//     processing becomes succeeded / failed (failure code: the decline code,
//     else the error code, else payment_failed), with an audit row;
//   - charge.refunded: the refund row of the charge's intent still
//     processing becomes succeeded (and the charge refunded), with an audit
//     row;
//   - anything else, or a row already past those states: recorded, ignored.
func Process(ctx context.Context, pool *pgxpool.Pool, ev stripe.Event, raw []byte) (Result, error) {
	res := Result{Outcome: OutcomeIgnored}
	err := postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
		res = Result{Outcome: OutcomeIgnored}
		tag, err := tx.Exec(ctx, `INSERT INTO stripe_events (id, type, payload) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING`,
			ev.ID, string(ev.Type), string(raw))
		if err != nil {
			return fmt.Errorf("record event: %w", err)
		}
		if tag.RowsAffected() == 0 {
			res.Outcome = OutcomeDuplicate
			return nil
		}
		var changed *changedRow
		switch ev.Type {
		case "payment_intent.succeeded", "payment_intent.payment_failed":
			var pi stripe.PaymentIntent
			if err := json.Unmarshal(ev.Data.Raw, &pi); err != nil || pi.ID == "" {
				return nil // not a PaymentIntent we can read: recorded, ignored
			}
			status, code := "succeeded", ""
			if ev.Type == "payment_intent.payment_failed" {
				status, code = "failed", failureCode(pi.LastPaymentError)
			}
			changed, err = reconcileCharge(ctx, tx, ev, pi.ID, status, code)
		case "charge.refunded":
			var ch stripe.Charge
			if err := json.Unmarshal(ev.Data.Raw, &ch); err != nil || ch.PaymentIntent == nil || ch.PaymentIntent.ID == "" {
				return nil
			}
			refundID := ""
			if ch.Refunds != nil && len(ch.Refunds.Data) > 0 && ch.Refunds.Data[0] != nil {
				refundID = ch.Refunds.Data[0].ID
			}
			changed, err = reconcileRefund(ctx, tx, ev, ch.PaymentIntent.ID, refundID)
		}
		if err != nil {
			return err
		}
		if changed != nil {
			res = Result{Outcome: OutcomeReconciled, CheckoutID: changed.checkoutID.String()}
		}
		return nil
	})
	return res, err
}

func failureCode(e *stripe.Error) string {
	switch {
	case e == nil:
		return "payment_failed"
	case e.DeclineCode != "":
		return string(e.DeclineCode)
	case e.Code != "":
		return string(e.Code)
	}
	return "payment_failed"
}

type changedRow struct {
	id         int64
	checkoutID uuid.UUID
	amount     int64
	currency   string
}

func scanChanged(row pgx.Row) (*changedRow, error) {
	var c changedRow
	err := row.Scan(&c.id, &c.checkoutID, &c.amount, &c.currency)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &c, nil
}

func reconcileCharge(ctx context.Context, tx pgx.Tx, ev stripe.Event, intentID, status, code string) (*changedRow, error) {
	c, err := scanChanged(tx.QueryRow(ctx, `
		UPDATE payment_transactions SET status = $2, failure_code = nullif($3, ''), updated_at = now()
		WHERE kind = 'charge' AND provider_payment_id = $1 AND status IN ('initiated', 'processing')
		RETURNING id, checkout_id, amount, currency`, intentID, status, code))
	if err != nil || c == nil {
		return nil, wrap("reconcile charge", err)
	}
	detail := map[string]any{"event_id": ev.ID, "event_type": string(ev.Type), "intent": intentID, "transaction_id": c.id}
	if code != "" {
		detail["failure_code"] = code
	}
	return c, audit(ctx, tx, c, "charge_"+status, detail)
}

func reconcileRefund(ctx context.Context, tx pgx.Tx, ev stripe.Event, intentID, refundID string) (*changedRow, error) {
	c, err := scanChanged(tx.QueryRow(ctx, `
		UPDATE payment_transactions SET status = 'succeeded', provider_refund_id = coalesce(provider_refund_id, nullif($2, '')), updated_at = now()
		WHERE kind = 'refund' AND provider_payment_id = $1 AND status = 'processing'
		RETURNING id, checkout_id, amount, currency`, intentID, refundID))
	if err != nil || c == nil {
		return nil, wrap("reconcile refund", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE payment_transactions SET status = 'refunded', updated_at = now()
		WHERE kind = 'charge' AND checkout_id = $1 AND status = 'succeeded'`, c.checkoutID); err != nil {
		return nil, fmt.Errorf("mark charge refunded: %w", err)
	}
	return c, audit(ctx, tx, c, "refund_succeeded", map[string]any{"event_id": ev.ID, "event_type": string(ev.Type),
		"intent": intentID, "refund_id": refundID, "transaction_id": c.id})
}

func audit(ctx context.Context, tx pgx.Tx, c *changedRow, action string, detail map[string]any) error {
	_, err := tx.Exec(ctx, `INSERT INTO audit_log (actor, action, checkout_id, amount, currency, detail) VALUES ('stripe_webhook', $1, $2, $3, $4, $5)`,
		action, c.checkoutID, c.amount, c.currency, detail)
	return wrap("audit "+action, err)
}

func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}
