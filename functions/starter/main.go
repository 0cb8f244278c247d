// Command starter drains the start queue: it starts the sagas of the
// checkouts whose start Step Functions throttled (internal/startqueue).
// Wiring only.
//
// Environment: STATE_MACHINE_ARN, START_QUEUE_URL (to retry a throttled
// start after 2 s rather than the queue's visibility timeout), the database
// configuration.
package main

import (
	"context"
	"os"

	"github.com/checkout-dev/checkout/internal/app"
	"github.com/checkout-dev/checkout/internal/execution"
	"github.com/checkout-dev/checkout/internal/startqueue"
)

func main() {
	core, log := app.MustOpenCore("starter")
	machine, err := app.RequiredEnv("STATE_MACHINE_ARN")
	if err != nil {
		log.Error("configuration", "err", err)
		os.Exit(1)
	}
	client, err := app.SFNClient(context.Background())
	if err != nil {
		log.Error("aws configuration", "err", err)
		os.Exit(1)
	}
	sqsClient, err := app.SQSClient(context.Background())
	if err != nil {
		log.Error("aws configuration", "err", err)
		os.Exit(1)
	}
	c := &startqueue.Consumer{Checkouts: core.Checkouts,
		Starter: core.Starter(execution.SFN{Client: client, StateMachineARN: machine}, nil), Log: log,
		Queue: sqsClient, QueueURL: os.Getenv("START_QUEUE_URL")}
	app.StartTraced(c.Handle)
}
