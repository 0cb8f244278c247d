package inventory

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/checkout-dev/checkout/internal/apperr"
)

// SetOnHand sets the on-hand stock of sku (an admin operation) and returns the
// new level. When the product exists but has no inventory row yet, the row is
// created. Setting the current value again changes nothing and writes no
// audit row; any change (or the creation of the row) writes one audit row
// (action "set_on_hand", quantity the new on-hand, detail {"previous",
// "reserved", "created"}).
//
// Errors: [apperr.Invalid] for a malformed "sku" or a negative "quantity"
// (the admin API's body field); [apperr.NotFound], code "product_not_found",
// when sku is not in the catalog; [apperr.Conflict], code
// "below_reserved", when onHand is below the units currently reserved
// (Details sku, reserved, requested); [apperr.Transient] on timeouts.
func (s *Store) SetOnHand(ctx context.Context, sku string, onHand int) (Level, error) {
	if err := validateSKU(sku); err != nil {
		return Level{}, err
	}
	if onHand < 0 || onHand > 1<<31-1 {
		return Level{}, apperr.InvalidField("quantity", "must be between 0 and %d, got %d", 1<<31-1, onHand)
	}
	var lvl Level
	err := s.run(ctx, "set_on_hand", uuid.Nil, func(tx pgx.Tx) error {
		prev, reserved, created, err := lockOrCreate(ctx, tx, sku)
		if err != nil {
			return err
		}
		if onHand < reserved {
			e := apperr.E(apperr.Conflict, "below_reserved",
				"cannot set on-hand stock of %s to %d: %d units are reserved", sku, onHand, reserved)
			e.Field = "quantity"
			e.Details = map[string]any{"sku": sku, "reserved": reserved, "requested": onHand}
			return e
		}
		lvl = newLevel(sku, onHand, reserved)
		if prev == onHand && !created {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE inventory SET on_hand = $2, version = version + 1, updated_at = now()
			WHERE sku = $1`, sku, onHand); err != nil {
			return fmt.Errorf("set on hand: %w", err)
		}
		return s.audit(ctx, tx, []auditEntry{{action: ActionSetOnHand, sku: sku, quantity: onHand,
			detail: map[string]any{"previous": prev, "reserved": reserved, "created": created}}})
	})
	if err != nil {
		return Level{}, err
	}
	return lvl, nil
}

// lockOrCreate locks sku's inventory row, creating it with zero stock when
// the product has none (created reports that).
func lockOrCreate(ctx context.Context, tx pgx.Tx, sku string) (prev, reserved int, created bool, err error) {
	for range 2 {
		err = tx.QueryRow(ctx, `SELECT on_hand, reserved FROM inventory WHERE sku = $1 FOR NO KEY UPDATE`, sku).
			Scan(&prev, &reserved)
		if err == nil {
			return prev, reserved, false, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return 0, 0, false, fmt.Errorf("lock inventory row: %w", err)
		}
		tag, err := tx.Exec(ctx, `INSERT INTO inventory (sku, on_hand)
			SELECT sku, 0 FROM products WHERE sku = $1 ON CONFLICT (sku) DO NOTHING`, sku)
		if err != nil {
			return 0, 0, false, fmt.Errorf("create inventory row: %w", err)
		}
		if tag.RowsAffected() == 1 {
			return 0, 0, true, nil // the insert holds the row lock
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM products WHERE sku = $1)`, sku).Scan(&exists); err != nil {
			return 0, 0, false, fmt.Errorf("look up product: %w", err)
		}
		if !exists {
			return 0, 0, false, apperr.E(apperr.NotFound, "product_not_found", "no product with SKU %s", sku)
		}
		// A concurrent SetOnHand created the row: lock it on the next pass.
	}
	return 0, 0, false, errors.New("inventory row keeps vanishing")
}

// Level returns the stock of sku. A catalog product without an inventory row
// has zero stock.
//
// Errors: [apperr.Invalid] for a malformed "sku"; [apperr.NotFound], code
// "product_not_found", when sku is not in the catalog.
func (s *Store) Level(ctx context.Context, sku string) (Level, error) {
	if err := validateSKU(sku); err != nil {
		return Level{}, err
	}
	var onHand, reserved int
	err := s.pool.QueryRow(ctx, `SELECT coalesce(i.on_hand, 0), coalesce(i.reserved, 0)
		FROM products p LEFT JOIN inventory i ON i.sku = p.sku WHERE p.sku = $1`, sku).Scan(&onHand, &reserved)
	if errors.Is(err, pgx.ErrNoRows) {
		return Level{}, apperr.E(apperr.NotFound, "product_not_found", "no product with SKU %s", sku)
	}
	if err != nil {
		return Level{}, classify("level", err)
	}
	return newLevel(sku, onHand, reserved), nil
}
