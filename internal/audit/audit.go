// Package audit owns the append-only audit_log: every change of stock,
// price or money is written here, in the transaction that makes it, by the
// package that owns the changed table. A trigger refuses UPDATE and DELETE,
// so history cannot be rewritten.
package audit

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/checkout-dev/checkout/internal/postgres"
)

// Execer is what Write needs: a pgx.Tx (or a pool, for a row that stands
// alone).
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// hasKeyQuery finds the audit rows of one checkout by its index, in every
// monthly partition of audit_log (a checkout id says nothing of the month;
// docs/partitions.md shows the plan).
const hasKeyQuery = `SELECT EXISTS (SELECT 1 FROM audit_log WHERE checkout_id = $1 AND action = $2 AND detail->>'key' = $3)`

// HasKey reports whether checkoutID has an audit row of action whose
// detail's "key" is key: how a caller that acts once per (checkout, key)
// recognises a repeat (the reconciler's review requests).
func HasKey(ctx context.Context, q postgres.Querier, checkoutID uuid.UUID, action, key string) (bool, error) {
	var found bool
	if err := q.QueryRow(ctx, hasKeyQuery, checkoutID, action, key).Scan(&found); err != nil {
		return false, fmt.Errorf("audit: look up %s %s: %w", action, key, err)
	}
	return found, nil
}

// Entry is one audit_log row. Zero fields are stored as NULL (Detail as {}).
type Entry struct {
	Actor      string    // who: "payment", "inventory", "admin:<user>", "reconcile", ...
	Action     string    // what: "charge_succeeded", "reserve", "product_updated", ...
	CheckoutID uuid.UUID // the checkout concerned, if any
	SKU        string
	Quantity   *int
	Amount     *int64
	Currency   string
	Detail     map[string]any
}

// Money sets the amount and currency of e and returns it.
func (e Entry) Money(amount int64, currency string) Entry {
	e.Amount, e.Currency = &amount, currency
	return e
}

// Units sets the SKU and quantity of e and returns it.
func (e Entry) Units(sku string, quantity int) Entry {
	e.SKU, e.Quantity = sku, &quantity
	return e
}

// Write appends entries to audit_log in one statement on tx.
func Write(ctx context.Context, tx Execer, entries ...Entry) error {
	if len(entries) == 0 {
		return nil
	}
	q, args, err := Statement(entries...)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, q, args...); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// Statement returns the one statement that appends entries (at least one)
// to audit_log, for a caller that sends it in a batch of its own (the
// inventory's reservation round trip). Write runs it.
func Statement(entries ...Entry) (string, []any, error) {
	n := len(entries)
	actors, actions, checkouts, skus, currencies, details := make([]string, n), make([]string, n), make([]*string, n),
		make([]*string, n), make([]*string, n), make([]string, n)
	quantities, amounts := make([]*int32, n), make([]*int64, n)
	for i, e := range entries {
		if e.Actor == "" || e.Action == "" {
			return "", nil, fmt.Errorf("audit: entry %d has no actor or action", i)
		}
		actors[i], actions[i], amounts[i] = e.Actor, e.Action, e.Amount
		if e.CheckoutID != uuid.Nil {
			s := e.CheckoutID.String()
			checkouts[i] = &s
		}
		if e.SKU != "" {
			skus[i] = &e.SKU
		}
		if e.Currency != "" {
			currencies[i] = &e.Currency
		}
		if e.Quantity != nil {
			q := int32(*e.Quantity)
			quantities[i] = &q
		}
		d := e.Detail
		if d == nil {
			d = map[string]any{}
		}
		b, err := json.Marshal(d)
		if err != nil {
			return "", nil, fmt.Errorf("audit: %s detail: %w", e.Action, err)
		}
		details[i] = string(b)
	}
	return `
		INSERT INTO audit_log (actor, action, checkout_id, sku, quantity, amount, currency, detail)
		SELECT u.actor, u.action, u.checkout_id::uuid, u.sku, u.quantity, u.amount, u.currency, u.detail::jsonb
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::bigint[], $7::text[], $8::text[])
		     AS u(actor, action, checkout_id, sku, quantity, amount, currency, detail)`, []any{actors, actions, checkouts, skus, quantities, amounts, currencies, details}, nil
}
