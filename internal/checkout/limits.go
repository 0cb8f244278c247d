package checkout

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/checkout-dev/checkout/internal/apperr"
)

// DefaultMaxUnfinished is how many checkouts one customer may have in
// flight (pending, processing or waiting for authentication) at once.
const DefaultMaxUnfinished = 3

// Codes of the limit errors (apperr State: HTTP 409).
const (
	CodeTooManyUnfinished = "too_many_unfinished_checkouts"
	CodePurchaseLimit     = "purchase_limit_exceeded"
)

// SetMaxUnfinished sets how many unfinished checkouts one customer may have
// (n <= 0: DefaultMaxUnfinished). Call it before the Store is used.
func (s *Store) SetMaxUnfinished(n int) {
	if n <= 0 {
		n = DefaultMaxUnfinished
	}
	s.maxUnfinished = n
}

// checkLimits enforces, inside the transaction creating a checkout for
// userID, the two limits that stop a customer from holding stock without
// buying it: at most s.maxUnfinished checkouts in flight, and per SKU at
// most its max_per_customer units over every checkout of theirs that did
// not fail (completed, in flight or under review) plus this one. The
// customer's creations serialise on a transaction advisory lock, so two
// concurrent checkouts cannot both squeeze under a limit.
//
// Errors: apperr State with CodeTooManyUnfinished or CodePurchaseLimit
// (details name the SKU, the limit and what is already held), nothing
// written.
func (s *Store) checkLimits(ctx context.Context, tx pgx.Tx, userID string, items []PricedItem, caps map[string]int) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('checkout-user:' || $1, 0))`, userID); err != nil {
		return fmt.Errorf("checkout: lock customer: %w", err)
	}
	var unfinished int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM checkouts WHERE user_id = $1 AND status IN ('pending', 'processing', 'requires_action')`,
		userID).Scan(&unfinished); err != nil {
		return fmt.Errorf("checkout: count unfinished: %w", err)
	}
	if unfinished >= s.maxUnfinished {
		return &apperr.Error{Kind: apperr.State, Code: CodeTooManyUnfinished,
			Message: fmt.Sprintf("you already have %d checkouts in progress; wait for one to finish (GET /v1/checkouts/{id}?wait=20) before starting another", unfinished),
			Details: map[string]any{"unfinished": unfinished, "limit": s.maxUnfinished}}
	}
	var capped []string
	for _, it := range items {
		if caps[it.SKU] > 0 {
			capped = append(capped, it.SKU)
		}
	}
	if len(capped) == 0 {
		return nil
	}
	rows, err := tx.Query(ctx, `
		SELECT ci.sku, sum(ci.quantity)::int FROM checkout_items ci JOIN checkouts c ON c.id = ci.checkout_id
		WHERE c.user_id = $1 AND c.status <> 'failed' AND ci.sku = ANY($2) GROUP BY ci.sku`, userID, capped)
	if err != nil {
		return fmt.Errorf("checkout: count purchases: %w", err)
	}
	held := map[string]int{}
	for rows.Next() {
		var sku string
		var n int
		if err := rows.Scan(&sku, &n); err != nil {
			return fmt.Errorf("checkout: count purchases: %w", err)
		}
		held[sku] = n
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("checkout: count purchases: %w", err)
	}
	for i, it := range items {
		limit := caps[it.SKU]
		if limit > 0 && held[it.SKU]+it.Quantity > limit {
			return &apperr.Error{Kind: apperr.State, Code: CodePurchaseLimit, Field: fmt.Sprintf("items[%d].quantity", i),
				Message: fmt.Sprintf("%s is limited to %d per customer; you have %d in other checkouts, so at most %d more",
					it.SKU, limit, held[it.SKU], max(limit-held[it.SKU], 0)),
				Details: map[string]any{"sku": it.SKU, "limit": limit, "held": held[it.SKU], "field": fmt.Sprintf("items[%d].quantity", i)}}
		}
	}
	return nil
}
