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
	bucket    int // 0: the inventory row; 1..64: an inventory_buckets row
}

// loadReservation returns the checkout's reservation rows in SKU (byte)
// order, locked FOR UPDATE when lock is set.
func loadReservation(ctx context.Context, tx pgx.Tx, checkoutID uuid.UUID, lock bool) ([]heldLine, error) {
	q := `SELECT sku, quantity, status, coalesce(release_reason, ''), expires_at, bucket
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
		err := r.Scan(&h.sku, &h.quantity, &h.status, &h.reason, &h.expiresAt, &h.bucket)
		return h, err
	})
	if err != nil {
		return nil, fmt.Errorf("load reservation: %w", err)
	}
	return held, nil
}

// stockDelta is a change to one stock row: the inventory row (bucket 0) or
// one of its inventory_buckets rows.
type stockDelta struct {
	sku      string
	bucket   int
	reserved int // added to reserved
	onHand   int // added to on_hand
}

// applyDeltas updates the stock rows one by one in the order given (the
// callers sort by SKU, then bucket: the lock order of the package), pipelined
// in one round trip. Every row must exist.
func applyDeltas(ctx context.Context, tx pgx.Tx, deltas []stockDelta) error {
	if len(deltas) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	queueDeltas(b, deltas)
	return sendDeltas(tx.SendBatch(ctx, b), deltas)
}

// queueDeltas queues the stock row updates of deltas on b, in their order.
func queueDeltas(b *pgx.Batch, deltas []stockDelta) {
	for _, d := range deltas {
		if d.bucket == 0 {
			b.Queue(`UPDATE inventory SET reserved = reserved + $2, on_hand = on_hand + $3,
				version = version + 1, updated_at = now() WHERE sku = $1`, d.sku, d.reserved, d.onHand)
			continue
		}
		b.Queue(`UPDATE inventory_buckets SET reserved = reserved + $2, on_hand = on_hand + $3,
			updated_at = now() WHERE sku = $1 AND bucket = $4`, d.sku, d.reserved, d.onHand, d.bucket)
	}
}

// sendDeltas reads the results of the updates queueDeltas queued first on
// br's batch and closes br (which reads any statements queued after them).
func sendDeltas(br pgx.BatchResults, deltas []stockDelta) error {
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
