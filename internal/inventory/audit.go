package inventory

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/checkout-dev/checkout/internal/audit"
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
// audit_log: the audit package's, so the reservation can send it in its
// own round trip.
func (s *Store) auditSQL(entries []auditEntry) (string, []any, error) {
	out := make([]audit.Entry, len(entries))
	for i, e := range entries {
		out[i] = audit.Entry{Actor: s.opts.Actor, Action: e.action, CheckoutID: e.checkoutID, Detail: e.detail}.Units(e.sku, e.quantity)
	}
	return audit.Statement(out...)
}
