// Command payment-reconciler is the payment reconciliation Lambda (SQS,
// partial batch failures): for each notice from the Stripe webhook it
// reads the payment's truth from the gateway and brings the ledger in line
// (internal/reconcile). Wiring only.
package main

import (
	"context"
	"os"

	"github.com/checkout-dev/checkout/internal/app"
	"github.com/checkout-dev/checkout/internal/reconcile"
)

func main() {
	core, log := app.MustOpenCore("payment-reconciler")
	ctx := context.Background()
	queue, err := app.RequiredEnv("MANUAL_REVIEW_QUEUE_URL")
	if err != nil {
		log.Error("configuration", "err", err)
		os.Exit(1)
	}
	events, err := app.RequiredEnv("PAYMENT_EVENTS_QUEUE_URL")
	if err != nil {
		log.Error("configuration", "err", err)
		os.Exit(1)
	}
	client, err := app.SQSClient(ctx)
	if err != nil {
		log.Error("configuration", "err", err)
		os.Exit(1)
	}
	core.Steps.Resumer = app.MustResumer(log)
	rec := core.Reconciler(reconcile.SQSReviewer{Client: client, QueueURL: queue}, log)
	rec.Requeue = reconcile.SQSRequeuer{Client: client, QueueURL: events}
	app.StartTraced(rec.Handle)
}
