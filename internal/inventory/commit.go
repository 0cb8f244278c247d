package inventory

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/checkout-dev/checkout/internal/apperr"
)

// CommitTx turns the checkout's reservation into sold units inside the
// caller's transaction tx (the order transaction): for every line on_hand and
// reserved both drop by the quantity and the reservation becomes committed.
// The caller commits or rolls back tx; nothing is visible before.
//
// CommitTx is idempotent: a reservation already committed returns nil and
// changes nothing. It locks the checkout's reservation rows, so it never
// races the sweeper into counting a line twice: whichever locks first wins,
// the other sees the final status.
//
// Refusals:
//   - [apperr.Expired], code "reservation_expired": released by expiry, or
//     still reserved but expires_at <= Options.Now (the sweeper will release
//     it); the order must not be created.
//   - [apperr.State], code "reservation_released": released by compensation.
//   - [apperr.State], code "reservation_not_found": the checkout holds no
//     reservation.
//
// CommitTx sets lock_timeout for its own statements and restores the
// caller's value afterwards. A lock timeout, serialization failure or
// deadlock is returned as [apperr.Transient]; tx is then aborted and the
// caller must retry its whole transaction.
//
// The stock rows (a hot SKU's one row, in a flash sale the most contended
// lock of the system) are locked last, in the same round trip as the
// lock_timeout restore: call CommitTx as the last step before COMMIT, so
// the row stays locked for that round trip and the commit only, not for the
// rest of the caller's transaction.
func (s *Store) CommitTx(ctx context.Context, tx pgx.Tx, checkoutID uuid.UUID) error {
	if checkoutID == uuid.Nil {
		return apperr.InvalidField("checkout_id", "is required")
	}
	var prev string
	if err := tx.QueryRow(ctx, `SELECT current_setting('lock_timeout'), set_config('lock_timeout', $1, true)`,
		pgInterval(s.opts.LockTimeout)).Scan(&prev, nil); err != nil {
		return classify("commit", err)
	}
	err := s.commitTx(ctx, tx, checkoutID, prev)
	switch {
	case err == nil:
		return nil
	case apperr.As(err) == nil:
		return classify("commit", err) // tx is aborted: nothing to restore
	}
	// A refusal: tx is still usable, give back the caller's setting.
	if rerr := restoreLockTimeout(ctx, tx, prev); rerr != nil {
		return classify("commit", rerr)
	}
	return err
}

// restoreLockTimeout gives the caller's lock_timeout (prev) back.
func restoreLockTimeout(ctx context.Context, tx pgx.Tx, prev string) error {
	_, err := tx.Exec(ctx, `SELECT set_config('lock_timeout', $1, true)`, prev)
	return err
}

// commitTx does CommitTx's work. On success it has given back the caller's
// lock_timeout (prev): in the stock rows' round trip, or at once when the
// reservation was already committed; on a refusal CommitTx does.
func (s *Store) commitTx(ctx context.Context, tx pgx.Tx, checkoutID uuid.UUID, prev string) error {
	held, err := loadReservation(ctx, tx, checkoutID, true)
	if err != nil {
		return err
	}
	if len(held) == 0 {
		return apperr.E(apperr.State, "reservation_not_found", "checkout %s holds no reservation", checkoutID)
	}
	now := s.opts.Now()
	var deltas []stockDelta
	var entries []auditEntry
	for _, h := range held {
		switch h.status {
		case StatusReleased:
			if h.reason == ReasonExpired {
				return apperr.E(apperr.Expired, "reservation_expired",
					"the reservation of checkout %s expired at %s", checkoutID, h.expiresAt.Format(time.RFC3339))
			}
			return apperr.E(apperr.State, "reservation_released",
				"the reservation of checkout %s was released (%s)", checkoutID, h.reason)
		case StatusReserved:
			if !h.expiresAt.After(now) {
				return apperr.E(apperr.Expired, "reservation_expired",
					"the reservation of checkout %s expired at %s", checkoutID, h.expiresAt.Format(time.RFC3339))
			}
			deltas = append(deltas, stockDelta{sku: h.sku, bucket: h.bucket, reserved: -h.quantity, onHand: -h.quantity})
			entries = append(entries, auditEntry{action: ActionCommit, checkoutID: checkoutID, sku: h.sku, quantity: h.quantity})
		}
	}
	if len(deltas) == 0 {
		return restoreLockTimeout(ctx, tx, prev) // already committed
	}
	q, args, err := s.auditSQL(entries)
	if err != nil {
		return err
	}
	// One round trip, last, so the caller's COMMIT follows at once: the
	// stock rows, the reservation's status, its audit rows and the
	// lock_timeout restore.
	b := &pgx.Batch{}
	queueDeltas(b, deltas)
	b.Queue(`UPDATE reservations SET status = 'committed', updated_at = now()
		WHERE checkout_id = $1 AND status = 'reserved'`, checkoutID)
	b.Queue(q, args...)
	b.Queue(`SELECT set_config('lock_timeout', $1, true)`, prev)
	return sendDeltas(tx.SendBatch(ctx, b), deltas)
}
