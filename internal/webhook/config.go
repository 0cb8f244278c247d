package webhook

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/checkout-dev/checkout/internal/app"
)

// SecretFromEnv returns the webhook signing secret: STRIPE_WEBHOOK_SECRET,
// else the SecretString of the Secrets Manager secret STRIPE_WEBHOOK_SECRET_ARN.
// Errors name the variable to fix.
func SecretFromEnv(ctx context.Context) (string, error) {
	if s := strings.TrimSpace(os.Getenv("STRIPE_WEBHOOK_SECRET")); s != "" {
		return s, nil
	}
	arn := os.Getenv("STRIPE_WEBHOOK_SECRET_ARN")
	if arn == "" {
		return "", errors.New("set STRIPE_WEBHOOK_SECRET or STRIPE_WEBHOOK_SECRET_ARN")
	}
	s, err := app.SecretString(ctx, arn)
	if err != nil {
		return "", fmt.Errorf("STRIPE_WEBHOOK_SECRET_ARN: %w", err)
	}
	if s == "" {
		return "", errors.New("STRIPE_WEBHOOK_SECRET_ARN: the secret is empty")
	}
	return s, nil
}
