package payment

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/postgres"
)

// Snapshot is a checkout's payment as the ledger holds it after Sync.
type Snapshot struct {
	Charge  Transaction
	Intent  Intent // zero when the charge has no intent
	Refunds []Transaction
}

// Refunded is the sum of the refunds the gateway reports succeeded.
func (s Snapshot) Refunded() int64 { return s.sum(StatusSucceeded) }

// Returning is the sum of the refunds succeeded or still on their way
// (pending, or sent and not yet answered): what a new refund must not
// repeat.
func (s Snapshot) Returning() int64 { return s.sum(StatusSucceeded, StatusPending, StatusProcessing) }

func (s Snapshot) sum(statuses ...Status) int64 {
	var n int64
	for _, r := range s.Refunds {
		for _, st := range statuses {
			if r.Status == st {
				n += r.Amount
			}
		}
	}
	return n
}

// Sync makes the ledger of checkoutID equal to the gateway: it retrieves the
// charge's PaymentIntent and records its status (a status the ledger got
// wrong is corrected, with an audit row), and records every refund the
// gateway holds for it (the saga's, and any made in the dashboard), then
// marks the charge refunded when the succeeded refunds cover it. It never
// moves money.
//
// Errors: NotFound (no charge row), Internal (the intent's amount or
// currency is not the ledger's: nothing is recorded), and the gateway's
// Transient/Unavailable errors.
func (s *Service) Sync(ctx context.Context, checkoutID uuid.UUID) (Snapshot, error) {
	charge, err := s.get(ctx, s.pool, checkoutID, KindCharge)
	if err != nil {
		return Snapshot{}, err
	}
	snap := Snapshot{Charge: charge}
	if charge.ProviderPaymentID != "" {
		if snap.Intent, err = s.getIntent(ctx, charge.ProviderPaymentID); err != nil {
			return Snapshot{}, err
		}
		if err := matches(charge, snap.Intent); err != nil {
			return snap, err
		}
		if c, _ := intentChange(snap.Intent); c.to != "" && !reflects(charge.Status, c.to) {
			c.action = "charge_corrected"
			if charge.Status == StatusInitiated || charge.Status == StatusProcessing || charge.Status == StatusRequiresAction {
				c.action = "charge_" + string(c.to)
			}
			if err := s.transition(ctx, &snap.Charge, c); err != nil && AsTransition(err) == nil {
				return Snapshot{}, err
			}
		}
		if err := s.syncRefunds(ctx, &snap.Charge); err != nil {
			return Snapshot{}, err
		}
	}
	if snap.Refunds, err = s.refundRows(ctx, s.pool, checkoutID); err != nil {
		return Snapshot{}, err
	}
	return snap, nil
}

// syncRefunds records every refund the gateway holds for the charge's
// intent: a known one takes the gateway's status, an unknown one is the
// saga's (sent, its answer lost) when the saga's row is still unanswered
// for the same amount, else a refund made elsewhere (origin gateway). Then
// the charge is settled (settleCharge).
func (s *Service) syncRefunds(ctx context.Context, charge *Transaction) error {
	cctx, cancel := s.callCtx(ctx)
	list, err := s.gw.ListRefunds(cctx, charge.ProviderPaymentID)
	cancel()
	if err != nil {
		return err
	}
	for _, g := range list {
		if g.Currency != "" && g.Currency != charge.Currency {
			return apperr.E(apperr.Internal, CodeAmountMismatch, "refund %s is in %s, the charge in %s", g.ID, g.Currency, charge.Currency)
		}
		row, err := s.refundRowFor(ctx, *charge, g)
		if err != nil {
			return err
		}
		if err := s.recordRefund(ctx, &row, g, "refund_"+g.Status); err != nil && AsTransition(err) == nil {
			return err
		}
	}
	return s.settleCharge(ctx, charge)
}

// refundRowFor finds (or creates) the ledger row of gateway refund g.
func (s *Service) refundRowFor(ctx context.Context, charge Transaction, g Refund) (Transaction, error) {
	id := charge.checkout()
	row, err := scanRow(s.pool.QueryRow(ctx, `SELECT `+rowColumns+` FROM payment_transactions WHERE provider_refund_id = $1`, g.ID))
	if err == nil {
		return row, nil
	}
	if err != pgx.ErrNoRows {
		return Transaction{}, fmt.Errorf("payment: find refund %s: %w", g.ID, err)
	}
	// The saga's refund, sent but never answered?
	tag, err := s.pool.Exec(ctx, `UPDATE payment_transactions SET provider_refund_id = $2, updated_at = now()
		WHERE idempotency_key = $1 AND provider_refund_id IS NULL AND amount = $3`, refundKey(id), g.ID, g.Amount)
	if err != nil {
		return Transaction{}, fmt.Errorf("payment: adopt refund %s: %w", g.ID, err)
	}
	if tag.RowsAffected() == 0 {
		status := refundStatus(g.Status)
		if status == StatusFailed || status == StatusCanceled {
			status = StatusProcessing // inserted as sent, then moved with its audit row below
		}
		err = postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, `
				INSERT INTO payment_transactions (checkout_id, kind, idempotency_key, amount, currency, status, provider_payment_id, provider_refund_id, origin)
				VALUES ($1, 'refund', $2, $3, $4, $5, $6, $7, 'gateway') ON CONFLICT DO NOTHING`,
				id, gatewayRefundKey(g.ID), g.Amount, charge.Currency, status, charge.ProviderPaymentID, g.ID)
			if err != nil || tag.RowsAffected() == 0 {
				return err
			}
			return writeAudit(ctx, tx, id, "refund_found_at_gateway", g.Amount, charge.Currency,
				map[string]any{"refund_id": g.ID, "status": g.Status, "intent": charge.ProviderPaymentID})
		})
		if err != nil {
			return Transaction{}, fmt.Errorf("payment: record refund %s: %w", g.ID, err)
		}
	}
	row, err = scanRow(s.pool.QueryRow(ctx, `SELECT `+rowColumns+` FROM payment_transactions WHERE provider_refund_id = $1`, g.ID))
	if err != nil {
		return Transaction{}, fmt.Errorf("payment: load refund %s: %w", g.ID, err)
	}
	return row, nil
}

// recordRefund moves refund row r to gateway refund g's status.
func (s *Service) recordRefund(ctx context.Context, r *Transaction, g Refund, action string) error {
	c := change{to: refundStatus(g.Status), refundID: g.ID, raw: g.Raw, action: action, failureCode: g.FailureReason,
		detail: map[string]any{"refund_status": g.Status}}
	return s.transition(ctx, r, c)
}

// refundStatus maps a gateway refund status to the ledger's.
func refundStatus(gateway string) Status {
	switch gateway {
	case RefundSucceeded:
		return StatusSucceeded
	case RefundFailed:
		return StatusFailed
	case RefundCanceled:
		return StatusCanceled
	}
	return StatusPending // pending, requires_action: the gateway holds it, not finished
}

// settleCharge marks a succeeded charge refunded once its succeeded refunds
// cover the amount, and puts a refunded charge back to succeeded when they
// no longer do (a refund that failed after it succeeded).
func (s *Service) settleCharge(ctx context.Context, charge *Transaction) error {
	if err := s.reload(ctx, charge); err != nil {
		return err
	}
	var refunded int64
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(sum(amount), 0) FROM payment_transactions
		WHERE checkout_id = $1 AND kind = 'refund' AND status = 'succeeded'`, charge.checkout()).Scan(&refunded); err != nil {
		return fmt.Errorf("payment: sum refunds: %w", err)
	}
	var c change
	switch {
	case charge.Status == StatusSucceeded && refunded >= charge.Amount:
		c = change{to: StatusRefunded, action: "charge_refunded", detail: map[string]any{"refunded": refunded}}
	case charge.Status == StatusRefunded && refunded < charge.Amount:
		c = change{to: StatusSucceeded, action: "charge_refund_reversed", detail: map[string]any{"refunded": refunded}}
	default:
		return nil
	}
	if err := s.transition(ctx, charge, c); err != nil && AsTransition(err) == nil {
		return err
	}
	return nil
}
