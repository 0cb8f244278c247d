// Command notification is the notification consumer Lambda (SQS, partial
// batch failures): it renders the order confirmation and sends it.
//
// Environment: NOTIFY_SENDER "ses" (default when SENDER_EMAIL_ADDRESS is
// set) or "outbox" (the outbox_emails table, for local runs);
// SENDER_EMAIL_ADDRESS the From address; SES_CONFIGURATION_SET optional.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/events"
	"github.com/checkout-dev/checkout/internal/events/lambdarun"
	"github.com/checkout-dev/checkout/internal/notify"
	"github.com/checkout-dev/checkout/internal/notify/ses"
)

func main() {
	lambdarun.Run("notification", func(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) (*events.Consumer, error) {
		from := os.Getenv("SENDER_EMAIL_ADDRESS")
		mode := os.Getenv("NOTIFY_SENDER")
		if mode == "" {
			mode = "outbox"
			if from != "" {
				mode = "ses"
			}
		}
		n := &notify.Notifier{From: from}
		switch mode {
		case "ses":
			if from == "" {
				return nil, fmt.Errorf("NOTIFY_SENDER=ses needs SENDER_EMAIL_ADDRESS")
			}
			cfg, err := awsconfig.LoadDefaultConfig(ctx)
			if err != nil {
				return nil, fmt.Errorf("aws config: %w", err)
			}
			n.Sender = ses.Sender{Client: sesv2.NewFromConfig(cfg), ConfigurationSet: os.Getenv("SES_CONFIGURATION_SET")}
		case "outbox":
			if n.From == "" {
				n.From = "orders@checkout.local"
			}
			n.Sender = notify.Outbox{}
		default:
			return nil, fmt.Errorf("NOTIFY_SENDER=%q: want ses or outbox", mode)
		}
		log.Info("notification sender", "mode", mode)
		return notify.NewConsumer(pool, n, log), nil
	})
}
