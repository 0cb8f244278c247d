// Command reconciliation is the scheduled reconciliation Lambda: the
// polling fallback of the Stripe webhook. It finds payments and checkouts
// stuck in a non-final state and drives each to its end from the
// PaymentIntent's real status (internal/reconcile Sweep). Wiring only.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/events"

	"github.com/checkout-dev/checkout/internal/app"
	"github.com/checkout-dev/checkout/internal/reconcile"
)

func main() {
	core, log := app.MustOpenCore("reconciliation")
	queue, err := app.RequiredEnv("MANUAL_REVIEW_QUEUE_URL")
	if err != nil {
		log.Error("configuration", "err", err)
		os.Exit(1)
	}
	sqsClient, err := app.SQSClient(context.Background())
	if err != nil {
		log.Error("configuration", "err", err)
		os.Exit(1)
	}
	sfn := app.MustResumer(log)
	core.Steps.Resumer = sfn
	job, err := reconcile.NewJob(core.Reconciler(reconcile.SQSReviewer{Client: sqsClient, QueueURL: queue}, log), sfn,
		os.Getenv("RECONCILE_STUCK_AFTER"))
	if err != nil {
		log.Error("configuration", "err", err)
		os.Exit(1)
	}
	app.StartTraced(func(ctx context.Context, _ events.EventBridgeEvent) (reconcile.JobResult, error) {
		return job.Run(ctx)
	})
}
