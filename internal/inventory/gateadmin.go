package inventory

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/stockgate"
)

// GateState is a SKU's standing in the stock gate beside the database.
type GateState struct {
	SKU string `json:"sku"`
	// Armed: an admin armed the SKU (it is listed in inventory_gate), so the
	// sync step keeps it in the gate, re-arming it after a Redis restart.
	Armed bool `json:"armed"`
	// InGate: Redis holds the SKU now; gated reserves check it there.
	InGate bool `json:"in_gate"`
	// GateAvailable and GateHeld are the gate's figures (0 when not in the gate).
	GateAvailable int `json:"gate_available"`
	GateHeld      int `json:"gate_held"`
	// DatabaseAvailable is the ledger's figure: on hand minus reserved.
	DatabaseAvailable int `json:"database_available"`
	// Discrepancy is the gate's available units minus the true figure (the
	// database's, less the units of holds whose database write is still in
	// flight): positive, the gate admits buyers the database will refuse;
	// negative, it refuses units the database has. 0 when not in the gate.
	// A sync (or arming) repairs it.
	Discrepancy int `json:"discrepancy"`
	// Buckets the SKU's stock is split over in the database.
	Buckets int        `json:"buckets"`
	ArmedAt *time.Time `json:"armed_at,omitempty"`
	ArmedBy string     `json:"armed_by,omitempty"`

	wasInGate bool // in Redis before the call (a sync re-armed it when false)
}

// errNoGate is the answer of the gate admin calls when the store has no gate.
func errNoGate() error {
	return apperr.E(apperr.Unavailable, "gate_unavailable", "no stock gate is configured (set REDIS_URL)")
}

// ArmGate loads sku's available units into the stock gate before a sale and
// lists it in inventory_gate, so the sync step keeps it there. A SKU split
// over fewer than Options.GateBuckets buckets is split first, so that the
// buyers the gate admits take their units from different rows. Arming an
// armed SKU repairs its figure (a sync of one SKU). The figure is taken
// under the SKU's row locks, so no reservation, release or sale of the SKU
// can commit in between; holds in flight are accounted for (see
// [stockgate.Gate.Arm]).
//
// Errors: [apperr.Invalid] for a malformed "sku"; [apperr.NotFound], code
// "product_not_found"; [apperr.Unavailable], code "gate_unavailable" (no gate)
// or Redis not answering; [apperr.Transient] on database timeouts.
func (s *Store) ArmGate(ctx context.Context, sku string) (GateState, error) {
	if err := validateSKU(sku); err != nil {
		return GateState{}, err
	}
	if s.opts.Gate == nil {
		return GateState{}, errNoGate()
	}
	var buckets int
	err := s.pool.QueryRow(ctx, `SELECT buckets FROM inventory WHERE sku = $1`, sku).Scan(&buckets)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return GateState{}, classify("arm_gate", err)
	}
	if buckets < s.opts.GateBuckets {
		if _, err := s.SetBuckets(ctx, sku, s.opts.GateBuckets); err != nil {
			return GateState{}, err
		}
	}
	var st GateState
	err = s.run(ctx, "arm_gate", uuid.Nil, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO inventory_gate (sku, armed_by) VALUES ($1, $2)
			ON CONFLICT (sku) DO UPDATE SET armed_at = now(), armed_by = EXCLUDED.armed_by`, sku, s.opts.Actor); err != nil {
			return fmt.Errorf("list armed SKU: %w", err)
		}
		var err error
		st, err = s.armTx(ctx, tx, sku, false)
		return err
	})
	if err != nil {
		return GateState{}, err
	}
	s.log.InfoContext(ctx, "inventory: SKU armed in the stock gate", "sku", sku, "available", st.GateAvailable,
		"discrepancy", st.Discrepancy, "actor", s.opts.Actor)
	return st, nil
}

// DisarmGate takes sku out of the stock gate and out of inventory_gate:
// reserves of it then go to the database alone. Live holds stay until they
// are settled. Idempotent.
//
// Errors: as [Store.ArmGate].
func (s *Store) DisarmGate(ctx context.Context, sku string) (GateState, error) {
	if err := validateSKU(sku); err != nil {
		return GateState{}, err
	}
	if s.opts.Gate == nil {
		return GateState{}, errNoGate()
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM inventory_gate WHERE sku = $1`, sku); err != nil {
		return GateState{}, classify("disarm_gate", err)
	}
	if _, err := s.opts.Gate.Disarm(ctx, sku); err != nil {
		return GateState{}, err
	}
	s.log.InfoContext(ctx, "inventory: SKU disarmed in the stock gate", "sku", sku, "actor", s.opts.Actor)
	return s.GateStatus(ctx, sku)
}

// GateStatus compares sku in the gate with the database, under the SKU's row
// locks (for a moment), and changes nothing: its Discrepancy is what the
// next sync would repair.
//
// Errors: as [Store.ArmGate].
func (s *Store) GateStatus(ctx context.Context, sku string) (GateState, error) {
	if err := validateSKU(sku); err != nil {
		return GateState{}, err
	}
	if s.opts.Gate == nil {
		return GateState{}, errNoGate()
	}
	var st GateState
	err := s.run(ctx, "gate_status", uuid.Nil, func(tx pgx.Tx) error {
		var err error
		st, err = s.armTx(ctx, tx, sku, true)
		return err
	})
	return st, err
}

// armTx compares (dry) or arms sku in tx: it locks the SKU's stock rows,
// delivers the releases the gate missed (not when dry), and calls
// [stockgate.Gate.Arm] with the database's figure and the state of every
// checkout the gate holds units of.
func (s *Store) armTx(ctx context.Context, tx pgx.Tx, sku string, dry bool) (GateState, error) {
	g := s.opts.Gate
	rows, buckets, ok, err := lockStock(ctx, tx, sku)
	if err != nil {
		return GateState{}, err
	}
	if !ok {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM products WHERE sku = $1)`, sku).Scan(&exists); err != nil {
			return GateState{}, fmt.Errorf("look up product: %w", err)
		}
		if !exists {
			return GateState{}, apperr.E(apperr.NotFound, "product_not_found", "no product with SKU %s", sku)
		}
	}
	onHand, reserved := totals(rows)
	st := GateState{SKU: sku, DatabaseAvailable: onHand - reserved, Buckets: max(buckets, 1)}
	var at time.Time
	err = tx.QueryRow(ctx, `SELECT armed_at, armed_by FROM inventory_gate WHERE sku = $1`, sku).Scan(&at, &st.ArmedBy)
	switch {
	case err == nil:
		st.Armed, st.ArmedAt = true, &at
	case !errors.Is(err, pgx.ErrNoRows):
		return GateState{}, fmt.Errorf("read armed SKU: %w", err)
	}

	holds, err := g.Holds(ctx, sku)
	if err != nil {
		return GateState{}, err
	}
	req := stockgate.ArmRequest{SKU: sku, Available: max(st.DatabaseAvailable, 0), ReleaseStaleAfter: s.opts.GateStaleAfter, DryRun: dry}
	if len(holds) > 0 {
		ids := make([]uuid.UUID, len(holds))
		for i, h := range holds {
			ids[i] = h.CheckoutID
		}
		r, err := tx.Query(ctx, `SELECT checkout_id, status FROM reservations WHERE sku = $1 AND checkout_id = ANY($2)`, sku, ids)
		if err != nil {
			return GateState{}, fmt.Errorf("read held reservations: %w", err)
		}
		var released []uuid.UUID
		for r.Next() {
			var id uuid.UUID
			var status string
			if err := r.Scan(&id, &status); err != nil {
				r.Close()
				return GateState{}, fmt.Errorf("read held reservations: %w", err)
			}
			switch status {
			case StatusReserved:
				req.Reserved = append(req.Reserved, id)
			case StatusCommitted:
				req.Committed = append(req.Committed, id)
			case StatusReleased:
				released = append(released, id)
			}
		}
		r.Close()
		if err := r.Err(); err != nil {
			return GateState{}, fmt.Errorf("read held reservations: %w", err)
		}
		if !dry {
			for _, id := range released { // releases the gate never heard of
				if _, err := g.Release(ctx, id); err != nil {
					return GateState{}, err
				}
			}
		}
	}
	res, err := g.Arm(ctx, req)
	if err != nil {
		return GateState{}, err
	}
	lvl, err := g.Level(ctx, sku)
	if err != nil {
		return GateState{}, err
	}
	st.InGate, st.GateAvailable, st.GateHeld = lvl.Armed, lvl.Available, lvl.Held
	st.Discrepancy, st.wasInGate = res.Discrepancy(), res.WasArmed
	return st, nil
}

// SyncResult is what one [Store.SyncGate] found and did.
type SyncResult struct {
	SKUs int `json:"skus"` // armed SKUs compared
	// Discrepancy is the sum over SKUs of |gate − truth| before the repair:
	// the inventory-accuracy metric (0 when the gate was exact).
	Discrepancy int         `json:"discrepancy"`
	Repaired    []GateState `json:"repaired,omitempty"` // the SKUs whose figure was wrong, as found
	Rearmed     []string    `json:"rearmed,omitempty"`  // armed SKUs Redis had lost (a restart): loaded again
	Disarmed    []string    `json:"disarmed,omitempty"` // SKUs in Redis that no admin armed: taken out
	Expired     int         `json:"expired"`            // holds past their deadline whose units came back
}

// SyncGate is the sync step the sweeper runs: it returns the units of gate
// holds past their deadline, then compares every armed SKU with the
// database and repairs it ([Store.ArmGate] without the split), re-arming the
// SKUs Redis lost, and disarms SKUs nobody armed. Without a gate it does
// nothing. It stops at the first error (Redis down: [apperr.Unavailable];
// the next run starts over).
func (s *Store) SyncGate(ctx context.Context) (SyncResult, error) {
	var out SyncResult
	g := s.opts.Gate
	if g == nil {
		return out, nil
	}
	exp, err := g.Expire(ctx, 1000)
	out.Expired = len(exp)
	if err != nil {
		return out, err
	}
	r, err := s.pool.Query(ctx, `SELECT sku FROM inventory_gate ORDER BY sku COLLATE "C"`)
	if err != nil {
		return out, classify("sync_gate", err)
	}
	armed, err := pgx.CollectRows(r, pgx.RowTo[string])
	if err != nil {
		return out, classify("sync_gate", err)
	}
	listed := make(map[string]bool, len(armed))
	for _, sku := range armed {
		listed[sku] = true
	}
	snap, err := g.Snapshot(ctx)
	if err != nil {
		return out, err
	}
	for _, l := range snap {
		if l.Armed && !listed[l.SKU] {
			if _, err := g.Disarm(ctx, l.SKU); err != nil {
				return out, err
			}
			out.Disarmed = append(out.Disarmed, l.SKU)
		}
	}
	for _, sku := range armed {
		var st GateState
		err := s.run(ctx, "sync_gate", uuid.Nil, func(tx pgx.Tx) error {
			var err error
			st, err = s.armTx(ctx, tx, sku, false)
			return err
		})
		if err != nil {
			return out, err
		}
		out.SKUs++
		if !st.wasInGate {
			out.Rearmed = append(out.Rearmed, sku)
		}
		if st.Discrepancy != 0 {
			out.Discrepancy += abs(st.Discrepancy)
			out.Repaired = append(out.Repaired, st)
		}
	}
	s.gate.downUntil.Store(0) // Redis answered every call: reserves may ask it again now
	if out.Discrepancy != 0 || len(out.Rearmed) > 0 || len(out.Disarmed) > 0 {
		s.log.WarnContext(ctx, "inventory: stock gate repaired", "discrepancy", out.Discrepancy,
			"repaired", len(out.Repaired), "rearmed", out.Rearmed, "disarmed", out.Disarmed)
	}
	return out, nil
}

// rearm repairs sku in the gate after its stock changed, if it is armed.
// Best effort: a failure is logged and left to the sync step.
func (s *Store) rearm(ctx context.Context, sku string) {
	if s.opts.Gate == nil {
		return
	}
	err := s.run(ctx, "rearm_gate", uuid.Nil, func(tx pgx.Tx) error {
		var armed bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM inventory_gate WHERE sku = $1)`, sku).Scan(&armed); err != nil || !armed {
			return err
		}
		_, err := s.armTx(ctx, tx, sku, false)
		return err
	})
	if err != nil {
		s.log.WarnContext(ctx, "inventory: could not update the stock gate after a stock change (the sync step will)",
			"sku", sku, "err", err)
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
