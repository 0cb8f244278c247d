package inventory

import (
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/stockgate"
)

// Options configure a [Store]. The zero value is usable: every zero field
// takes the default named in its comment.
type Options struct {
	// Strategy used by Reserve. Default [DefaultStrategy] ([Bucketed]). An unknown value makes
	// Reserve fail with an Internal error (use [ParseStrategy] on config).
	Strategy Strategy
	// Now is the clock used for expiry decisions. Default time.Now.
	Now func() time.Time
	// OptimisticRetries is how many times the Optimistic strategy retries one
	// line after losing a version race, before Reserve returns Transient.
	// Default 64.
	OptimisticRetries int
	// TxRetries is how many times a whole transaction is re-run after a
	// serialization failure or deadlock before the error becomes Transient.
	// Default 5.
	TxRetries int
	// LockTimeout bounds every lock wait (SET LOCAL lock_timeout). Default 5s.
	LockTimeout time.Duration
	// StatementTimeout bounds every statement (SET LOCAL statement_timeout).
	// Default 30s.
	StatementTimeout time.Duration
	// Actor is written to audit_log.actor. Default "inventory".
	Actor string
	// Logger receives retry and contention diagnostics. Default slog.Default().
	Logger *slog.Logger
	// SoldOutCache turns the in-process sold-out cache on from the start,
	// invalidated only by its max age (for Lambda behind RDS Proxy, where a
	// LISTEN connection would be pinned). [Store.StartSoldOutCache] turns it
	// on with LISTEN/NOTIFY invalidation instead. Default off.
	SoldOutCache bool
	// SoldOutMaxAge is how long a sold-out entry is trusted at most (the
	// safety net when a notification is missed). Default
	// [DefaultSoldOutMaxAge] (1s).
	SoldOutMaxAge time.Duration
	// ClientSideReserve makes the Bucketed and Conditional strategies run
	// Reserve as several statements from Go (the implementation before the
	// server-side function of migration 00007) instead of one function
	// call. For comparison benchmarks; default false.
	ClientSideReserve bool
	// NoCombine turns off the combining of concurrent single-line Reserve
	// calls into one transaction (server-side strategies only). For
	// comparison benchmarks; default false.
	NoCombine bool
	// Gate is the Redis stock gate the [Gated] strategy asks first. Release,
	// ExpireDue and GateCommitted tell it when units come back or are sold,
	// whatever the strategy. Nil: Gated behaves as [Bucketed].
	Gate *stockgate.Gate
	// GateBuckets is how many buckets ArmGate splits a SKU over (when it has
	// fewer), so that gate-admitted buyers take from different rows.
	// Default [DefaultGateBuckets].
	GateBuckets int
	// GateStaleAfter is how old a gate hold must be, with no reservation in
	// the database, before the sync step returns its units (its caller died
	// between the gate and the database). Default [DefaultGateStaleAfter].
	GateStaleAfter time.Duration
}

// Store reserves, releases and commits stock. It is safe for concurrent use.
type Store struct {
	pool    *pgxpool.Pool
	opts    Options
	log     *slog.Logger
	soldOut *soldOutCache // shared by WithActor copies
	combine *combiner     // per Store (a WithActor copy combines separately)
	gate    *gateState    // shared by WithActor copies
}

// New returns a Store on pool. The caller keeps ownership of pool.
func New(pool *pgxpool.Pool, opts Options) *Store {
	if opts.Strategy == "" {
		opts.Strategy = DefaultStrategy
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.OptimisticRetries <= 0 {
		opts.OptimisticRetries = 64
	}
	if opts.TxRetries <= 0 {
		opts.TxRetries = 5
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = 5 * time.Second
	}
	if opts.StatementTimeout <= 0 {
		opts.StatementTimeout = 30 * time.Second
	}
	if opts.Actor == "" {
		opts.Actor = "inventory"
	}
	if opts.GateBuckets <= 0 {
		opts.GateBuckets = DefaultGateBuckets
	}
	opts.GateBuckets = min(opts.GateBuckets, MaxBuckets)
	if opts.GateStaleAfter <= 0 {
		opts.GateStaleAfter = DefaultGateStaleAfter
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	st := &Store{pool: pool, opts: opts, log: log.With("component", "inventory"), soldOut: newSoldOutCache(opts.SoldOutMaxAge),
		combine: &combiner{}, gate: &gateState{}}
	st.soldOut.enabled.Store(opts.SoldOutCache)
	return st
}

// WithActor returns a Store sharing s's pool and options whose audit rows
// name actor (for example the admin user behind SetOnHand). An empty actor
// returns s.
func (s *Store) WithActor(actor string) *Store {
	if actor == "" {
		return s
	}
	c := *s
	c.opts.Actor = actor
	c.combine = &combiner{} // a batch writes one actor
	return &c
}

// Gate returns the stock gate of Options.Gate (nil without one), for a
// second Store that must share it.
func (s *Store) Gate() *stockgate.Gate { return s.opts.Gate }

// Strategy reports the strategy Reserve uses.
func (s *Store) Strategy() Strategy { return s.opts.Strategy }
