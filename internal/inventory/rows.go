package inventory

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// heldLine is one reservations row.
type heldLine struct {
	sku       string
	quantity  int
	status    string
	reason    string
	expiresAt time.Time
}

// loadReservation returns the checkout's reservation rows in SKU (byte)
// order, locked FOR UPDATE when lock is set.
func loadReservation(ctx context.Context, tx pgx.Tx, checkoutID uuid.UUID, lock bool) ([]heldLine, error) {
	q := `SELECT sku, quantity, status, coalesce(release_reason, ''), expires_at
		FROM reservations WHERE checkout_id = $1 ORDER BY sku COLLATE "C"`
	if lock {
		q += ` FOR UPDATE`
	}
	rows, err := tx.Query(ctx, q, checkoutID)
	if err != nil {
		return nil, fmt.Errorf("load reservation: %w", err)
	}
	held, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (heldLine, error) {
		var h heldLine
		err := r.Scan(&h.sku, &h.quantity, &h.status, &h.reason, &h.expiresAt)
		return h, err
	})
	if err != nil {
		return nil, fmt.Errorf("load reservation: %w", err)
	}
	return held, nil
}

// stockDelta is a change to one inventory row.
type stockDelta struct {
	sku      string
	reserved int // added to reserved
	onHand   int // added to on_hand
}

// applyDeltas updates the inventory rows one by one in the order given (the
// callers sort by SKU), pipelined in one round trip. Every row must exist.
func applyDeltas(ctx context.Context, tx pgx.Tx, deltas []stockDelta) error {
	if len(deltas) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, d := range deltas {
		b.Queue(`UPDATE inventory SET reserved = reserved + $2, on_hand = on_hand + $3,
			version = version + 1, updated_at = now() WHERE sku = $1`, d.sku, d.reserved, d.onHand)
	}
	br := tx.SendBatch(ctx, b)
	for _, d := range deltas {
		tag, err := br.Exec()
		if err == nil && tag.RowsAffected() != 1 {
			err = fmt.Errorf("no inventory row")
		}
		if err != nil {
			_ = br.Close()
			return fmt.Errorf("update stock of %s: %w", d.sku, err)
		}
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("update stock: %w", err)
	}
	return nil
}
