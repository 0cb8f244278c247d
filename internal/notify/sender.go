package notify

import (
	"context"
	"fmt"
	"net/mail"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/jackc/pgx/v5"

	"github.com/checkout-dev/checkout/internal/events"
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

// SESAPI is the part of the SES v2 client SES uses.
type SESAPI interface {
	SendEmail(ctx context.Context, in *sesv2.SendEmailInput, optFns ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error)
}

// SES sends through Amazon SES v2. ConfigurationSet is optional.
type SES struct {
	Client           SESAPI
	ConfigurationSet string
}

// Send implements Sender. A message without recipient is skipped.
func (s SES) Send(ctx context.Context, _ pgx.Tx, m Email) error {
	if m.To == "" {
		return &events.SkipError{Reason: fmt.Sprintf("no e-mail address for user %q", m.UserID)}
	}
	in := &sesv2.SendEmailInput{
		FromEmailAddress: aws.String(m.From),
		Destination:      &types.Destination{ToAddresses: []string{m.To}},
		Content: &types.EmailContent{Simple: &types.Message{
			Subject: &types.Content{Data: aws.String(m.Subject), Charset: aws.String("UTF-8")},
			Body: &types.Body{
				Text: &types.Content{Data: aws.String(m.Text), Charset: aws.String("UTF-8")},
				Html: &types.Content{Data: aws.String(m.HTML), Charset: aws.String("UTF-8")},
			},
		}},
		EmailTags: []types.MessageTag{{Name: aws.String("event_id"), Value: aws.String(m.EventID)}},
	}
	if s.ConfigurationSet != "" {
		in.ConfigurationSetName = aws.String(s.ConfigurationSet)
	}
	if _, err := s.Client.SendEmail(ctx, in); err != nil {
		return fmt.Errorf("ses: send to %s: %w", m.To, err)
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
