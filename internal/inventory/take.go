package inventory

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/checkout-dev/checkout/internal/apperr"
)

// The three ways to take stock. Each receives the lines sorted by SKU and
// touches the inventory rows in that order, one row at a time, so lock
// acquisition order is the same in every transaction.

// takeConditional runs one conditional UPDATE per line, pipelined in a
// single round trip; PostgreSQL evaluates them in order. A line whose UPDATE
// matched no row lacks stock.
func takeConditional(ctx context.Context, tx pgx.Tx, lines []Line) error {
	b := &pgx.Batch{}
	for _, l := range lines {
		b.Queue(`UPDATE inventory SET reserved = reserved + $2, version = version + 1, updated_at = now()
			WHERE sku = $1 AND on_hand - reserved >= $2`, l.SKU, l.Quantity)
	}
	br := tx.SendBatch(ctx, b)
	short := -1
	for i := range lines {
		tag, err := br.Exec()
		if err != nil {
			_ = br.Close()
			return fmt.Errorf("take %s: %w", lines[i].SKU, err)
		}
		if tag.RowsAffected() == 0 && short < 0 {
			short = i
		}
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("take stock: %w", err)
	}
	if short >= 0 {
		return shortOf(ctx, tx, lines[short])
	}
	return nil
}

// shortOf builds the OutOfStock error for l with the currently available
// quantity.
func shortOf(ctx context.Context, tx pgx.Tx, l Line) error {
	var available int
	err := tx.QueryRow(ctx, `SELECT on_hand - reserved FROM inventory WHERE sku = $1`, l.SKU).Scan(&available)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("read stock of %s: %w", l.SKU, err)
	}
	return outOfStock(l.SKU, l.Quantity, available)
}

// takePessimistic locks each row (FOR NO KEY UPDATE: see the package
// documentation for why not FOR UPDATE), checks it, then updates it.
func takePessimistic(ctx context.Context, tx pgx.Tx, lines []Line) error {
	for _, l := range lines {
		var onHand, reserved int
		err := tx.QueryRow(ctx, `SELECT on_hand, reserved FROM inventory WHERE sku = $1 FOR NO KEY UPDATE`, l.SKU).
			Scan(&onHand, &reserved)
		if errors.Is(err, pgx.ErrNoRows) {
			return outOfStock(l.SKU, l.Quantity, 0)
		}
		if err != nil {
			return fmt.Errorf("lock %s: %w", l.SKU, err)
		}
		if onHand-reserved < l.Quantity {
			return outOfStock(l.SKU, l.Quantity, onHand-reserved)
		}
		if _, err := tx.Exec(ctx, `UPDATE inventory SET reserved = reserved + $2, version = version + 1, updated_at = now()
			WHERE sku = $1`, l.SKU, l.Quantity); err != nil {
			return fmt.Errorf("take %s: %w", l.SKU, err)
		}
	}
	return nil
}

// takeOptimistic reads each row without a lock and updates it only if its
// version is unchanged; a lost race is retried with jittered backoff, up to
// OptimisticRetries times per line, then Reserve fails with Transient.
func (s *Store) takeOptimistic(ctx context.Context, tx pgx.Tx, lines []Line) error {
	for _, l := range lines {
		for attempt := 0; ; attempt++ {
			var onHand, reserved int
			var version int64
			err := tx.QueryRow(ctx, `SELECT on_hand, reserved, version FROM inventory WHERE sku = $1`, l.SKU).
				Scan(&onHand, &reserved, &version)
			if errors.Is(err, pgx.ErrNoRows) {
				return outOfStock(l.SKU, l.Quantity, 0)
			}
			if err != nil {
				return fmt.Errorf("read %s: %w", l.SKU, err)
			}
			if onHand-reserved < l.Quantity {
				return outOfStock(l.SKU, l.Quantity, onHand-reserved)
			}
			tag, err := tx.Exec(ctx, `UPDATE inventory SET reserved = reserved + $2, version = version + 1, updated_at = now()
				WHERE sku = $1 AND version = $3 AND on_hand - reserved >= $2`, l.SKU, l.Quantity, version)
			if err != nil {
				return fmt.Errorf("take %s: %w", l.SKU, err)
			}
			if tag.RowsAffected() == 1 {
				break
			}
			if attempt >= s.opts.OptimisticRetries {
				return apperr.E(apperr.Transient, "contention",
					"inventory: reserve: SKU %s changed under %d attempts, retry", l.SKU, attempt+1)
			}
			if err := sleep(ctx, backoff(attempt+1, 500*time.Microsecond, 20*time.Millisecond)); err != nil {
				return err
			}
		}
	}
	return nil
}
