// Package app wires the checkout core from configuration: the one place
// that turns environment variables into a pool, a gateway and the saga's
// steps. Lambda main.go files and the local runtime both call it.
package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/checkout-dev/checkout/internal/api"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/checkout-dev/checkout/internal/inventory"
)

// Config is everything the core needs, read from the environment.
type Config struct {
	DatabaseURL      string             // DATABASE_URL, or built from DATABASE_SECRET_ARN + DATABASE_PROXY_ENDPOINT
	StripeSecretKey  string             // STRIPE_SECRET_KEY, or the secret STRIPE_API_KEY_SECRET_ARN
	StripeAPIURL     string             // STRIPE_API_URL: a Stripe-compatible server (the local fake)
	Strategy         inventory.Strategy // INVENTORY_STRATEGY (bucketed, conditional, pessimistic, optimistic), default bucketed
	ReservationTTL   time.Duration      // RESERVATION_TTL (Go duration), default 15m
	MaxDBConnections int32              // DB_MAX_CONNS, default 4 (one Lambda serves one request at a time)
	// DatabaseReadURL is a read replica for the API's read-only routes
	// (DATABASE_READ_URL, or built from DATABASE_SECRET_ARN +
	// DATABASE_PROXY_READ_ENDPOINT, the RDS Proxy's read-only endpoint);
	// empty: every read goes to DatabaseURL (docs/replicas.md).
	DatabaseReadURL string
	// ReadMaxLag is how far behind the primary a replica read may be
	// (DATABASE_READ_MAX_LAG, a Go duration; 0: readpool.DefaultMaxLag).
	ReadMaxLag time.Duration
	// ReturnURL is where Stripe sends the customer back after 3-D Secure
	// (CHECKOUT_RETURN_URL; empty: the storefront uses Stripe.js).
	ReturnURL string
	// AuthenticationTimeout bounds the wait for a customer's 3-D Secure
	// (AUTHENTICATION_TIMEOUT_SECONDS), default 15 minutes.
	AuthenticationTimeout time.Duration
	// CORS is the browser origins allowed to call the API
	// (CORS_ALLOWED_ORIGINS, comma-separated, "*" for any; empty: none).
	CORS api.CORS
	// MaxUnfinishedCheckouts is how many checkouts one customer may have
	// in flight (MAX_UNFINISHED_CHECKOUTS; 0: checkout.DefaultMaxUnfinished).
	MaxUnfinishedCheckouts int
}

// FromEnv reads Config from the environment, fetching secrets from AWS
// Secrets Manager when their ARNs are given. Errors name the variable to fix.
func FromEnv(ctx context.Context) (Config, error) {
	cfg := Config{
		DatabaseURL:      os.Getenv("DATABASE_URL"),
		StripeSecretKey:  os.Getenv("STRIPE_SECRET_KEY"),
		StripeAPIURL:     os.Getenv("STRIPE_API_URL"),
		ReservationTTL:   15 * time.Minute,
		MaxDBConnections: 4,
		ReturnURL:        os.Getenv("CHECKOUT_RETURN_URL"),
	}
	var err error
	if v := os.Getenv("AUTHENTICATION_TIMEOUT_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return cfg, fmt.Errorf("AUTHENTICATION_TIMEOUT_SECONDS=%q: want a positive number of seconds like 900", v)
		}
		cfg.AuthenticationTimeout = time.Duration(n) * time.Second
	}
	if v := os.Getenv("MAX_UNFINISHED_CHECKOUTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > 1000 {
			return cfg, fmt.Errorf("MAX_UNFINISHED_CHECKOUTS=%q: want a whole number from 1 to 1000", v)
		}
		cfg.MaxUnfinishedCheckouts = n
	}
	if cfg.CORS, err = api.ParseCORSOrigins(os.Getenv("CORS_ALLOWED_ORIGINS")); err != nil {
		return cfg, fmt.Errorf("CORS_ALLOWED_ORIGINS: %w", err)
	}
	if cfg.Strategy, err = inventory.ParseStrategy(envOr("INVENTORY_STRATEGY", string(inventory.DefaultStrategy))); err != nil {
		return cfg, fmt.Errorf("INVENTORY_STRATEGY: %w", err)
	}
	if v := os.Getenv("RESERVATION_TTL"); v != "" {
		if cfg.ReservationTTL, err = time.ParseDuration(v); err != nil || cfg.ReservationTTL <= 0 {
			return cfg, fmt.Errorf("RESERVATION_TTL=%q: want a positive Go duration like 15m", v)
		}
	}
	if v := os.Getenv("DATABASE_READ_MAX_LAG"); v != "" {
		if cfg.ReadMaxLag, err = time.ParseDuration(v); err != nil || cfg.ReadMaxLag <= 0 {
			return cfg, fmt.Errorf("DATABASE_READ_MAX_LAG=%q: want a positive Go duration like 1s", v)
		}
	}
	fromSecret := cfg.DatabaseURL == ""
	if fromSecret {
		if cfg.DatabaseURL, err = databaseURLFromSecret(ctx); err != nil {
			return cfg, err
		}
	}
	cfg.DatabaseReadURL = os.Getenv("DATABASE_READ_URL")
	if readHost := os.Getenv("DATABASE_PROXY_READ_ENDPOINT"); cfg.DatabaseReadURL == "" && readHost != "" {
		if !fromSecret {
			return cfg, fmt.Errorf("DATABASE_PROXY_READ_ENDPOINT needs DATABASE_SECRET_ARN (or set DATABASE_READ_URL)")
		}
		// The writer's login, database and TLS, on the read-only endpoint:
		// the secret is fetched once.
		u, err := url.Parse(cfg.DatabaseURL)
		if err != nil {
			return cfg, fmt.Errorf("DATABASE_PROXY_READ_ENDPOINT: %w", err)
		}
		u.Host = net.JoinHostPort(readHost, envOr("DATABASE_PORT", "5432"))
		cfg.DatabaseReadURL = u.String()
	}
	if cfg.StripeSecretKey == "" && os.Getenv("STRIPE_API_KEY_SECRET_ARN") != "" {
		if cfg.StripeSecretKey, err = SecretString(ctx, os.Getenv("STRIPE_API_KEY_SECRET_ARN")); err != nil {
			return cfg, fmt.Errorf("STRIPE_API_KEY_SECRET_ARN: %w", err)
		}
	}
	return cfg, nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// databaseURLFromSecret builds a DSN from an RDS-managed secret
// ({"username","password"}), DATABASE_PROXY_ENDPOINT (the RDS Proxy),
// DATABASE_PORT and DATABASE_NAME, as template.yaml sets them, with TLS
// verified (sslmode=verify-full; DATABASE_SSLROOTCERT for a CA bundle of
// its own).
func databaseURLFromSecret(ctx context.Context) (string, error) {
	arn, host := os.Getenv("DATABASE_SECRET_ARN"), os.Getenv("DATABASE_PROXY_ENDPOINT")
	if arn == "" || host == "" {
		return "", fmt.Errorf("set DATABASE_URL, or DATABASE_SECRET_ARN and DATABASE_PROXY_ENDPOINT")
	}
	host = net.JoinHostPort(host, envOr("DATABASE_PORT", "5432"))
	raw, err := SecretString(ctx, arn)
	if err != nil {
		return "", fmt.Errorf("DATABASE_SECRET_ARN: %w", err)
	}
	var s struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := json.Unmarshal([]byte(raw), &s); err != nil || s.Username == "" {
		return "", fmt.Errorf("DATABASE_SECRET_ARN: the secret must be JSON with username and password")
	}
	// verify-full: the server's certificate must chain to a trusted root
	// and name the host. RDS Proxy presents an ACM certificate (Amazon
	// Root CA, in the Lambda runtime's trust store); a direct Aurora
	// endpoint needs the RDS CA bundle: DATABASE_SSLROOTCERT names it.
	q := url.Values{"sslmode": {"verify-full"}}
	if ca := os.Getenv("DATABASE_SSLROOTCERT"); ca != "" {
		q.Set("sslrootcert", ca)
	}
	u := url.URL{Scheme: "postgres", User: url.UserPassword(s.Username, s.Password), Host: host,
		Path: "/" + envOr("DATABASE_NAME", "checkout"), RawQuery: q.Encode()}
	return u.String(), nil
}

func SecretString(ctx context.Context, arn string) (string, error) {
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return "", err
	}
	out, err := secretsmanager.NewFromConfig(awsCfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(aws.ToString(out.SecretString)), nil
}

// Logger returns the JSON slog logger every program uses; LOG_LEVEL
// (debug, info, warn, error) sets its level.
func Logger() *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(envOr("LOG_LEVEL", "info")))
	return slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: level}))
}

// SFNClient returns a Step Functions client from the Lambda's AWS
// configuration (AWS_ENDPOINT_URL_SFN or SFN_ENDPOINT point it elsewhere,
// e.g. at the local stack).
func SFNClient(ctx context.Context) (*sfn.Client, error) {
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, err
	}
	return sfn.NewFromConfig(awsCfg, func(o *sfn.Options) {
		for _, k := range []string{"AWS_ENDPOINT_URL_SFN", "SFN_ENDPOINT"} {
			if v := os.Getenv(k); v != "" {
				o.BaseEndpoint = aws.String(v)
				return
			}
		}
	}), nil
}

// SQSClient returns an SQS client from the Lambda's AWS configuration.
func SQSClient(ctx context.Context) (*sqs.Client, error) {
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, err
	}
	return sqs.NewFromConfig(awsCfg), nil
}

// RequiredEnv returns the value of environment variable k, or an error
// naming it.
func RequiredEnv(k string) (string, error) {
	v := strings.TrimSpace(os.Getenv(k))
	if v == "" {
		return "", fmt.Errorf("set %s", k)
	}
	return v, nil
}
