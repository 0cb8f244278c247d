package app

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/checkout"
	"github.com/checkout-dev/checkout/internal/inventory"
	"github.com/checkout-dev/checkout/internal/order"
	"github.com/checkout-dev/checkout/internal/payment"
	"github.com/checkout-dev/checkout/internal/saga"
)

// Core is the checkout domain wired on one pool and one gateway.
type Core struct {
	Pool      *pgxpool.Pool
	Checkouts *checkout.Store
	Inventory *inventory.Store
	Payments  *payment.Service
	Orders    *order.Service
	Steps     *saga.Steps
}

// NewCore wires the domain packages. gw is the payment gateway (Stripe, or
// Stripe pointed at the local fake).
func NewCore(pool *pgxpool.Pool, gw payment.Gateway, cfg Config, log *slog.Logger) *Core {
	c := &Core{Pool: pool, Checkouts: checkout.NewStore(pool)}
	c.Inventory = inventory.New(pool, inventory.Options{Strategy: cfg.Strategy, Logger: log})
	c.Payments = payment.NewService(pool, gw, payment.Backoff{}, log)
	c.Orders = order.NewService(pool, c.Inventory)
	c.Steps = &saga.Steps{Checkouts: c.Checkouts, Inventory: c.Inventory, Payments: c.Payments, Orders: c.Orders,
		ReservationTTL: cfg.ReservationTTL, Log: log}
	return c
}

// OpenCore opens the pool from cfg and wires the core with the Stripe
// gateway (at cfg.StripeAPIURL when set). Used once per Lambda container.
func OpenCore(ctx context.Context, cfg Config, log *slog.Logger) (*Core, error) {
	pcfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	pcfg.MaxConns = cfg.MaxDBConnections
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, err
	}
	gw := payment.NewStripe(payment.StripeConfig{SecretKey: cfg.StripeSecretKey, URL: cfg.StripeAPIURL})
	return NewCore(pool, gw, cfg, log), nil
}
