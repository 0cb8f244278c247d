package invariants

import (
	"context"
	"fmt"
)

// checkStock proves invariant 1 and the "no stock left held" half of
// invariant 3 with SQL over the snapshot.
func (s *snapshot) checkStock(ctx context.Context, rep *Report) error {
	var skus int
	if err := s.tx.QueryRow(ctx, `SELECT count(*) FROM inventory_levels`).Scan(&skus); err != nil {
		return fmt.Errorf("invariants: stock: %w", err)
	}
	rep.count("SKUs", int64(skus))

	chk := rep.check("stock_never_oversold", "on-hand >= 0 and 0 <= reserved <= on-hand for every SKU, buckets included")
	chk.saw(skus)
	if err := s.each(ctx, `SELECT sku, on_hand, reserved FROM inventory_levels WHERE on_hand < 0 OR reserved < 0 OR reserved > on_hand`,
		func(sku string, a, b int64) { chk.fail(sku, "on_hand %d, reserved %d", a, b) }); err != nil {
		return err
	}

	chk = rep.check("stock_reserved_matches_holds", "a SKU's reserved units are exactly its open reservations")
	chk.saw(skus)
	if err := s.each(ctx, `
		SELECT l.sku, l.reserved, coalesce(r.held, 0) FROM inventory_levels l
		LEFT JOIN (SELECT sku, sum(quantity) AS held FROM reservations WHERE status = 'reserved' GROUP BY sku) r USING (sku)
		WHERE l.reserved <> coalesce(r.held, 0)`,
		func(sku string, reserved, held int64) {
			chk.fail(sku, "reserved %d, open reservations hold %d", reserved, held)
		}); err != nil {
		return err
	}

	chk = rep.check("stock_sold_matches_orders", "units taken from stock since it was last set are exactly the units in orders")
	chk.saw(skus)
	// on_hand = (the last quantity set) - (units committed to orders since).
	if err := s.each(ctx, `
		WITH last_set AS (
			SELECT DISTINCT ON (sku) sku, id, quantity FROM audit_log WHERE action = 'set_on_hand' ORDER BY sku, id DESC
		), committed AS (
			SELECT a.sku, sum(a.quantity) AS units FROM audit_log a JOIN last_set l ON l.sku = a.sku AND a.id > l.id
			WHERE a.action = 'commit' GROUP BY a.sku
		)
		SELECT l.sku, lv.on_hand, l.quantity - coalesce(c.units, 0)
		FROM last_set l JOIN inventory_levels lv USING (sku) LEFT JOIN committed c USING (sku)
		WHERE lv.on_hand <> l.quantity - coalesce(c.units, 0)`,
		func(sku string, onHand, want int64) {
			chk.fail(sku, "on_hand %d, but stock set minus units sold since is %d", onHand, want)
		}); err != nil {
		return err
	}
	if err := s.each(ctx, `
		SELECT coalesce(o.checkout_id, r.checkout_id)::text || '/' || coalesce(o.sku, r.sku), coalesce(o.quantity, 0), coalesce(r.quantity, 0)
		FROM (SELECT o.checkout_id, i.sku, i.quantity FROM orders o JOIN order_items i ON i.order_id = o.id) o
		FULL JOIN (SELECT checkout_id, sku, quantity FROM reservations WHERE status = 'committed') r
			ON r.checkout_id = o.checkout_id AND r.sku = o.sku
		WHERE coalesce(o.quantity, 0) <> coalesce(r.quantity, 0)`,
		func(line string, ordered, committed int64) {
			chk.fail(line, "order line of %d units, committed reservation of %d", ordered, committed)
		}); err != nil {
		return err
	}

	chk = rep.check("no_stock_held", "no hold outlives its checkout, nor its expiry by more than the sweeper's grace")
	var held int
	if err := s.tx.QueryRow(ctx, `SELECT count(*) FROM reservations`).Scan(&held); err != nil {
		return err
	}
	chk.saw(held)
	return s.each(ctx, `
		SELECT r.checkout_id::text || '/' || r.sku, r.quantity, extract(epoch FROM now() - r.expires_at)::bigint
		FROM reservations r JOIN checkouts c ON c.id = r.checkout_id
		WHERE r.status = 'reserved' AND (c.status IN ('completed', 'failed', 'needs_review') OR r.expires_at < now() - make_interval(secs => $1))`,
		func(line string, qty, pastExpiry int64) {
			chk.fail(line, "%d units still held (expiry %+ds ago) for a checkout that ended or expired", qty, pastExpiry)
		}, s.o.HoldGrace.Seconds())
}

// each runs a query returning (text, bigint, bigint) rows.
func (s *snapshot) each(ctx context.Context, sql string, fn func(string, int64, int64), args ...any) error {
	rows, err := s.tx.Query(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("invariants: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var a, b int64
		if err := rows.Scan(&k, &a, &b); err != nil {
			return err
		}
		fn(k, a, b)
	}
	return rows.Err()
}
