// Command stripe-webhook is the Stripe webhook Lambda (POST
// /v1/webhooks/stripe). Wiring only: configuration, the pool, the signing
// secret, then internal/webhook serves every delivery.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/checkout-dev/checkout/internal/app"
	"github.com/checkout-dev/checkout/internal/webhook"
)

func main() {
	log := app.Logger().With("function", "stripe-webhook")
	ctx := context.Background()
	cfg, err := app.FromEnv(ctx)
	if err != nil {
		log.Error("configuration", "err", err)
		os.Exit(1)
	}
	secret, err := webhook.SecretFromEnv(ctx)
	if err != nil {
		log.Error("configuration", "err", err)
		os.Exit(1)
	}
	pool, err := app.OpenPool(ctx, cfg)
	if err != nil {
		log.Error("start-up", "err", err)
		os.Exit(1)
	}
	lambda.Start(webhook.New(pool, secret, log).Handle)
}
