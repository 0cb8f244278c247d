package inventory

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/stockgate"
	"github.com/checkout-dev/checkout/internal/tracing"
)

// Defaults of the gate options.
const (
	DefaultGateBuckets    = 32
	DefaultGateStaleAfter = 2 * time.Minute
	// gateBackoff is how long Reserve leaves the gate alone after it did not
	// answer: a dead Redis costs one timeout per process per gateBackoff,
	// not one per buyer.
	gateBackoff = time.Second
)

// gateState is what a Store remembers of its gate between calls.
type gateState struct {
	downUntil atomic.Int64 // unix nanos: skip the gate until then
	// counters for benchmarks and logs
	held, refused, fallback, returned atomic.Int64
}

// GateStats counts the outcomes of gated reserves since the Store was made.
type GateStats struct {
	Held     int64 `json:"held"`     // admitted by the gate, then written to the database
	Refused  int64 `json:"refused"`  // refused by the gate (out of stock): no database call
	Fallback int64 `json:"fallback"` // the database path alone: gate down, SKU not armed, or a gate refusal to trust
	Returned int64 `json:"returned"` // gate holds given back because the database refused the write
}

// GateStats reports the gate's counters (zero unless the strategy is [Gated]).
func (s *Store) GateStats() GateStats {
	g := s.gate
	return GateStats{Held: g.held.Load(), Refused: g.refused.Load(), Fallback: g.fallback.Load(), Returned: g.returned.Load()}
}

// reserveGated is Reserve for the [Gated] strategy:
//
//   - the gate answers OutOfStock: refused without a database call;
//   - the gate answers Held: the database write runs as strategy "gated"
//     (the bucketed take without the availability pre-check); if the
//     database refuses for good, the gate's hold is given back;
//   - anything else (no gate, Redis down or slow, the SKU not armed, a gate
//     refusal the database must judge such as a settled hold): the
//     [Bucketed] database path, which needs no gate. Units it takes are
//     unknown to the gate until the next sync ([Store.SyncGate]): the gate
//     is then high, which only lets through buyers the database refuses.
func (s *Store) reserveGated(ctx context.Context, checkoutID uuid.UUID, lines, sorted []Line, expiresAt, now time.Time) (Reservation, error) {
	g := s.opts.Gate
	if g == nil || time.Now().UnixNano() < s.gate.downUntil.Load() {
		return s.reserveFallback(ctx, checkoutID, lines, sorted, expiresAt, now)
	}
	gl := make([]stockgate.Line, len(lines))
	for i, l := range lines {
		gl[i] = stockgate.Line{SKU: l.SKU, Quantity: l.Quantity}
	}
	gctx, gspan := tracing.Start(ctx, "redis", "stockgate.Reserve")
	r, err := g.Reserve(gctx, checkoutID, gl)
	if err == nil {
		gspan.SetAttributes(tracing.AttrOutcome.String(r.Outcome.String()))
	}
	tracing.End(gspan, err)
	if err != nil {
		if errors.Is(err, stockgate.ErrUnavailable) {
			s.gate.downUntil.Store(time.Now().Add(gateBackoff).UnixNano())
			s.log.WarnContext(ctx, "inventory: stock gate unavailable, reserving in the database alone",
				"checkout_id", checkoutID, "err", err)
		} else {
			s.log.DebugContext(ctx, "inventory: stock gate refused, asking the database", "checkout_id", checkoutID, "err", err)
		}
		return s.reserveFallback(ctx, checkoutID, lines, sorted, expiresAt, now)
	}
	switch r.Outcome {
	case stockgate.OutOfStock:
		s.gate.refused.Add(1)
		return Reservation{}, r.Err()
	case stockgate.NotArmed:
		return s.reserveFallback(ctx, checkoutID, lines, sorted, expiresAt, now)
	}
	sctx, sspan := tracing.StartSQL(ctx, "inventory_reserve", attribute.String("inventory.strategy", string(Gated)))
	res, err := s.reserveFn(sctx, checkoutID, lines, sorted, expiresAt, now)
	tracing.End(sspan, err)
	if err != nil {
		s.settleRefusedHold(ctx, checkoutID, err)
		return Reservation{}, err
	}
	s.gate.held.Add(1)
	s.soldOut.reserved(checkoutID) // a retry through the fallback is not refused by the sold-out cache
	return res, nil
}

// reserveFallback reserves in the database alone, as [Bucketed].
func (s *Store) reserveFallback(ctx context.Context, checkoutID uuid.UUID, lines, sorted []Line, expiresAt, now time.Time) (Reservation, error) {
	s.gate.fallback.Add(1)
	b := *s
	b.opts.Strategy = Bucketed
	ctx, span := tracing.StartSQL(ctx, "inventory_reserve", attribute.String("inventory.strategy", string(Bucketed)))
	res, err := b.reserveCached(ctx, checkoutID, lines, sorted, expiresAt, now)
	tracing.End(span, err)
	return res, err
}

// settleRefusedHold gives the gate back a hold whose database write was
// refused for good. A transient failure keeps it: the step is retried, and
// the retry finds the hold (Replayed) and writes again; a caller that never
// comes back leaves it to the sync step. A reservation already committed
// tells the gate the units are sold.
func (s *Store) settleRefusedHold(ctx context.Context, checkoutID uuid.UUID, err error) {
	switch apperr.KindOf(err) {
	case apperr.Transient, apperr.Unavailable, apperr.Internal:
		return
	}
	var serr error
	if ae := apperr.As(err); ae != nil && ae.Code == "reservation_committed" {
		_, serr = s.opts.Gate.Commit(ctx, checkoutID)
	} else {
		_, serr = s.opts.Gate.Release(ctx, checkoutID)
		s.gate.returned.Add(1)
	}
	if serr != nil {
		s.log.WarnContext(ctx, "inventory: could not settle a refused gate hold (the sync step will)",
			"checkout_id", checkoutID, "err", serr)
	}
}

// gateRelease tells the gate that the checkouts' units of skus are back in
// the database (release, expiry). A checkout the gate has no hold of (it was
// reserved through the database alone, or its hold was lost with a Redis
// restart) leaves the gate low by its units: the armed SKUs among skus are
// then compared and repaired at once rather than at the next sync, so the
// gate never refuses units the database has for longer than this call.
// Best effort: a failure is logged, and the sync step repairs it later.
func (s *Store) gateRelease(ctx context.Context, ids []uuid.UUID, skus []string) {
	g := s.opts.Gate
	if g == nil {
		return
	}
	unknown := false
	for _, id := range ids {
		st, err := g.Release(ctx, id)
		if err != nil {
			s.log.WarnContext(ctx, "inventory: stock gate release failed (the sync step will repair the gate)",
				"checkout_id", id, "err", err)
			return // Redis is down: the rest would fail the same way
		}
		unknown = unknown || st.Previous == stockgate.StateNone
	}
	if !unknown {
		return
	}
	seen := map[string]bool{}
	for _, sku := range skus {
		if !seen[sku] {
			seen[sku] = true
			s.rearm(ctx, sku)
		}
	}
}

// GateCommitted tells the stock gate that checkoutID's units are sold, after
// the order transaction that called [Store.CommitTx] committed. Best effort
// and idempotent: without a gate it does nothing; a failure is logged and
// the sync step settles the hold later. It never returns an error because
// nothing the caller could do would help.
func (s *Store) GateCommitted(ctx context.Context, checkoutID uuid.UUID) {
	g := s.opts.Gate
	if g == nil {
		return
	}
	if _, err := g.Commit(ctx, checkoutID); err != nil {
		s.log.WarnContext(ctx, "inventory: stock gate commit failed (the sync step will settle it)",
			"checkout_id", checkoutID, "err", err)
	}
}
