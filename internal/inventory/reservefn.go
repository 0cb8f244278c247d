package inventory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/postgres"
)

// reserveFnSQL calls the server-side reserve (migration 00007,
// inventory_reserve): the sold-out check, the checkout's advisory lock, the
// reservation and audit rows and the take of every line, in one statement.
const reserveFnSQL = `SELECT o_status, o_sku, o_requested, o_available, o_idx, o_expires
	FROM inventory_reserve($1, $2, $3, $4, $5, $6, $7, $8, $9)`

// serverSide reports whether Reserve runs as one server-side function call
// ([Bucketed] and [Conditional], unless Options.ClientSideReserve). [Gated]
// never asks: its gate path calls reserveFn itself and its fallback runs as
// [Bucketed].
func (s *Store) serverSide() bool {
	return !s.opts.ClientSideReserve && (s.opts.Strategy == Bucketed || s.opts.Strategy == Conditional)
}

// reserveFn is Reserve for the server-side strategies: one round trip, in an
// implicit transaction (the statement timeout is set by the first statement
// of the same pipeline, the lock timeout inside the function), retried as a
// whole on serialization failures and deadlocks like [Store.run].
func (s *Store) reserveFn(ctx context.Context, checkoutID uuid.UUID, lines []Line, sorted []Line, expiresAt, now time.Time) (Reservation, error) {
	skus := make([]string, len(lines))
	qtys := make([]int32, len(lines))
	for i, l := range lines {
		skus[i], qtys[i] = l.SKU, int32(l.Quantity)
	}
	expJSON := expiresAt.Format(time.RFC3339Nano) // as encoding/json writes it in the audit detail
	lt, st := pgInterval(s.opts.LockTimeout), pgInterval(s.opts.StatementTimeout)
	for attempt := 1; ; attempt++ {
		var status string
		var sku *string
		var requested, available, idx *int32
		var expires *time.Time
		b := &pgx.Batch{}
		b.Queue(`SELECT set_config('statement_timeout', $1, true)`, st)
		b.Queue(reserveFnSQL, checkoutID, skus, qtys, expiresAt, now, string(s.opts.Strategy), s.opts.Actor, expJSON, lt)
		br := s.pool.SendBatch(ctx, b)
		_, err := br.Exec()
		if err == nil {
			err = br.QueryRow().Scan(&status, &sku, &requested, &available, &idx, &expires)
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			if postgres.IsRetryable(err) && attempt <= s.opts.TxRetries {
				s.log.DebugContext(ctx, "inventory: retrying reserve", "attempt", attempt, "err", err)
				if werr := sleep(ctx, backoff(attempt, 2*time.Millisecond, 100*time.Millisecond)); werr != nil {
					return Reservation{}, classify("reserve", werr)
				}
				continue
			}
			return Reservation{}, fnError(checkoutID, err)
		}
		switch status {
		case "ok", "replay":
			res := Reservation{CheckoutID: checkoutID, Lines: sorted, ExpiresAt: expiresAt, Replayed: status == "replay"}
			if expires != nil {
				res.ExpiresAt = expires.UTC()
			}
			return res, nil
		case "out_of_stock":
			return Reservation{}, outOfStock(deref(sku), int(deref(requested)), int(deref(available)))
		case "invalid_sku":
			return Reservation{}, apperr.InvalidField(fmt.Sprintf("items[%d].sku", deref(idx)), "unknown SKU %q", deref(sku))
		}
		return Reservation{}, apperr.E(apperr.Internal, "internal", "inventory: reserve: unexpected result %q", status)
	}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// fnError maps the errors inventory_reserve raises to the documented kinds.
func fnError(checkoutID uuid.UUID, err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return classify("reserve", err)
	}
	switch pgErr.Code {
	case "IV001":
		var d struct {
			SKU       string `json:"sku"`
			Requested int    `json:"requested"`
			Available int    `json:"available"`
		}
		if jerr := json.Unmarshal([]byte(pgErr.Detail), &d); jerr != nil {
			return apperr.Wrap(apperr.Internal, "internal", err, "inventory: reserve: bad out-of-stock detail")
		}
		return outOfStock(d.SKU, d.Requested, d.Available)
	case "IV002":
		return apperr.E(apperr.Conflict, "reservation_mismatch",
			"checkout %s already holds a reservation with other lines", checkoutID)
	case "IV003":
		return apperr.E(apperr.State, "reservation_released", "%s", pgErr.Message)
	case "IV004":
		return apperr.E(apperr.State, "reservation_committed", "%s", pgErr.Message)
	case "IV005":
		var d struct {
			ExpiresAt time.Time `json:"expires_at"`
		}
		_ = json.Unmarshal([]byte(pgErr.Detail), &d)
		return apperr.E(apperr.Expired, "reservation_expired",
			"the reservation of checkout %s expired at %s", checkoutID, d.ExpiresAt.UTC().Format(time.RFC3339))
	case "23503":
		if pgErr.ConstraintName == "reservations_checkout_id_fkey" {
			return &apperr.Error{Kind: apperr.NotFound, Code: "checkout_not_found", Field: "checkout_id",
				Message: fmt.Sprintf("checkout %s does not exist", checkoutID), Err: err}
		}
	}
	return classify("reserve", err)
}
