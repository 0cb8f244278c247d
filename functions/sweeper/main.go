// Command sweeper releases expired stock reservations, run on a schedule.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/checkout-dev/checkout/internal/app"
	"github.com/checkout-dev/checkout/internal/sweeper"
)

func main() {
	log := app.Logger().With("function", "sweeper")
	ctx := context.Background()
	cfg, err := app.FromEnv(ctx)
	if err != nil {
		log.Error("configuration", "err", err)
		os.Exit(1)
	}
	core, err := app.OpenCore(ctx, cfg, log)
	if err != nil {
		log.Error("start-up", "err", err)
		os.Exit(1)
	}
	s := &sweeper.Sweeper{Inventory: core.Inventory, Log: log}
	lambda.Start(func(ctx context.Context, _ events.EventBridgeEvent) (sweeper.Result, error) {
		return s.Run(ctx)
	})
}
