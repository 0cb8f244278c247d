// Package shipping is the shipping consumer: one shipment request row per
// order, created from the order.created event.
package shipping

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/events"
)

// ConsumerName keys this consumer's rows in processed_messages.
const ConsumerName = "shipping"

// ShipmentID is the deterministic id of the shipment of an order.
func ShipmentID(orderID uuid.UUID) uuid.UUID {
	return uuid.NewSHA1(orderID, []byte("shipment"))
}

// CreateShipment inserts the shipment request of d's order in tx. It is
// idempotent per order (the row's order_id is unique).
func CreateShipment(ctx context.Context, tx pgx.Tx, d events.Delivery) error {
	o := d.Event.Order
	orderID, err := uuid.Parse(o.OrderID)
	if err != nil {
		return fmt.Errorf("order id: %w", err)
	}
	items, err := json.Marshal(o.Items)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO shipments (id, order_id, checkout_id, user_id, event_id, items)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (order_id) DO NOTHING`,
		ShipmentID(orderID), orderID, o.CheckoutID, o.UserID, d.Event.EventID, items)
	if err != nil {
		return fmt.Errorf("insert shipment for order %s: %w", o.OrderID, err)
	}
	return nil
}

// NewConsumer returns the shipping consumer on pool.
func NewConsumer(pool *pgxpool.Pool, log *slog.Logger) *events.Consumer {
	return &events.Consumer{Name: ConsumerName, Pool: pool, Work: CreateShipment, Log: log}
}
