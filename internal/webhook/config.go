package webhook

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
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
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return "", fmt.Errorf("STRIPE_WEBHOOK_SECRET_ARN: aws config: %w", err)
	}
	out, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		return "", fmt.Errorf("STRIPE_WEBHOOK_SECRET_ARN: %w", err)
	}
	s := strings.TrimSpace(aws.ToString(out.SecretString))
	if s == "" {
		return "", errors.New("STRIPE_WEBHOOK_SECRET_ARN: the secret is empty")
	}
	return s, nil
}
