// Package ses is the production sender of order confirmations: Amazon SES
// v2 through aws-sdk-go-v2. It lives apart from package notify so that only
// the notification Lambda links the SES client.
package ses

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/jackc/pgx/v5"

	"github.com/checkout-dev/checkout/internal/events"
	"github.com/checkout-dev/checkout/internal/notify"
)

// API is the part of the SES v2 client Sender uses.
type API interface {
	SendEmail(ctx context.Context, in *sesv2.SendEmailInput, optFns ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error)
}

// Sender sends through Amazon SES v2. ConfigurationSet is optional.
type Sender struct {
	Client           API
	ConfigurationSet string
}

// Send implements notify.Sender. A message without recipient is skipped.
func (s Sender) Send(ctx context.Context, _ pgx.Tx, m notify.Email) error {
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
