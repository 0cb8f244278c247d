package inventory

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/internal/apperr"
)

// Available returns the units of each SKU that are available now (on hand
// minus reserved, over the inventory row and its buckets), read in one
// snapshot with a single statement that takes no lock and writes nothing. A
// catalog product without an inventory row has 0. Use it to refuse a sold-out
// cart before doing any work: a figure below the wanted quantity is a correct
// "out of stock" as of the read (a restock committing at that moment is not
// seen yet); a figure above it is no promise — [Store.Reserve] decides.
//
// With the sold-out cache on ([Store.StartSoldOutCache]), a SKU known sold
// out is answered from memory (its figure is then an upper bound, exact until
// a change that raises it commits), and SKUs found at 0 are remembered; when
// every SKU is known, no database round trip is made.
//
// Errors: [apperr.Invalid] ("skus" empty or over [MaxLines], "skus[i]"
// malformed); [apperr.NotFound], code "product_not_found", Details "sku", for
// a SKU not in the catalog; [apperr.Transient] on timeouts.
func (s *Store) Available(ctx context.Context, skus []string) (map[string]int, error) {
	if len(skus) == 0 || len(skus) > MaxLines {
		return nil, apperr.InvalidField("skus", "must hold 1 to %d SKUs, got %d", MaxLines, len(skus))
	}
	for i, sku := range skus {
		if !skuPattern.MatchString(sku) {
			return nil, apperr.InvalidField(fmt.Sprintf("skus[%d]", i), "malformed SKU %q", sku)
		}
	}
	out := make(map[string]int, len(skus))
	gen := s.soldOut.generation()
	skus = s.soldOut.known(skus, out)
	if len(skus) == 0 {
		return out, nil // every SKU known sold out: no database round trip
	}
	rows, err := s.pool.Query(ctx, `
		SELECT u.sku, p.sku IS NOT NULL, coalesce(l.available, 0)
		FROM unnest($1::text[]) AS u(sku)
		LEFT JOIN products p ON p.sku = u.sku
		LEFT JOIN inventory_levels l ON l.sku = u.sku`, skus)
	if err != nil {
		return nil, classify("available", err)
	}
	defer rows.Close()
	for rows.Next() {
		var sku string
		var known bool
		var n int
		if err := rows.Scan(&sku, &known, &n); err != nil {
			return nil, classify("available", err)
		}
		if !known {
			e := apperr.E(apperr.NotFound, "product_not_found", "no product with SKU %s", sku)
			e.Details = map[string]any{"sku": sku}
			return nil, e
		}
		out[sku] = n
		if n <= 0 {
			s.soldOut.note(gen, sku, 0)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, classify("available", err)
	}
	return out, nil
}

// precheck is what Reserve learns from one lock-free snapshot read before it
// opens a transaction.
type precheck struct {
	// conclusive is true when the read settles the request's shape: the
	// checkout exists, holds no reservation yet, and every SKU is in the
	// catalog. Otherwise Reserve takes its full path, which reports the exact
	// error (or replays).
	conclusive bool
	// refusal is the OutOfStock error to return without a transaction (only
	// when conclusive).
	refusal error
	// buckets is each SKU's inventory.buckets.
	buckets map[string]int
}

// precheckReserve is the sold-out fast path: a single read-only statement,
// outside any transaction, so a refusal takes no row lock and writes nothing.
// A line short of units in the snapshot is short now (the read is as fresh as
// a locking read started at the same moment; units released or restocked
// after it belong to later requests). A line that looks satisfiable is
// re-checked under lock by the strategy.
func (s *Store) precheckReserve(ctx context.Context, checkoutID uuid.UUID, lines, sorted []Line) (precheck, error) {
	skus := make([]string, len(sorted))
	for i, l := range sorted {
		skus[i] = l.SKU
	}
	rows, err := s.pool.Query(ctx, `
		SELECT u.sku, p.sku IS NOT NULL, l.sku IS NOT NULL, coalesce(l.available, 0), coalesce(l.buckets, 1),
			EXISTS (SELECT 1 FROM checkouts WHERE id = $1),
			EXISTS (SELECT 1 FROM reservations WHERE checkout_id = $1)
		FROM unnest($2::text[]) AS u(sku)
		LEFT JOIN products p ON p.sku = u.sku
		LEFT JOIN inventory_levels l ON l.sku = u.sku`, checkoutID, skus)
	if err != nil {
		return precheck{}, classify("reserve", err)
	}
	defer rows.Close()
	type sku struct {
		known, stocked bool
		available      int
	}
	got := make(map[string]sku, len(skus))
	pc := precheck{conclusive: true, buckets: make(map[string]int, len(skus))}
	for rows.Next() {
		var name string
		var k sku
		var buckets int
		var checkoutExists, reserved bool
		if err := rows.Scan(&name, &k.known, &k.stocked, &k.available, &buckets, &checkoutExists, &reserved); err != nil {
			return precheck{}, classify("reserve", err)
		}
		got[name] = k
		pc.buckets[name] = buckets
		if !k.known || !checkoutExists || reserved {
			pc.conclusive = false
		}
	}
	if err := rows.Err(); err != nil {
		return precheck{}, classify("reserve", err)
	}
	if !pc.conclusive {
		return pc, nil
	}
	// The same order of refusals as the locking path: a product without an
	// inventory row first (caller's order), then the first short line in SKU
	// order.
	for _, l := range lines {
		if !got[l.SKU].stocked {
			pc.refusal = outOfStock(l.SKU, l.Quantity, 0)
			return pc, nil
		}
	}
	for _, l := range sorted {
		if a := got[l.SKU].available; a < l.Quantity {
			pc.refusal = outOfStock(l.SKU, l.Quantity, a)
			return pc, nil
		}
	}
	return pc, nil
}
