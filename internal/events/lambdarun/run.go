// Package lambdarun is the shared main of the SQS consumer Lambdas.
package lambdarun

import (
	"context"
	"log/slog"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/app"
	"github.com/checkout-dev/checkout/internal/events"
)

// Run is the whole main of a consumer Lambda: read the configuration
// (DATABASE_URL or the database secret, see internal/app), open the pool
// once per container, build the consumer, apply CONSUMER_FAIL_TIMES (a
// fault hook for tests and local runs) and serve SQS batches. Start-up
// errors are logged and exit the process (Lambda reports an init error).
func Run(name string, build func(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) (*events.Consumer, error)) {
	RunConfigured(name,
		func(context.Context, *slog.Logger) (struct{}, error) { return struct{}{}, nil },
		func(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger, _ struct{}) (*events.Consumer, error) {
			return build(ctx, pool, log)
		})
}

// RunConfigured is Run with a consumer-specific configure step that runs
// first, before the database configuration is read or the pool opened, so
// a consumer misconfiguration is reported as "configuration" with its own
// error even when the database is unreachable. Its result is passed to
// build. Errors from either step are logged and exit the process.
func RunConfigured[C any](name string,
	configure func(ctx context.Context, log *slog.Logger) (C, error),
	build func(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger, cfg C) (*events.Consumer, error)) {
	log := app.Logger().With("function", name)
	app.SetupTracing(name, log)
	ctx := context.Background()
	exit := func(msg string, err error) {
		log.Error(msg, "err", err)
		os.Exit(1)
	}
	own, err := configure(ctx, log)
	if err != nil {
		exit("configuration", err)
	}
	cfg, err := app.FromEnv(ctx)
	if err != nil {
		exit("configuration", err)
	}
	pool, err := app.OpenPool(ctx, cfg)
	if err != nil {
		exit("database", err)
	}
	c, err := build(ctx, pool, log, own)
	if err != nil {
		exit("configuration", err)
	}
	if c.Fault, err = events.FaultFromEnv(); err != nil {
		exit("configuration", err)
	}
	app.StartTraced(c.Handle)
}
