package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/checkout-dev/checkout/internal/auth"
	"github.com/checkout-dev/checkout/internal/local/stack"
)

// runStack starts the whole stack, prints how to use it, and serves until
// Ctrl-C.
func runStack() error {
	stack.RelaxGC()
	ctx, stop := signalContext()
	defer stop()
	started := time.Now()
	var level slog.Level
	_ = level.UnmarshalText([]byte(envOr("LOG_LEVEL", "info")))
	log := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{Level: level}))
	params, err := parameterOverrides()
	if err != nil {
		return err
	}
	faults, err := lambdaFaults()
	if err != nil {
		return err
	}
	quotas, err := sfnQuotas()
	if err != nil {
		return err
	}
	transitions, err := sfnTransitionQuota()
	if err != nil {
		return err
	}
	opts := stack.Options{
		Parameters:         params,
		LambdaFaults:       faults,
		SFNQuotas:          quotas,
		SFNTransitionQuota: transitions,
		RedisAddr:          os.Getenv("CHECKOUT_REDIS_ADDR"),
		DataDir:            envOr("CHECKOUT_DATA_DIR", ".data"),
		Addr:               envOr("CHECKOUT_ADDR", "127.0.0.1:3000"),
		SQSAddr:            envOr("CHECKOUT_SQS_ADDR", "127.0.0.1:9324"),
		SFNAddr:            envOr("CHECKOUT_SFN_ADDR", "127.0.0.1:8083"),
		StripeAddr:         envOr("CHECKOUT_STRIPE_ADDR", "127.0.0.1:12111"),
		APIKey:             envOr("CHECKOUT_API_KEY", stack.DefaultAPIKey),
		JWTSecret:          envOr("CHECKOUT_JWT_SECRET", stack.DefaultJWTSecret),
		StripeKey:          os.Getenv("STRIPE_SECRET_KEY"),
		StripeURL:          os.Getenv("STRIPE_API_URL"),
		DatabaseURL:        os.Getenv("DATABASE_URL"),
		// A read replica of DATABASE_URL for the API's read-only routes
		// (docs/replicas.md); none by default.
		ReadDatabaseURL: os.Getenv("DATABASE_READ_URL"),
		Log:             log,
	}
	s, err := stack.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := banner(os.Stdout, s, opts, time.Since(started)); err != nil {
		return err
	}
	if len(params) > 0 {
		fmt.Printf("Template parameters overridden (CHECKOUT_PARAMETER_OVERRIDES): %s\n", describeOverrides(params))
	}
	if q := describeSFNQuotas(quotas, transitions); q != "" {
		fmt.Printf("Step Functions quotas changed (CHECKOUT_SFN_*): %s\n", q)
	}
	if faults != nil {
		fmt.Printf("FAULT INJECTION: %.0f%% of saga step invocations fail like a dying Lambda (CHECKOUT_LAMBDA_FAULT_RATE)\n", faults.Rate*100)
	}
	<-ctx.Done()
	fmt.Println("\nstopping (the data stays in " + opts.DataDir + ")…")
	return nil
}

func banner(w io.Writer, s *stack.Stack, o stack.Options, took time.Duration) error {
	user, err := auth.Mint([]byte(o.JWTSecret), auth.MintOptions{Subject: "alice", TTL: 24 * time.Hour})
	if err != nil {
		return err
	}
	admin, err := auth.Mint([]byte(o.JWTSecret), auth.MintOptions{Subject: "admin", Admin: true, TTL: 24 * time.Hour})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, `
checkout is serving (ready in %s)

  API             %s          (x-api-key: %s)
  Dashboard       %s
  Step Functions  %s          (aws --endpoint-url %s stepfunctions list-executions --state-machine-arn %s)
  SQS             %s          (aws --endpoint-url %s sqs list-queues)
  Stripe          %s
  Redis           %s
  PostgreSQL      see %s/endpoints.json

Dev tokens (24 h; mint more with: go run ./cmd/checkout-local jwt --sub USER [--admin]):
  export TOKEN=%s
  export ADMIN_TOKEN=%s

Complete a checkout:
  curl -s -X POST %s/v1/checkouts \
    -H "x-api-key: %s" -H "Authorization: Bearer $TOKEN" \
    -H "Idempotency-Key: $(date +%%s%%N)" -H "Content-Type: application/json" \
    -d '{"items":[{"sku":"TEE-BLACK-M","quantity":1}],"currency":"USD","payment_method":"pm_card_visa"}'
  curl -s "%s/v1/checkouts/CHECKOUT_ID?wait=10" -H "x-api-key: %s" -H "Authorization: Bearer $TOKEN"
3-D Secure: pay with pm_card_authenticationRequired; the checkout waits in
requires_action: open its next_action.url and click Complete or Fail
(README: "3-D Secure by hand").

Ctrl-C stops; a restart resumes where it stopped.
`, took.Round(time.Millisecond), s.APIURL, o.APIKey, s.DashboardURL, s.SFNURL, s.SFNURL, s.StateMachineARN, s.SQSURL, s.SQSURL,
		s.StripeURL, s.RedisURL, o.DataDir, user, admin, s.APIURL, o.APIKey, s.APIURL, o.APIKey)
	if s.RedisNotice != "" {
		fmt.Fprintf(w, "NOTICE: %s\n", s.RedisNotice)
	}
	if o.ReadDatabaseURL != "" {
		fmt.Fprintln(w, "Read replica (DATABASE_READ_URL): the API's read-only routes read it while it keeps up (docs/replicas.md).")
	}
	return nil
}
