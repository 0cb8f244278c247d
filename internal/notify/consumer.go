package notify

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/events"
)

// ConsumerName keys this consumer's rows in processed_messages.
const ConsumerName = "notification"

// Notifier renders and sends the order confirmation of each event.
type Notifier struct {
	Sender Sender
	From   string
	// Address returns the e-mail address of a user ("" when unknown).
	// Default AddressFromUserID.
	Address func(userID string) string
}

// Work is the consumer's events.Work.
func (n *Notifier) Work(ctx context.Context, tx pgx.Tx, d events.Delivery) error {
	addr := n.Address
	if addr == nil {
		addr = AddressFromUserID
	}
	m, err := Render(d.Event, n.From, addr(d.Event.Order.UserID))
	if err != nil {
		return err
	}
	return n.Sender.Send(ctx, tx, m)
}

// NewConsumer returns the notification consumer on pool.
func NewConsumer(pool *pgxpool.Pool, n *Notifier, log *slog.Logger) *events.Consumer {
	return &events.Consumer{Name: ConsumerName, Pool: pool, Work: n.Work, Log: log}
}
