// Command sweeper releases expired stock reservations, syncs the Redis
// stock gate with the database and keeps the monthly partitions ahead, run
// on a schedule.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/events"

	"github.com/checkout-dev/checkout/internal/app"
	"github.com/checkout-dev/checkout/internal/partition"
	"github.com/checkout-dev/checkout/internal/sweeper"
)

func main() {
	core, log := app.MustOpenCore("sweeper")
	// InventoryDiscrepancy through the core's recorder (CloudWatch Embedded
	// Metric Format on stdout, namespace METRICS_NAMESPACE).
	// PartitionMonthsAhead too, after keeping the partitions of the months
	// ahead (ensure_partitions runs as the tables' owner).
	s := &sweeper.Sweeper{Inventory: core.Inventory, Log: log, Metrics: core.Metrics(),
		Partitions: &partition.Keeper{Pool: core.Pool}}
	app.StartTraced(func(ctx context.Context, _ events.EventBridgeEvent) (sweeper.Result, error) {
		return s.Run(ctx)
	})
}
