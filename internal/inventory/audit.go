package inventory

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// auditEntry is one audit_log row.
type auditEntry struct {
	action     string
	checkoutID uuid.UUID // uuid.Nil is stored as NULL
	sku        string
	quantity   int
	detail     map[string]any
}

// audit appends entries to audit_log in one statement, inside tx.
func (s *Store) audit(ctx context.Context, tx pgx.Tx, entries []auditEntry) error {
	if len(entries) == 0 {
		return nil
	}
	q, args, err := s.auditSQL(entries)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, q, args...); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// auditSQL returns the statement that appends entries (at least one) to
// audit_log.
func (s *Store) auditSQL(entries []auditEntry) (string, []any, error) {
	actions := make([]string, len(entries))
	checkouts := make([]string, len(entries))
	skus := make([]string, len(entries))
	qtys := make([]int32, len(entries))
	details := make([]string, len(entries))
	for i, e := range entries {
		actions[i], skus[i], qtys[i] = e.action, e.sku, int32(e.quantity)
		if e.checkoutID != uuid.Nil {
			checkouts[i] = e.checkoutID.String()
		}
		d := e.detail
		if d == nil {
			d = map[string]any{}
		}
		b, err := json.Marshal(d)
		if err != nil {
			return "", nil, fmt.Errorf("audit detail: %w", err)
		}
		details[i] = string(b)
	}
	return `
		INSERT INTO audit_log (actor, action, checkout_id, sku, quantity, detail)
		SELECT $1, u.action, NULLIF(u.checkout_id, '')::uuid, u.sku, u.quantity, u.detail::jsonb
		FROM unnest($2::text[], $3::text[], $4::text[], $5::int[], $6::text[])
		     AS u(action, checkout_id, sku, quantity, detail)`,
		[]any{s.opts.Actor, actions, checkouts, skus, qtys, details}, nil
}
