// Command api is the public REST API Lambda (every route but the Stripe
// webhook). Wiring only: configuration, the core, the Step Functions client,
// then internal/api serves every request.
package main

import (
	"context"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/checkout-dev/checkout/internal/api"
	"github.com/checkout-dev/checkout/internal/app"
	"github.com/checkout-dev/checkout/internal/cart"
	"github.com/checkout-dev/checkout/internal/catalogcache"
	"github.com/checkout-dev/checkout/internal/execution"
	"github.com/checkout-dev/checkout/internal/startqueue"
)

func main() {
	core, log := app.MustOpenCore("api")
	machine := os.Getenv("STATE_MACHINE_ARN")
	if machine == "" {
		log.Error("configuration", "err", "STATE_MACHINE_ARN is required")
		os.Exit(1)
	}
	ctx := context.Background()
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		log.Error("aws configuration", "err", err)
		os.Exit(1)
	}
	client := sfn.NewFromConfig(awsCfg, func(o *sfn.Options) {
		for _, k := range []string{"AWS_ENDPOINT_URL_SFN", "SFN_ENDPOINT"} {
			if v := os.Getenv(k); v != "" {
				o.BaseEndpoint = aws.String(v)
				return
			}
		}
	})
	deps := core.APIDeps(execution.SFN{Client: client, StateMachineARN: machine}, nil, log)
	if url := os.Getenv("START_QUEUE_URL"); url != "" {
		// A start Step Functions throttles is queued, not failed.
		sqsClient, err := app.SQSClient(ctx)
		if err != nil {
			log.Error("aws configuration", "err", err)
			os.Exit(1)
		}
		deps.Starter.Deferred = startqueue.SQS{Client: sqsClient, QueueURL: url}
	}
	if rdb := core.Redis; rdb != nil {
		// The catalog entry of GET /v1/products/{sku} through Redis, and the
		// carts, in the Redis of the stock gate (REDIS_URL).
		ttl, _ := strconv.Atoi(os.Getenv("CATALOG_CACHE_TTL_SECONDS"))
		deps.CatalogCache = catalogcache.New(rdb, core.Catalog.Get, time.Duration(ttl)*time.Second, "", log)
		// Carts live in the same Redis.
		hours, _ := strconv.Atoi(os.Getenv("CART_TTL_HOURS"))
		deps.Carts = cart.New(rdb, cart.Options{TTL: time.Duration(hours) * time.Hour})
		deps.CartLinks = rdb
	}
	h := api.New(deps)
	app.StartTraced(h.Handle)
}
