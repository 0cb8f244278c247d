// Command analytics is the analytics consumer Lambda (SQS, partial batch
// failures): it stores each batch of order events as one newline-delimited
// JSON object, in S3 (ANALYTICS_BUCKET, ANALYTICS_PREFIX: the deployed
// configuration) or under a local folder (ANALYTICS_DIR). With neither set
// it fails at start-up, before connecting to the database. See
// s3sink.FromEnv and docs/events.md.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/events"
	"github.com/checkout-dev/checkout/internal/events/analytics"
	"github.com/checkout-dev/checkout/internal/events/analytics/s3sink"
	"github.com/checkout-dev/checkout/internal/events/lambdarun"
)

func main() {
	lambdarun.RunConfigured("analytics",
		func(ctx context.Context, log *slog.Logger) (analytics.Sink, error) {
			sink, err := s3sink.FromEnv(ctx, os.Getenv)
			if err == nil {
				log.Info("analytics sink", "sink", sink.String())
			}
			return sink, err
		},
		func(_ context.Context, pool *pgxpool.Pool, log *slog.Logger, sink analytics.Sink) (*events.Consumer, error) {
			return analytics.NewSinkConsumer(pool, sink, log), nil
		})
}
