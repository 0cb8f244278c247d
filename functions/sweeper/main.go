// Command sweeper releases expired stock reservations, run on a schedule.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/checkout-dev/checkout/internal/app"
	"github.com/checkout-dev/checkout/internal/sweeper"
)

func main() {
	core, log := app.MustOpenCore("sweeper")
	s := &sweeper.Sweeper{Inventory: core.Inventory, Log: log}
	lambda.Start(func(ctx context.Context, _ events.EventBridgeEvent) (sweeper.Result, error) {
		return s.Run(ctx)
	})
}
