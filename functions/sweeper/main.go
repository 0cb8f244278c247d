// Command sweeper releases expired stock reservations and syncs the Redis
// stock gate with the database, run on a schedule.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/checkout-dev/checkout/internal/app"
	"github.com/checkout-dev/checkout/internal/metrics"
	"github.com/checkout-dev/checkout/internal/sweeper"
)

func main() {
	core, log := app.MustOpenCore("sweeper")
	// InventoryDiscrepancy in CloudWatch Embedded Metric Format on stdout,
	// like the core's metrics (namespace METRICS_NAMESPACE).
	rec := metrics.NewEMF(os.Stdout, metrics.EMFOptions{Namespace: metrics.NamespaceFromEnv(), ErrorLog: log})
	s := &sweeper.Sweeper{Inventory: core.Inventory, Log: log, Metrics: rec}
	lambda.Start(func(ctx context.Context, _ events.EventBridgeEvent) (sweeper.Result, error) {
		return s.Run(ctx)
	})
}
