// Command stripe-webhook is the Stripe webhook Lambda (POST
// /v1/webhooks/stripe). Wiring only: configuration, the pool, the signing
// secret and the payment-events queue, then internal/webhook serves every
// delivery. It holds no Stripe API key: reconciliation (the
// payment-reconciler function) reads the gateway.
package main

import (
	"context"
	"os"

	"github.com/checkout-dev/checkout/internal/app"
	"github.com/checkout-dev/checkout/internal/webhook"
)

func main() {
	log := app.Logger().With("function", "stripe-webhook")
	app.SetupTracing("stripe-webhook", log)
	ctx := context.Background()
	exit := func(msg string, err error) {
		log.Error(msg, "err", err)
		os.Exit(1)
	}
	cfg, err := app.FromEnv(ctx)
	if err != nil {
		exit("configuration", err)
	}
	secret, err := webhook.SecretFromEnv(ctx)
	if err != nil {
		exit("configuration", err)
	}
	queue, err := app.RequiredEnv("PAYMENT_EVENTS_QUEUE_URL")
	if err != nil {
		exit("configuration", err)
	}
	client, err := app.SQSClient(ctx)
	if err != nil {
		exit("configuration", err)
	}
	pool, err := app.OpenPool(ctx, cfg)
	if err != nil {
		exit("start-up", err)
	}
	app.StartTraced(webhook.New(pool, secret, webhook.SQSForwarder{Client: client, QueueURL: queue}, log).Handle)
}
