package inventory

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/checkout-dev/checkout/internal/apperr"
)

// Reserve holds every line for checkoutID until expiresAt, all or nothing, in
// one transaction. Inventory rows are locked in ascending SKU order, so two
// carts sharing SKUs never deadlock whatever order their lines came in.
//
// Reserve is idempotent per checkout: when the checkout already holds exactly
// these lines (same SKUs and quantities, any order), it returns that
// reservation with Replayed set and its original ExpiresAt, without touching
// stock. Concurrent calls for one checkout are serialised (advisory lock, and
// the reservation rows are inserted before any stock is taken, so a duplicate
// also waits on the primary key), so exactly one of them takes the stock.
//
// For [Bucketed] and [Conditional] the whole reserve is one server-side
// function call, and concurrent single-line calls are combined into one
// transaction (see the package documentation); with the sold-out cache on, a
// line known to lack the units is refused without a database round trip.
//
// Errors (all leave nothing written):
//   - [apperr.Invalid] naming the field: "checkout_id" (nil), "items" (empty,
//     more than [MaxLines]), "items[i].sku" (malformed, duplicate, or unknown
//     SKU), "items[i].quantity" (below 1 or above [MaxQuantity]),
//     "expires_at" (not after Options.Now).
//   - [apperr.OutOfStock], code "out_of_stock", Details "sku", "requested"
//     and "available": the first line (in SKU order) that cannot be held.
//   - [apperr.State], code "reservation_released" or "reservation_committed":
//     the checkout's reservation already ended.
//   - [apperr.Expired], code "reservation_expired": the checkout's
//     reservation exists but its expires_at has passed (not swept yet).
//   - [apperr.Conflict], code "reservation_mismatch": the checkout already
//     holds a reservation with other lines.
//   - [apperr.NotFound], code "checkout_not_found": no such checkout row.
//   - [apperr.Transient]: contention outlasted the retries, or a lock or
//     statement timeout; safe to retry.
func (s *Store) Reserve(ctx context.Context, checkoutID uuid.UUID, lines []Line, expiresAt time.Time) (Reservation, error) {
	now := s.opts.Now()
	sorted, err := validateReserve(checkoutID, lines, expiresAt, now)
	if err != nil {
		return Reservation{}, err
	}
	if !s.opts.Strategy.valid() {
		return Reservation{}, apperr.E(apperr.Internal, "internal", "inventory: unknown strategy %q", s.opts.Strategy)
	}
	expiresAt = expiresAt.UTC().Truncate(time.Microsecond)
	if s.opts.Strategy == Gated {
		return s.reserveGated(ctx, checkoutID, lines, sorted, expiresAt, now)
	}
	return s.reserveCached(ctx, checkoutID, lines, sorted, expiresAt, now)
}

// reserveCached is the database reserve behind the sold-out cache: a line
// known to lack the units is refused without a round trip, and the answer
// teaches the cache.
func (s *Store) reserveCached(ctx context.Context, checkoutID uuid.UUID, lines, sorted []Line, expiresAt, now time.Time) (Reservation, error) {
	if err := s.soldOut.refuse(checkoutID, sorted); err != nil {
		return Reservation{}, err // known sold out: no database round trip at all
	}
	gen := s.soldOut.generation()
	res, err := s.reserve(ctx, checkoutID, lines, sorted, expiresAt, now)
	if err != nil {
		s.soldOut.noteErr(gen, err)
		return Reservation{}, err
	}
	s.soldOut.reserved(checkoutID)
	return res, nil
}

func (s *Store) reserve(ctx context.Context, checkoutID uuid.UUID, lines, sorted []Line, expiresAt, now time.Time) (Reservation, error) {
	if s.serverSide() {
		if len(sorted) == 1 && !s.opts.NoCombine {
			return s.reserveCombined(ctx, checkoutID, lines, sorted, expiresAt, now)
		}
		return s.reserveFn(ctx, checkoutID, lines, sorted, expiresAt, now)
	}
	pc, err := s.precheckReserve(ctx, checkoutID, lines, sorted)
	if err != nil {
		return Reservation{}, err
	}
	if pc.refusal != nil {
		return Reservation{}, pc.refusal // sold out: no transaction, no lock, no write
	}
	var res Reservation
	err = s.run(ctx, "reserve", checkoutID, func(tx pgx.Tx) error {
		var err error
		res, err = s.reserveTx(ctx, tx, checkoutID, lines, sorted, expiresAt, now, pc)
		return err
	})
	if err != nil {
		if constraintOf(err) == "reservations_checkout_id_fkey" {
			return Reservation{}, &apperr.Error{Kind: apperr.NotFound, Code: "checkout_not_found", Field: "checkout_id",
				Message: fmt.Sprintf("checkout %s does not exist", checkoutID), Err: err}
		}
		return Reservation{}, err
	}
	return res, nil
}

func (s *Store) reserveTx(ctx context.Context, tx pgx.Tx, checkoutID uuid.UUID, lines, sorted []Line, expiresAt, now time.Time, pc precheck) (Reservation, error) {
	skus := make([]string, len(sorted))
	qtys := make([]int32, len(sorted))
	for i, l := range sorted {
		skus[i], qtys[i] = l.SKU, int32(l.Quantity)
	}
	// The precheck already saw every SKU in the catalog with its inventory
	// row (neither is ever deleted); otherwise look again, under the lock.
	if !pc.conclusive {
		if err := checkSKUs(ctx, tx, lines, skus); err != nil {
			return Reservation{}, err
		}
	}

	// Insert the reservation rows first: a concurrent duplicate (if it ever got
	// past the advisory lock) waits on the primary key, then sees ours.
	var existing, inserted int
	err := tx.QueryRow(ctx, `
		WITH existing AS (SELECT count(*) AS n FROM reservations WHERE checkout_id = $1),
		ins AS (
			INSERT INTO reservations (checkout_id, sku, quantity, expires_at)
			SELECT $1, u.sku, u.quantity, $4
			FROM unnest($2::text[], $3::int[]) AS u(sku, quantity)
			WHERE (SELECT n FROM existing) = 0
			ON CONFLICT (checkout_id, sku) DO NOTHING
			RETURNING 1
		)
		SELECT (SELECT n FROM existing), (SELECT count(*) FROM ins)`,
		checkoutID, skus, qtys, expiresAt).Scan(&existing, &inserted)
	if err != nil {
		return Reservation{}, fmt.Errorf("insert reservations: %w", err)
	}
	if existing > 0 || inserted != len(sorted) {
		return replay(ctx, tx, checkoutID, sorted, now)
	}

	entries := make([]auditEntry, len(sorted))
	for i, l := range sorted {
		entries[i] = auditEntry{action: ActionReserve, checkoutID: checkoutID, sku: l.SKU, quantity: l.Quantity,
			detail: map[string]any{"strategy": string(s.opts.Strategy), "expires_at": expiresAt}}
	}
	// The audit rows go in before the stock is taken so that the hot inventory
	// rows stay locked for as short a time as possible; on failure everything
	// rolls back together.
	if s.opts.Strategy == Bucketed {
		// The audit insert rides in the same round trip as the first take.
		err = s.takeBucketed(ctx, tx, checkoutID, sorted, pc.buckets, func(b *pgx.Batch) func(pgx.BatchResults) error {
			q, args, err := s.auditSQL(entries)
			if err != nil {
				return func(pgx.BatchResults) error { return err }
			}
			b.Queue(q, args...)
			return func(br pgx.BatchResults) error {
				if _, err := br.Exec(); err != nil {
					return fmt.Errorf("audit: %w", err)
				}
				return nil
			}
		})
		if err != nil {
			return Reservation{}, err
		}
		return Reservation{CheckoutID: checkoutID, Lines: sorted, ExpiresAt: expiresAt}, nil
	}
	if err := s.audit(ctx, tx, entries); err != nil {
		return Reservation{}, err
	}

	switch s.opts.Strategy {
	case Pessimistic:
		err = takePessimistic(ctx, tx, sorted)
	case Optimistic:
		err = s.takeOptimistic(ctx, tx, sorted)
	default:
		err = takeConditional(ctx, tx, sorted)
	}
	if err != nil {
		return Reservation{}, err
	}
	return Reservation{CheckoutID: checkoutID, Lines: sorted, ExpiresAt: expiresAt}, nil
}

// checkSKUs reports the first line (in the caller's order) whose SKU is not in
// the catalog as Invalid, and a catalog SKU without an inventory row as out of
// stock.
func checkSKUs(ctx context.Context, tx pgx.Tx, lines []Line, skus []string) error {
	rows, err := tx.Query(ctx, `
		SELECT p.sku, i.sku IS NOT NULL
		FROM products p LEFT JOIN inventory i ON i.sku = p.sku
		WHERE p.sku = ANY($1::text[])`, skus)
	if err != nil {
		return fmt.Errorf("look up SKUs: %w", err)
	}
	stocked := make(map[string]bool, len(skus))
	for rows.Next() {
		var sku string
		var has bool
		if err := rows.Scan(&sku, &has); err != nil {
			return fmt.Errorf("look up SKUs: %w", err)
		}
		stocked[sku] = has
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("look up SKUs: %w", err)
	}
	for i, l := range lines {
		has, known := stocked[l.SKU]
		if !known {
			return apperr.InvalidField(fmt.Sprintf("items[%d].sku", i), "unknown SKU %q", l.SKU)
		}
		if !has {
			return outOfStock(l.SKU, l.Quantity, 0)
		}
	}
	return nil
}

// replay compares an existing reservation with the requested lines.
func replay(ctx context.Context, tx pgx.Tx, checkoutID uuid.UUID, want []Line, now time.Time) (Reservation, error) {
	held, err := loadReservation(ctx, tx, checkoutID, false)
	if err != nil {
		return Reservation{}, err
	}
	if len(held) == 0 {
		// Only possible if rows vanished between two statements, which
		// nothing in this package does.
		return Reservation{}, errors.New("reservation rows disappeared")
	}
	same := len(held) == len(want)
	for i := 0; same && i < len(want); i++ {
		same = held[i].sku == want[i].SKU && held[i].quantity == want[i].Quantity
	}
	if !same {
		return Reservation{}, apperr.E(apperr.Conflict, "reservation_mismatch",
			"checkout %s already holds a reservation with other lines", checkoutID)
	}
	res := Reservation{CheckoutID: checkoutID, Lines: want, ExpiresAt: held[0].expiresAt, Replayed: true}
	for _, h := range held {
		switch h.status {
		case StatusReleased:
			return Reservation{}, apperr.E(apperr.State, "reservation_released",
				"the reservation of checkout %s was already released (%s)", checkoutID, h.reason)
		case StatusCommitted:
			return Reservation{}, apperr.E(apperr.State, "reservation_committed",
				"the reservation of checkout %s was already committed", checkoutID)
		}
		if !h.expiresAt.After(now) {
			return Reservation{}, apperr.E(apperr.Expired, "reservation_expired",
				"the reservation of checkout %s expired at %s", checkoutID, h.expiresAt.Format(time.RFC3339))
		}
	}
	return res, nil
}

func outOfStock(sku string, requested, available int) error {
	e := apperr.E(apperr.OutOfStock, "out_of_stock", "not enough stock for SKU %s: %d requested, %d available",
		sku, requested, max(available, 0))
	e.Details = map[string]any{"sku": sku, "requested": requested, "available": max(available, 0)}
	return e
}
