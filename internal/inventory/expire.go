package inventory

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/checkout-dev/checkout/internal/apperr"
)

// ExpireDue releases the reserved lines of up to limit checkouts whose
// expires_at <= Options.Now (release_reason "expired", audit action
// "expire") in one transaction, and returns how many checkouts it touched.
//
// Rows are claimed with FOR UPDATE SKIP LOCKED, so several sweepers run side
// by side without blocking each other or a committing order: a row another
// transaction holds is left for the next sweep. Stock is returned in (SKU,
// bucket) order with one UPDATE per stock row. Call it in a loop until it returns less than limit
// to drain a backlog.
//
// Errors: [apperr.Invalid] ("limit" < 1); [apperr.Transient] on timeouts or
// exhausted retries.
func (s *Store) ExpireDue(ctx context.Context, limit int) (int, error) {
	if limit < 1 {
		return 0, apperr.InvalidField("limit", "must be at least 1, got %d", limit)
	}
	now := s.opts.Now()
	var n int
	var expired []uuid.UUID
	var expiredSKUs []string
	err := s.run(ctx, "expire", uuid.Nil, func(tx pgx.Tx) error {
		n, expired, expiredSKUs = 0, nil, nil
		rows, err := tx.Query(ctx, `
			WITH due AS (
				SELECT checkout_id FROM reservations
				WHERE status = 'reserved' AND expires_at <= $1
				GROUP BY checkout_id ORDER BY min(expires_at) LIMIT $2
			)
			SELECT r.checkout_id, r.sku, r.quantity, r.bucket FROM reservations r JOIN due USING (checkout_id)
			WHERE r.status = 'reserved' AND r.expires_at <= $1
			ORDER BY r.checkout_id, r.sku COLLATE "C"
			FOR UPDATE OF r SKIP LOCKED`, now, limit)
		if err != nil {
			return fmt.Errorf("claim due reservations: %w", err)
		}
		type claimed struct {
			checkout uuid.UUID
			sku      string
			quantity int
			bucket   int
		}
		lines, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (claimed, error) {
			var c claimed
			err := r.Scan(&c.checkout, &c.sku, &c.quantity, &c.bucket)
			return c, err
		})
		if err != nil {
			return fmt.Errorf("claim due reservations: %w", err)
		}
		if len(lines) == 0 {
			return nil
		}
		ids := make([]uuid.UUID, len(lines))
		skus := make([]string, len(lines))
		type row struct {
			sku    string
			bucket int
		}
		perRow := map[row]int{}
		checkouts := map[uuid.UUID]bool{}
		entries := make([]auditEntry, len(lines))
		for i, l := range lines {
			ids[i], skus[i] = l.checkout, l.sku
			perRow[row{l.sku, l.bucket}] += l.quantity
			checkouts[l.checkout] = true
			entries[i] = auditEntry{action: ActionExpire, checkoutID: l.checkout, sku: l.sku, quantity: l.quantity,
				detail: map[string]any{"reason": ReasonExpired}}
		}
		if _, err := tx.Exec(ctx, `
			UPDATE reservations r SET status = 'released', release_reason = 'expired', updated_at = now()
			FROM unnest($1::uuid[], $2::text[]) AS u(checkout_id, sku)
			WHERE r.checkout_id = u.checkout_id AND r.sku = u.sku`, ids, skus); err != nil {
			return fmt.Errorf("mark expired: %w", err)
		}
		deltas := make([]stockDelta, 0, len(perRow))
		for r, q := range perRow {
			deltas = append(deltas, stockDelta{sku: r.sku, bucket: r.bucket, reserved: -q})
		}
		slices.SortFunc(deltas, func(a, b stockDelta) int {
			if c := strings.Compare(a.sku, b.sku); c != 0 {
				return c
			}
			return a.bucket - b.bucket
		})
		if err := applyDeltas(ctx, tx, deltas); err != nil {
			return err
		}
		if err := s.audit(ctx, tx, entries); err != nil {
			return err
		}
		n = len(checkouts)
		for id := range checkouts {
			expired = append(expired, id)
		}
		for r := range perRow {
			expiredSKUs = append(expiredSKUs, r.sku)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if n > 0 {
		s.log.InfoContext(ctx, "inventory: expired reservations released", "checkouts", n)
		s.gateRelease(ctx, expired, expiredSKUs)
	}
	return n, nil
}
