// Package sweeper releases stock held by reservations that expired: the
// saga normally releases or commits every hold, and the sweeper catches the
// ones an abandoned or crashed execution left behind. Each run then syncs
// the Redis stock gate with the database (inventory.Store.SyncGate), when
// the store has one, and keeps the months ahead of the partitioned tables
// partitioned (partition.Keeper), when it has a keeper.
package sweeper

import (
	"context"
	"log/slog"
	"time"

	"github.com/checkout-dev/checkout/internal/inventory"
	"github.com/checkout-dev/checkout/internal/metrics"
	"github.com/checkout-dev/checkout/internal/partition"
)

// BatchSize is how many checkouts one transaction expires.
const BatchSize = 100

// Result is what one sweep did.
type Result struct {
	Released int    `json:"released"`
	Duration string `json:"duration"`
	// The stock gate's sync (zero without a gate): the armed SKUs compared,
	// the sum over them of |gate − database| found before the repair (the
	// InventoryDiscrepancy metric), and how many armed SKUs Redis had lost
	// and were loaded again. GateError is the sync's error, if any: it
	// does not fail the sweep.
	GateSKUs        int    `json:"gate_skus"`
	GateDiscrepancy int    `json:"gate_discrepancy"`
	GateRearmed     int    `json:"gate_rearmed"`
	GateError       string `json:"gate_error,omitempty"`
	// The partitions' upkeep (zero without a keeper): partitions made by
	// this run, the months ahead every partitioned table reaches after it,
	// and the upkeep's error, if any (it does not fail the sweep either).
	PartitionsCreated    int    `json:"partitions_created"`
	PartitionMonthsAhead int    `json:"partition_months_ahead"`
	PartitionError       string `json:"partition_error,omitempty"`
}

// Sweeper expires due reservations, syncs the stock gate and keeps the
// partitions ahead.
type Sweeper struct {
	Inventory *inventory.Store
	Log       *slog.Logger
	// Metrics receives InventoryDiscrepancy after each sync of a gate and
	// PartitionMonthsAhead after each upkeep of the partitions (nil: none).
	// See [Sweeper.Run] for when they are published.
	Metrics metrics.Recorder
	// Partitions makes the partitions of the months ahead (nil: no upkeep).
	Partitions *partition.Keeper
}

// Run expires due reservations in batches until none is left or ctx ends
// (a Lambda's deadline), then runs the stock gate's sync step and the
// partitions' upkeep. It is safe to run several at once: each batch skips
// rows another sweeper holds, a sync repairs each SKU under its row locks,
// and the upkeep serialises on an advisory lock.
//
// The returned error is the expiry's: a failed sync (Redis down) or upkeep
// (a lock not granted in time) is logged and reported in Result.GateError
// or Result.PartitionError, and the released count still stands; the next
// run tries again. PartitionMonthsAhead is published after each upkeep that
// completed (the alarm fires when it falls below 2: months of failed runs).
//
// InventoryDiscrepancy is published only when the store has a gate, after
// a sync that completed (its figure, 0 when the gate was exact) or that
// failed part way after finding a discrepancy. A store without a gate
// publishes nothing (there is nothing to be inaccurate), and neither does a
// sync that could not compare anything: the alarm (missing data is not
// breaching) then only ever sees figures that were measured.
func (s *Sweeper) Run(ctx context.Context) (Result, error) {
	start := time.Now()
	var res Result
	err := s.expire(ctx, &res)
	if ctx.Err() == nil {
		s.sync(ctx, &res)
	}
	if ctx.Err() == nil {
		s.partitions(ctx, &res)
	}
	res.Duration = time.Since(start).String()
	return res, err
}

func (s *Sweeper) expire(ctx context.Context, res *Result) error {
	for {
		n, err := s.Inventory.ExpireDue(ctx, BatchSize)
		res.Released += n
		if err != nil || n < BatchSize || ctx.Err() != nil {
			if s.Log != nil && (res.Released > 0 || err != nil) {
				s.Log.InfoContext(ctx, "sweep", "released", res.Released, "err", err)
			}
			return err
		}
	}
}

func (s *Sweeper) sync(ctx context.Context, res *Result) {
	if s.Inventory.Gate() == nil {
		return
	}
	sr, err := s.Inventory.SyncGate(ctx)
	res.GateSKUs, res.GateDiscrepancy, res.GateRearmed = sr.SKUs, sr.Discrepancy, len(sr.Rearmed)
	if err != nil {
		res.GateError = err.Error()
		if s.Log != nil {
			s.Log.WarnContext(ctx, "sweep: stock gate sync failed (the next run syncs again)", "err", err,
				"skus", sr.SKUs, "discrepancy", sr.Discrepancy)
		}
	} else if s.Log != nil && (sr.Discrepancy != 0 || len(sr.Rearmed) > 0 || len(sr.Disarmed) > 0 || sr.Expired > 0) {
		s.Log.InfoContext(ctx, "sweep: stock gate synced", "skus", sr.SKUs, "discrepancy", sr.Discrepancy,
			"rearmed", sr.Rearmed, "disarmed", sr.Disarmed, "expired_holds", sr.Expired)
	}
	if s.Metrics != nil && (err == nil || sr.Discrepancy > 0) {
		s.Metrics.Record(ctx, metrics.Entry{
			Metrics: []metrics.Metric{metrics.CountOf(metrics.InventoryDiscrepancy, sr.Discrepancy)},
			Properties: map[string]any{"gate_skus": sr.SKUs, "gate_rearmed": len(sr.Rearmed), "gate_disarmed": len(sr.Disarmed),
				"gate_expired_holds": sr.Expired, "gate_sync_failed": err != nil},
		})
	}
}

func (s *Sweeper) partitions(ctx context.Context, res *Result) {
	if s.Partitions == nil {
		return
	}
	out, err := s.Partitions.Run(ctx)
	res.PartitionsCreated = out.Created
	if err != nil {
		res.PartitionError = err.Error()
		if s.Log != nil {
			s.Log.ErrorContext(ctx, "sweep: partitions ahead not ensured (the next run tries again)", "err", err)
		}
		return
	}
	res.PartitionMonthsAhead = out.Ahead
	if s.Log != nil && out.Created > 0 {
		s.Log.InfoContext(ctx, "sweep: partitions created", "created", out.Created, "months_ahead", out.Ahead)
	}
	if s.Metrics != nil {
		s.Metrics.Record(ctx, metrics.Entry{
			Metrics:    []metrics.Metric{{Name: metrics.PartitionMonthsAhead, Value: float64(out.Ahead), Unit: metrics.None}},
			Properties: map[string]any{"partitions_created": out.Created},
		})
	}
}
