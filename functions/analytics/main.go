// Command analytics is the analytics consumer Lambda (SQS, partial batch
// failures): it appends order events as newline-delimited JSON batch files
// under ANALYTICS_DIR (default .data/analytics).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/events"
	"github.com/checkout-dev/checkout/internal/events/analytics"
	"github.com/checkout-dev/checkout/internal/events/lambdarun"
)

func main() {
	lambdarun.Run("analytics", func(_ context.Context, pool *pgxpool.Pool, log *slog.Logger) (*events.Consumer, error) {
		dir := os.Getenv("ANALYTICS_DIR")
		if dir == "" {
			dir = ".data/analytics"
		}
		return analytics.NewConsumer(pool, dir, log), nil
	})
}
