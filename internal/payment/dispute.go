package payment

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Dispute is a card holder's dispute (chargeback) of a charge.
type Dispute struct {
	ID            string `json:"id"`
	PaymentIntent string `json:"payment_intent"`
	Charge        string `json:"charge"`
	Amount        int64  `json:"amount"`
	Currency      string `json:"currency"`
	Reason        string `json:"reason"`
	Status        string `json:"status"`
	CheckoutID    string `json:"checkout_id,omitempty"`
}

// RecordDisputeTx records (or updates) dispute d inside tx, with an audit
// row, linking it to the checkout whose charge went through its intent.
// It returns the checkout id ("" when the intent is not ours) and whether
// the dispute is new. Idempotent.
func RecordDisputeTx(ctx context.Context, tx pgx.Tx, d Dispute) (checkoutID string, created bool, err error) {
	var cid *uuid.UUID
	err = tx.QueryRow(ctx, `SELECT checkout_id FROM payment_transactions WHERE provider_payment_id = $1 AND kind = 'charge'`, d.PaymentIntent).Scan(&cid)
	if err != nil && err != pgx.ErrNoRows {
		return "", false, fmt.Errorf("payment: dispute %s: find checkout: %w", d.ID, err)
	}
	cur := strings.ToUpper(d.Currency)
	var inserted bool
	err = tx.QueryRow(ctx, `
		INSERT INTO payment_disputes (id, checkout_id, provider_payment_id, provider_charge_id, amount, currency, reason, status)
		VALUES ($1, $2, nullif($3, ''), nullif($4, ''), $5, $6, $7, $8)
		ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, updated_at = now()
		RETURNING xmax = 0`, d.ID, cid, d.PaymentIntent, d.Charge, d.Amount, cur, d.Reason, d.Status).Scan(&inserted)
	if err != nil {
		return "", false, fmt.Errorf("payment: record dispute %s: %w", d.ID, err)
	}
	if cid != nil {
		checkoutID = cid.String()
	}
	action := "dispute_updated"
	if inserted {
		action = "dispute_opened"
	}
	var auditCheckout uuid.UUID
	if cid != nil {
		auditCheckout = *cid
	}
	if err := writeAudit(ctx, tx, auditCheckout, action, d.Amount, cur,
		map[string]any{"dispute_id": d.ID, "intent": d.PaymentIntent, "reason": d.Reason, "status": d.Status}); err != nil {
		return "", false, fmt.Errorf("payment: dispute %s: %w", d.ID, err)
	}
	return checkoutID, inserted, nil
}

// CheckoutOfIntent returns the checkout whose charge goes through intentID.
// found is false for an intent that is not ours.
func (s *Service) CheckoutOfIntent(ctx context.Context, intentID string) (id uuid.UUID, found bool, err error) {
	err = s.pool.QueryRow(ctx, `SELECT checkout_id FROM payment_transactions WHERE provider_payment_id = $1 AND kind = 'charge'`, intentID).Scan(&id)
	if err == pgx.ErrNoRows {
		return uuid.Nil, false, nil
	}
	if err != nil {
		return uuid.Nil, false, fmt.Errorf("payment: checkout of intent %s: %w", intentID, err)
	}
	return id, true, nil
}
