package inventory

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/checkout-dev/checkout/internal/apperr"
)

// Release gives back the units of the checkout's reserved lines (saga
// compensation; release_reason "compensation") and reports whether it
// released anything.
//
// Release is idempotent: a second call, a call for a reservation already
// released by expiry, and a call for a checkout that never reserved anything
// all return (false, nil) and change nothing. A Reserve of the same checkout
// that is still running when Release starts finishes first (they share an
// advisory lock), so its stock is released too; a Reserve that starts only
// after Release returned is left to expiry ([Store.ExpireDue]).
//
// Errors: [apperr.Invalid] ("checkout_id" nil); [apperr.State], code
// "reservation_committed", when the reservation was committed (sold units are
// never released); [apperr.Transient] on timeouts or exhausted retries.
func (s *Store) Release(ctx context.Context, checkoutID uuid.UUID) (released bool, err error) {
	if checkoutID == uuid.Nil {
		return false, apperr.InvalidField("checkout_id", "is required")
	}
	var skus []string
	err = s.run(ctx, "release", checkoutID, func(tx pgx.Tx) error {
		released = false
		held, err := loadReservation(ctx, tx, checkoutID, true)
		if err != nil {
			return err
		}
		var deltas []stockDelta
		var entries []auditEntry
		skus = skus[:0]
		for _, h := range held {
			switch h.status {
			case StatusCommitted:
				return apperr.E(apperr.State, "reservation_committed",
					"the reservation of checkout %s was committed and cannot be released", checkoutID)
			case StatusReserved:
				deltas = append(deltas, stockDelta{sku: h.sku, bucket: h.bucket, reserved: -h.quantity})
				skus = append(skus, h.sku)
				entries = append(entries, auditEntry{action: ActionRelease, checkoutID: checkoutID, sku: h.sku,
					quantity: h.quantity, detail: map[string]any{"reason": ReasonCompensation}})
			}
		}
		if len(deltas) == 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE reservations SET status = 'released', release_reason = 'compensation', updated_at = now()
			WHERE checkout_id = $1 AND status = 'reserved'`, checkoutID); err != nil {
			return fmt.Errorf("mark released: %w", err)
		}
		if err := applyDeltas(ctx, tx, deltas); err != nil {
			return err
		}
		if err := s.audit(ctx, tx, entries); err != nil {
			return err
		}
		released = true
		return nil
	})
	if err != nil {
		return false, err
	}
	// Always, even when nothing was released here: the gate's tombstone then
	// keeps a late duplicate Reserve from taking units in the gate.
	if !released {
		skus = nil
	}
	s.gateRelease(ctx, []uuid.UUID{checkoutID}, skus)
	return released, nil
}
