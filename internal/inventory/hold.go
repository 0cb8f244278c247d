package inventory

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/audit"
)

// CheckHeld verifies that checkoutID still holds its stock at time at: the
// gate before any attempt to take money (a payment must never be attempted
// for stock the checkout no longer holds).
//
// Errors: [apperr.Expired] code reservation_expired (the hold ran out, or
// the sweeper released it as expired); [apperr.State] code
// reservation_released or reservation_committed; [apperr.NotFound] code
// reservation_not_found.
func (s *Store) CheckHeld(ctx context.Context, checkoutID uuid.UUID, at time.Time) error {
	rows, err := s.pool.Query(ctx, `SELECT sku, quantity, status, coalesce(release_reason, ''), expires_at, bucket
		FROM reservations WHERE checkout_id = $1`, checkoutID)
	if err != nil {
		return fmt.Errorf("inventory: check hold: %w", err)
	}
	held, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (heldLine, error) {
		var h heldLine
		err := r.Scan(&h.sku, &h.quantity, &h.status, &h.reason, &h.expiresAt, &h.bucket)
		return h, err
	})
	if err != nil {
		return fmt.Errorf("inventory: check hold: %w", err)
	}
	return heldAt(checkoutID, held, at)
}

func heldAt(checkoutID uuid.UUID, held []heldLine, at time.Time) error {
	if len(held) == 0 {
		return apperr.E(apperr.NotFound, "reservation_not_found", "checkout %s holds no stock", checkoutID)
	}
	for _, h := range held {
		switch {
		case h.status == StatusCommitted:
			return apperr.E(apperr.State, "reservation_committed", "the reservation of checkout %s was already committed", checkoutID)
		case h.status == StatusReleased && h.reason == ReasonExpired:
			return apperr.E(apperr.Expired, "reservation_expired", "the reservation of checkout %s expired", checkoutID)
		case h.status == StatusReleased:
			return apperr.E(apperr.State, "reservation_released", "the reservation of checkout %s was released", checkoutID)
		case !h.expiresAt.After(at):
			return apperr.E(apperr.Expired, "reservation_expired", "the reservation of checkout %s expired at %s",
				checkoutID, h.expiresAt.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

// Extend makes checkoutID's held stock last at least until until (a hold
// is never shortened): a checkout waiting for its customer to authenticate
// the payment keeps its units for the whole wait. Audited. Idempotent.
//
// Errors: those of CheckHeld, checked at the time of the call.
func (s *Store) Extend(ctx context.Context, checkoutID uuid.UUID, until time.Time) error {
	now := s.opts.Now()
	return s.run(ctx, "extend", checkoutID, func(tx pgx.Tx) error {
		held, err := loadReservation(ctx, tx, checkoutID, true)
		if err != nil {
			return err
		}
		if err := heldAt(checkoutID, held, now); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE reservations SET expires_at = $2, updated_at = now()
			WHERE checkout_id = $1 AND status = 'reserved' AND expires_at < $2`, checkoutID, until.UTC())
		if err != nil {
			return fmt.Errorf("inventory: extend: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		return audit.Write(ctx, tx, audit.Entry{Actor: s.opts.Actor, Action: "extend", CheckoutID: checkoutID,
			Detail: map[string]any{"expires_at": until.UTC()}})
	})
}
