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
// new level. On a SKU split over buckets ([Store.SetBuckets]) the available
// units are spread evenly over its buckets again (rebalance on restock). When the product exists but has no inventory row yet, the row is
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
		created, err := lockOrCreate(ctx, tx, sku)
		if err != nil {
			return err
		}
		rows, buckets, _, err := lockStock(ctx, tx, sku)
		if err != nil {
			return err
		}
		prev, reserved := totals(rows)
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
		if err := writeStock(ctx, tx, sku, spread(rows, buckets, onHand-reserved, 0, 0), buckets); err != nil {
			return err
		}
		return s.audit(ctx, tx, []auditEntry{{action: ActionSetOnHand, sku: sku, quantity: onHand,
			detail: map[string]any{"previous": prev, "reserved": reserved, "created": created}}})
	})
	if err != nil {
		return Level{}, err
	}
	s.rearm(ctx, sku) // an armed SKU's gate figure follows the new stock
	return lvl, nil
}

// SetBuckets splits the available units of sku over n buckets (1 to
// [MaxBuckets]; 1 means not split) for the [Bucketed] strategy, and returns the
// SKU's level, which this never changes. It also rebalances: every unit not
// reserved is spread evenly again over the n buckets, including units left
// in buckets no longer in use. Units reserved in a bucket stay there until
// their reservation ends. Give a hot SKU about as many buckets as concurrent
// buyers you expect, divided by 4 (16 for 64 buyers); other strategies ignore
// buckets, so switch strategy only after SetBuckets(sku, 1) on every split
// SKU. No stock changes, so no audit row is written (the call is logged).
//
// Errors: [apperr.Invalid] for a malformed "sku" or "buckets" out of range;
// [apperr.NotFound], code "product_not_found"; [apperr.Transient] on timeouts.
func (s *Store) SetBuckets(ctx context.Context, sku string, n int) (Level, error) {
	if err := validateSKU(sku); err != nil {
		return Level{}, err
	}
	if n < 1 || n > MaxBuckets {
		return Level{}, apperr.InvalidField("buckets", "must be between 1 and %d, got %d", MaxBuckets, n)
	}
	var lvl Level
	var prev int
	err := s.run(ctx, "set_buckets", uuid.Nil, func(tx pgx.Tx) error {
		if _, err := lockOrCreate(ctx, tx, sku); err != nil {
			return err
		}
		rows, prevN, _, err := lockStock(ctx, tx, sku)
		if err != nil {
			return err
		}
		onHand, reserved := totals(rows)
		lvl = newLevel(sku, onHand, reserved)
		prev = prevN
		return writeStock(ctx, tx, sku, spread(rows, n, onHand-reserved, 0, 0), n)
	})
	if err != nil {
		return Level{}, err
	}
	s.log.InfoContext(ctx, "inventory: buckets set", "sku", sku, "buckets", n, "previous", prev, "actor", s.opts.Actor)
	return lvl, nil
}

func totals(rows []stockRow) (onHand, reserved int) {
	for _, r := range rows {
		onHand += r.onHand
		reserved += r.reserved
	}
	return onHand, reserved
}

// lockOrCreate locks sku's inventory row, creating it with zero stock when
// the product has none (created reports that).
func lockOrCreate(ctx context.Context, tx pgx.Tx, sku string) (created bool, err error) {
	for range 2 {
		err = tx.QueryRow(ctx, `SELECT 1 FROM inventory WHERE sku = $1 FOR NO KEY UPDATE`, sku).Scan(nil)
		if err == nil {
			return false, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return false, fmt.Errorf("lock inventory row: %w", err)
		}
		tag, err := tx.Exec(ctx, `INSERT INTO inventory (sku, on_hand)
			SELECT sku, 0 FROM products WHERE sku = $1 ON CONFLICT (sku) DO NOTHING`, sku)
		if err != nil {
			return false, fmt.Errorf("create inventory row: %w", err)
		}
		if tag.RowsAffected() == 1 {
			return true, nil // the insert holds the row lock
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM products WHERE sku = $1)`, sku).Scan(&exists); err != nil {
			return false, fmt.Errorf("look up product: %w", err)
		}
		if !exists {
			return false, apperr.E(apperr.NotFound, "product_not_found", "no product with SKU %s", sku)
		}
		// A concurrent SetOnHand created the row: lock it on the next pass.
	}
	return false, errors.New("inventory row keeps vanishing")
}

// Level returns the stock of sku (the inventory row plus its buckets, read in
// one snapshot without locks). A catalog product without an inventory row has
// zero stock.
//
// Errors: [apperr.Invalid] for a malformed "sku"; [apperr.NotFound], code
// "product_not_found", when sku is not in the catalog.
func (s *Store) Level(ctx context.Context, sku string) (Level, error) {
	if err := validateSKU(sku); err != nil {
		return Level{}, err
	}
	var onHand, reserved int
	err := s.pool.QueryRow(ctx, `SELECT coalesce(i.on_hand, 0), coalesce(i.reserved, 0)
		FROM products p LEFT JOIN inventory_levels i ON i.sku = p.sku WHERE p.sku = $1`, sku).Scan(&onHand, &reserved)
	if errors.Is(err, pgx.ErrNoRows) {
		return Level{}, apperr.E(apperr.NotFound, "product_not_found", "no product with SKU %s", sku)
	}
	if err != nil {
		return Level{}, classify("level", err)
	}
	return newLevel(sku, onHand, reserved), nil
}
