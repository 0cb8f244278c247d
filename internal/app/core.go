package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/checkout-dev/checkout/internal/api"
	"github.com/checkout-dev/checkout/internal/catalog"
	"github.com/checkout-dev/checkout/internal/checkout"
	"github.com/checkout-dev/checkout/internal/inventory"
	"github.com/checkout-dev/checkout/internal/metrics"
	"github.com/checkout-dev/checkout/internal/order"
	"github.com/checkout-dev/checkout/internal/payment"
	"github.com/checkout-dev/checkout/internal/readpool"
	"github.com/checkout-dev/checkout/internal/reconcile"
	"github.com/checkout-dev/checkout/internal/redisconn"
	"github.com/checkout-dev/checkout/internal/saga"
	"github.com/checkout-dev/checkout/internal/stockgate"
)

// Core is the checkout domain wired on one pool and one gateway.
type Core struct {
	Pool      *pgxpool.Pool
	Catalog   *catalog.Store
	Checkouts *checkout.Store
	Inventory *inventory.Store
	Payments  *payment.Service
	Orders    *order.Service
	Steps     *saga.Steps
	// Redis is the Redis layer's client (REDIS_URL) opened by OpenCore, nil
	// without one: the stock gate is on it, and the API puts the catalog
	// cache and the carts there too.
	Redis redis.UniversalClient
	// Reader routes the API's read-only routes to the read replica
	// (WithReplica, DATABASE_READ_URL) or the primary; without a replica it
	// reads the primary.
	Reader  *readpool.Reader
	cfg     Config
	metrics metrics.Recorder
}

// Option adjusts NewCore's wiring.
type Option func(*options)

type options struct {
	metrics metrics.Recorder
	breaker *payment.BreakerOptions
	gate    *stockgate.Gate
	replica *pgxpool.Pool
}

// WithReplica gives the API a read replica: its read-only routes read
// there while the replica is up and within cfg.ReadMaxLag (readpool,
// docs/replicas.md). The caller keeps ownership of replica.
func WithReplica(replica *pgxpool.Pool) Option {
	return func(o *options) { o.replica = replica }
}

// WithGate gives the inventory the Redis stock gate g: the gated strategy
// asks it first, and releases, expiries and sales are reported to it.
// Without it the gated strategy reserves as the bucketed one.
func WithGate(g *stockgate.Gate) Option {
	return func(o *options) { o.gate = g }
}

// OpenGate returns the stock gate on rdb (namespace stockgate.DefaultNamespace,
// the gate's default timeouts), or nil when rdb is nil.
func OpenGate(rdb redis.UniversalClient) (*stockgate.Gate, error) {
	if rdb == nil {
		return nil, nil
	}
	return stockgate.New(rdb, stockgate.Options{})
}

// WithMetrics publishes the custom metrics (payments, checkout duration,
// circuit breaker) through r. Without it NewCore publishes nothing.
func WithMetrics(r metrics.Recorder) Option {
	return func(o *options) { o.metrics = r }
}

// WithBreaker wraps the gateway in a payment.Breaker configured by bo
// (zero value: 5 consecutive failures, open for 30 s), whose state is in
// the pool's database: every process wired to that database shares it. Its transitions are
// published as CircuitBreakerOpen (1 open, 0 closed) after bo's own
// OnStateChange, if any. Without it the gateway is used as given.
func WithBreaker(bo payment.BreakerOptions) Option {
	return func(o *options) { o.breaker = &bo }
}

// NewCore wires the domain packages. gw is the payment gateway (Stripe, or
// Stripe pointed at the local fake). By default it adds no circuit breaker
// and publishes no metrics (tests, make dev); OpenCore, the Lambda wiring,
// passes WithBreaker and WithMetrics.
func NewCore(pool *pgxpool.Pool, gw payment.Gateway, cfg Config, log *slog.Logger, opts ...Option) *Core {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	rec := metrics.OrNop(o.metrics)
	if o.breaker != nil {
		bo := *o.breaker
		next := bo.OnStateChange
		bo.OnStateChange = func(open bool) {
			if next != nil {
				next(open)
			}
			v := 0
			if open {
				v = 1
			}
			rec.Record(context.Background(), metrics.Entry{Metrics: []metrics.Metric{{Name: metrics.CircuitBreakerOpen, Value: float64(v), Unit: metrics.None}}})
		}
		gw = payment.NewBreaker(gw, pool, bo)
	}
	c := &Core{Pool: pool, Catalog: catalog.NewStore(pool), Checkouts: checkout.NewStore(pool), cfg: cfg, metrics: rec,
		Reader: readpool.New(pool, o.replica, readpool.Options{MaxLag: cfg.ReadMaxLag, Log: log})}
	c.Checkouts.SetMaxUnfinished(cfg.MaxUnfinishedCheckouts)
	c.Inventory = inventory.New(pool, inventory.Options{Strategy: cfg.Strategy, Logger: log, Gate: o.gate})
	c.Payments = payment.NewService(pool, gw, payment.Backoff{}, log).WithMetrics(rec)
	c.Orders = order.NewService(pool, c.Inventory)
	c.Steps = &saga.Steps{Pool: pool, Checkouts: c.Checkouts, Inventory: c.Inventory, Payments: c.Payments, Orders: c.Orders,
		ReservationTTL: cfg.ReservationTTL, Log: log, Metrics: rec}
	return c
}

// OpenCore opens the pool from cfg and wires the core with the Stripe
// gateway (at cfg.StripeAPIURL when set) behind a circuit breaker, and
// metrics in CloudWatch Embedded Metric Format on stdout (namespace
// METRICS_NAMESPACE, default Checkout). Used once per Lambda container;
// the breaker's state is in the database, so all containers share one.
func OpenCore(ctx context.Context, cfg Config, log *slog.Logger) (*Core, error) {
	pool, err := OpenPool(ctx, cfg)
	if err != nil {
		return nil, err
	}
	gw := payment.NewStripe(payment.StripeConfig{SecretKey: cfg.StripeSecretKey, URL: cfg.StripeAPIURL, ReturnURL: cfg.ReturnURL})
	rec := metrics.NewEMF(os.Stdout, metrics.EMFOptions{Namespace: metrics.NamespaceFromEnv(), ErrorLog: log})
	opts := []Option{WithMetrics(rec), WithBreaker(payment.BreakerOptions{})}
	var rdb redis.UniversalClient
	if rc := redisconn.FromEnv(); rc.URL != "" {
		// Connects lazily; a Redis that is down makes the gate fall back.
		if rdb, err = redisconn.New(rc); err != nil {
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		g, err := OpenGate(rdb)
		if err != nil {
			return nil, err
		}
		opts = append(opts, WithGate(g))
	}
	if cfg.DatabaseReadURL != "" {
		// Connects lazily too; a replica that is down sends reads to the
		// primary.
		replica, err := OpenPool(ctx, Config{DatabaseURL: cfg.DatabaseReadURL, MaxDBConnections: cfg.MaxDBConnections})
		if err != nil {
			return nil, fmt.Errorf("DATABASE_READ_URL: %w", err)
		}
		opts = append(opts, WithReplica(replica))
	}
	c := NewCore(pool, gw, cfg, log, opts...)
	c.Redis = rdb
	return c, nil
}

// OpenPool opens the pool of cfg.DatabaseURL with at most
// cfg.MaxDBConnections connections (a Lambda serves one request at a time).
// It connects lazily: nothing is dialled at start-up.
func OpenPool(ctx context.Context, cfg Config) (*pgxpool.Pool, error) {
	pcfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	pcfg.MaxConns = cfg.MaxDBConnections
	return pgxpool.NewWithConfig(ctx, pcfg)
}

// Metrics is the recorder the core publishes through (a no-op one without
// WithMetrics), for the other parts of a process: the sweeper's
// InventoryDiscrepancy.
func (c *Core) Metrics() metrics.Recorder { return c.metrics }

// Reconciler returns the payment reconciler on the core's ledger and
// gateway, handing problems to rev and resuming executions that wait for
// their customer through the steps' Resumer (set it first).
func (c *Core) Reconciler(rev reconcile.Reviewer, log *slog.Logger) *reconcile.Reconciler {
	return &reconcile.Reconciler{Pool: c.Pool, Payments: c.Payments, Checkouts: c.Checkouts, Orders: c.Orders,
		Inventory: c.Inventory, Review: rev, Resumer: c.Steps.Resumer, Log: log}
}

// APIDeps wires the public API on the core: exec starts the saga's
// executions, stock is the inventory store the API reads (a store with the
// sold-out cache in a long-lived process; the core's own otherwise).
func (c *Core) APIDeps(exec checkout.Executions, stock *inventory.Store, log *slog.Logger) api.Deps {
	if stock == nil {
		stock = c.Inventory
	}
	return api.Deps{Pool: c.Pool, Catalog: c.Catalog, Checkouts: c.Checkouts, Orders: c.Orders, Inventory: stock, Log: log,
		Payments: c.Payments, CORS: c.cfg.CORS, Metrics: c.metrics, Reads: api.NewReads(c.Reader),
		Starter: c.Starter(exec, stock)}
}

// Starter starts checkouts' sagas with exec, checking availability with
// stock (the core's own when nil). The API's Starter and the start queue's
// consumer are the same thing.
func (c *Core) Starter(exec checkout.Executions, stock *inventory.Store) *checkout.Starter {
	if stock == nil {
		stock = c.Inventory
	}
	return checkout.NewStarter(c.Pool, c.Checkouts, stock, exec, saga.InputWith(c.cfg.AuthenticationTimeout))
}
