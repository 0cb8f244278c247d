package stockgate

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/redisconn"
)

// ArmRequest loads a SKU's stock into the gate from one database snapshot.
type ArmRequest struct {
	SKU string
	// Available is the database's available units of SKU (on_hand -
	// reserved) in the snapshot.
	Available int
	// Reserved and Committed are the checkouts whose reservation of SKU the
	// same snapshot holds as reserved or as committed. Only checkouts that
	// hold SKU in the gate matter: pass the database state of the
	// checkouts [Gate.Holds] listed (or simply every reservation of SKU
	// that is reserved, and every one committed within Options.HoldFor).
	Reserved, Committed []uuid.UUID
	// ReleaseStaleAfter, when positive, drops the holds of SKU that the
	// snapshot does not count and that are older than this, returning their
	// units: their caller is gone (it crashed between the gate and the
	// database, or its Release was lost with a Redis restart). It must
	// exceed the longest time a reserve step can take between the gate and
	// its database write, retries included; if it is too short, a slow
	// caller's units are counted twice for a moment (the gate answers Held
	// too often, the database refuses the excess: never an oversell).
	ReleaseStaleAfter time.Duration
	// DryRun computes the result without writing anything (the discrepancy
	// metric without the repair).
	DryRun bool
}

// ArmResult is what Arm found and did.
type ArmResult struct {
	// WasArmed and Previous: the gate's figure for the SKU before the call.
	WasArmed bool
	Previous int
	// Available is the figure the gate holds now (would hold, for DryRun).
	Available int
	// Uncounted units of live holds the snapshot did not count (database
	// writes not yet seen, releases the gate has not heard of yet),
	// subtracted from the snapshot's Available.
	Uncounted int
	// Committed units of holds the snapshot says were sold: forgotten.
	Committed int
	// Stale units of uncounted holds older than ReleaseStaleAfter: returned.
	Stale int
	// Vanished units in the gate's index whose hold is gone: dropped.
	Vanished int
}

// Discrepancy is the gate's figure before the call minus the true one
// (positive: the gate said Held too often, the database refused the excess;
// negative: the gate refused units the database had: an undersell risk).
// 0 when the SKU was not armed.
func (r ArmResult) Discrepancy() int {
	if !r.WasArmed {
		return 0
	}
	return r.Previous - r.Available
}

// Arm sets req.SKU's available units in the gate from a database snapshot,
// corrected for the holds in flight: afterwards
//
//	gate available = req.Available − units of the SKU's live holds that the snapshot does not count as reserved
//
// so the gate equals what the database will say once those holds are
// written (or released). Arm is both the admin call that loads a SKU before
// a sale and the periodic discrepancy check and repair (see Discrepancy);
// it is atomic in Redis and idempotent.
//
// The protocol that makes it exact: in one database transaction, lock the
// SKU's stock rows (so no reservation, release or commit of the SKU can
// commit), call [Gate.Holds], read the available units and the state of
// those checkouts' reservations of the SKU, call Arm, then end the
// transaction. Callers write the database after the gate on reserve and
// before it on release and commit (as the Reserve, Release and Commit
// contracts say), so every hold is then either counted by the snapshot,
// or one whose database write is still to come, or one whose release or
// commit the gate has yet to hear of, and Arm accounts for each. Without the
// lock, a release committed between the snapshot and Arm leaves the gate low
// by its units until the next Arm.
//
// Errors: apperr.Invalid naming "sku" or "available"; ErrUnavailable.
func (g *Gate) Arm(ctx context.Context, req ArmRequest) (ArmResult, error) {
	if !skuPattern.MatchString(req.SKU) {
		return ArmResult{}, apperr.InvalidField("sku", "malformed SKU %q", req.SKU)
	}
	if req.Available < 0 || req.Available > MaxAvailable {
		return ArmResult{}, apperr.InvalidField("available", "must be between 0 and %d, got %d", MaxAvailable, req.Available)
	}
	ctx, cancel := context.WithTimeout(ctx, g.opts.Timeout)
	defer cancel()
	holds, err := g.holds(ctx, req.SKU)
	if err != nil {
		return ArmResult{}, err
	}
	class := make(map[uuid.UUID]string, len(req.Reserved)+len(req.Committed))
	for _, id := range req.Reserved {
		class[id] = "r"
	}
	for _, id := range req.Committed {
		class[id] = "c"
	}
	var staleBefore int64
	if req.ReleaseStaleAfter > 0 {
		staleBefore = g.opts.Now().Add(-req.ReleaseStaleAfter).UnixMilli()
	}
	dry := "0"
	if req.DryRun {
		dry = "1"
	}
	keys := []string{g.avail, g.held, g.lines, g.due}
	args := []any{req.SKU, req.Available, staleBefore, g.opts.TombstoneFor.Milliseconds(), dry}
	for _, h := range holds {
		c := class[h.CheckoutID]
		if c == "" {
			c = "u"
		}
		keys = append(keys, g.holdKey(h.CheckoutID))
		args = append(args, h.CheckoutID.String(), c)
	}
	reply, err := armScript.Run(ctx, g.rdb, keys, args...).Slice()
	if err != nil {
		return ArmResult{}, redisconn.Wrap(err, "arm a SKU in the stock gate")
	}
	n := func(i int) int {
		v, _ := at(reply, i).(int64)
		return int(v)
	}
	r := ArmResult{Available: n(1), Uncounted: n(2), Committed: n(3), Stale: n(4), Vanished: n(5)}
	if p := at(reply, 0); p != nil {
		r.WasArmed = true
		r.Previous = atoi(p)
	}
	return r, nil
}

func atoi(v any) int {
	n, _ := strconv.Atoi(fmt.Sprint(v))
	return n
}
