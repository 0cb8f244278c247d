package notify

import (
	"context"
	"fmt"
	"net/mail"

	"github.com/jackc/pgx/v5"
)

// Sender delivers a rendered e-mail. tx is the consumer's transaction,
// which also claims the event: senders that store the message (Outbox)
// write through it so the e-mail commits exactly once with the claim;
// remote senders (SES) ignore it, and a crash between their send and the
// commit can send the message twice (at least once). A *events.SkipError
// means "never deliverable" (no retry).
type Sender interface {
	Send(ctx context.Context, tx pgx.Tx, m Email) error
}

// Outbox stores e-mails in outbox_emails for a developer to read; one row
// per event id.
type Outbox struct{}

// Send implements Sender.
func (Outbox) Send(ctx context.Context, tx pgx.Tx, m Email) error {
	var to any
	if m.To != "" {
		to = m.To
	}
	_, err := tx.Exec(ctx, `INSERT INTO outbox_emails (event_id, order_id, user_id, to_address, from_address, subject, text_body, html_body)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (event_id) DO NOTHING`,
		m.EventID, m.OrderID, m.UserID, to, m.From, m.Subject, m.Text, m.HTML)
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	return nil
}

// AddressFromUserID is the default recipient lookup: the user id itself
// when it is a bare e-mail address (identity providers configured to use
// the e-mail as subject), else "".
func AddressFromUserID(userID string) string {
	a, err := mail.ParseAddress(userID)
	if err != nil || a.Address != userID {
		return ""
	}
	return a.Address
}
