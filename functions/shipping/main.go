// Command shipping is the shipping consumer Lambda (SQS, partial batch
// failures): it creates one shipment request per order.created event.
package main

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/events"
	"github.com/checkout-dev/checkout/internal/events/lambdarun"
	"github.com/checkout-dev/checkout/internal/events/shipping"
)

func main() {
	lambdarun.Run("shipping", func(_ context.Context, pool *pgxpool.Pool, log *slog.Logger) (*events.Consumer, error) {
		return shipping.NewConsumer(pool, log), nil
	})
}
