// Command checkout-local is what `make dev` runs: the checkout stack on one
// machine, with no Docker and no AWS account.
//
// Today it starts PostgreSQL (DATABASE_URL, or a cluster kept under
// .data/pg), applies the migrations, seeds the demo catalog, starts the
// Stripe-compatible fake (or uses Stripe test mode when STRIPE_SECRET_KEY is
// set) and runs scripted checkouts through the saga's step handlers in
// process, printing each step.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/checkout-dev/checkout/internal/app"
	"github.com/checkout-dev/checkout/internal/inventory"
	"github.com/checkout-dev/checkout/internal/local/devdb"
	"github.com/checkout-dev/checkout/internal/payment"
	"github.com/checkout-dev/checkout/internal/stripefake"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "checkout-local:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logf := func(format string, args ...any) { fmt.Printf("• "+format+"\n", args...) }

	db, err := devdb.Open(ctx, envOr("CHECKOUT_DATA_DIR", ".data/pg"), logf)
	if err != nil {
		return err
	}
	defer db.Close()

	strategy, err := inventory.ParseStrategy(envOr("INVENTORY_STRATEGY", string(inventory.Conditional)))
	if err != nil {
		return fmt.Errorf("INVENTORY_STRATEGY: %w", err)
	}
	gw, closeGW, err := gateway(logf)
	if err != nil {
		return err
	}
	defer closeGW()
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	core := app.NewCore(db.Pool, gw, app.Config{Strategy: strategy, ReservationTTL: saga15m}, log)
	return demo(ctx, core, os.Stdout)
}

// gateway returns Stripe test mode when STRIPE_SECRET_KEY is set, else the
// embedded Stripe-compatible fake on a loopback port.
func gateway(logf func(string, ...any)) (payment.Gateway, func(), error) {
	if key := os.Getenv("STRIPE_SECRET_KEY"); key != "" {
		logf("payments: Stripe (STRIPE_SECRET_KEY)")
		return payment.NewStripe(payment.StripeConfig{SecretKey: key}), func() {}, nil
	}
	fake := stripefake.New(stripefake.Options{})
	url, stopFake, err := fake.Start(envOr("CHECKOUT_STRIPE_ADDR", "127.0.0.1:0"))
	if err != nil {
		return nil, nil, err
	}
	logf("payments: Stripe-compatible fake at %s (faults: POST %s/_fake/faults)", url, url)
	return payment.NewStripe(payment.StripeConfig{SecretKey: "sk_test_local", URL: url}), func() { stopFake(); fake.Close() }, nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
