package eventstest

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/internal/events"
)

// Event returns a valid order.created event for a new random order.
func Event() events.OrderEvent {
	orderID := uuid.New()
	return events.OrderEvent{
		SchemaVersion: events.SchemaVersion,
		EventID:       events.EventID(orderID, events.TypeOrderCreated),
		Type:          events.TypeOrderCreated,
		OccurredAt:    time.Now().UTC().Truncate(time.Millisecond),
		Order: events.Order{
			OrderID: orderID.String(), CheckoutID: uuid.NewString(), UserID: "user-1@example.com",
			Amount: 4497, Currency: "USD",
			Items: []events.Item{
				{SKU: "TSHIRT-M", Name: "T-shirt <M>", Quantity: 2, UnitAmount: 1999},
				{SKU: "STICKER", Name: "Sticker & co", Quantity: 1, UnitAmount: 499},
			},
		},
	}
}

// JSON marshals v (an event or anything else) for a message body.
func JSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // test data only
	}
	return string(b)
}
