// Package events defines the post-order event that the state machine
// publishes to the notification, shipping and analytics queues.
package events

import (
	"time"

	"github.com/google/uuid"
)

// SchemaVersion is the version of OrderEvent's JSON shape. Consumers reject
// versions they do not know.
const SchemaVersion = 1

// TypeOrderCreated is the type of the event sent when an order is created.
const TypeOrderCreated = "order.created"

// OrderEvent is published once per order (schema version 1):
//
//	{"schema_version":1,"event_id":"<uuid>","type":"order.created","occurred_at":"<RFC 3339>",
//	 "order":{"order_id","checkout_id","user_id","amount","currency","items":[{"sku","name","quantity","unit_amount"}]}}
//
// EventID is derived from the order id, so re-running the step that builds
// the event yields the same id and consumers can deduplicate on it.
type OrderEvent struct {
	SchemaVersion int       `json:"schema_version"`
	EventID       string    `json:"event_id"`
	Type          string    `json:"type"`
	OccurredAt    time.Time `json:"occurred_at"`
	Order         Order     `json:"order"`
}

// Order is the order snapshot carried by an event.
type Order struct {
	OrderID    string `json:"order_id"`
	CheckoutID string `json:"checkout_id"`
	UserID     string `json:"user_id"`
	Amount     int64  `json:"amount"`
	Currency   string `json:"currency"`
	Items      []Item `json:"items"`
}

// Item is one order line in an event.
type Item struct {
	SKU        string `json:"sku"`
	Name       string `json:"name"`
	Quantity   int    `json:"quantity"`
	UnitAmount int64  `json:"unit_amount"`
}

// EventID returns the deterministic id of the event of type typ for orderID.
func EventID(orderID uuid.UUID, typ string) string {
	return uuid.NewSHA1(orderID, []byte(typ)).String()
}
