package payment

import (
	"context"
	"fmt"

	"github.com/google/uuid"
)

// View is a checkout's payment as the ledger and the gateway each see it,
// read without changing either.
type View struct {
	Charge Transaction // the ledger's charge row
	Intent Intent      // the gateway's PaymentIntent; zero when the charge has none
	// Waiting is set while an execution waits, with a recorded task
	// token, for the customer to authenticate.
	Waiting bool
}

// Inspect reads checkoutID's charge from the ledger and its PaymentIntent
// from the gateway. It changes nothing (a dry run's view; Sync records).
//
// Errors: NotFound (no charge row), the gateway's Transient/Unavailable
// errors.
func (s *Service) Inspect(ctx context.Context, checkoutID uuid.UUID) (View, error) {
	var v View
	var err error
	if v.Charge, err = s.get(ctx, s.pool, checkoutID, KindCharge); err != nil {
		return v, err
	}
	if err := s.pool.QueryRow(ctx, `SELECT task_token IS NOT NULL FROM payment_transactions WHERE id = $1`, v.Charge.ID).Scan(&v.Waiting); err != nil {
		return v, fmt.Errorf("payment: inspect: %w", err)
	}
	if v.Charge.ProviderPaymentID != "" {
		if v.Intent, err = s.getIntent(ctx, v.Charge.ProviderPaymentID); err != nil {
			return v, err
		}
	}
	return v, nil
}

// Reflects reports whether the ledger's charge already says what the
// gateway's intent says (nothing to record).
func (v View) Reflects() bool {
	if v.Intent.ID == "" {
		return true
	}
	c, _ := intentChange(v.Intent)
	return c.to == "" || reflects(v.Charge.Status, c.to)
}

// Agrees reports whether the ledger's row tx says what the gateway's
// intent in says about its status (a refunded charge agrees with a
// succeeded intent: refunds say it was refunded).
func Agrees(tx Transaction, in Intent) bool {
	return View{Charge: tx, Intent: in}.Reflects()
}
