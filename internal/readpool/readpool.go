// Package readpool sends reads to a read replica when the replica can
// answer them, and to the primary otherwise.
//
// A [Reader] holds the primary's pool and, optionally, a replica's
// (DATABASE_READ_URL; on AWS the RDS Proxy read-only endpoint in front of
// the Aurora readers). For each read, [Reader.Pick] chooses the replica
// only while it is
//
//   - up: a connection-class failure (refused, reset, timed out, the
//     server shutting down) marks it down; reads go to the primary and the
//     replica is tried again after a backoff (1 s, doubling to 30 s), and
//   - close enough: its staleness, measured by a probe (see probe.go), is
//     at most Options.MaxLag (default 1 s). The bound is strict: the
//     staleness measured at the probe plus the time since the probe. A
//     probe runs, inside the read that needs it, when that sum would pass
//     the bound, at most once per Options.MinProbeInterval (50 ms) per
//     Reader.
//
// [Read] runs a read there and, when the replica fails (down, a query the
// standby cancelled, a schema the replica has not replayed yet), runs it
// again on the primary: the caller never sees a replica's failure.
//
// What this package does not decide is which reads may be stale at all.
// Read-your-writes is the caller's rule, and the one this service uses
// (docs/replicas.md) needs no session or LSN token: a replica's answer is
// trusted only when nothing can change it any more (a completed checkout)
// or when a bounded staleness is acceptable (a product page); anything
// else, and any absence ("not found" may be a row not replayed yet), is
// asked of the primary through Read's trust function. That works the same
// behind a proxy spreading reads over several readers, where no single
// replay position describes the server that answers.
package readpool

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Side is where a read ran.
type Side uint8

// The sides of a read.
const (
	Primary Side = iota
	Replica
)

func (s Side) String() string {
	if s == Replica {
		return "replica"
	}
	return "primary"
}

// Defaults of Options.
const (
	DefaultMaxLag           = time.Second
	DefaultRetryAfter       = time.Second
	DefaultMaxRetryAfter    = 30 * time.Second
	DefaultTimeout          = 2 * time.Second
	DefaultProbeTimeout     = time.Second
	DefaultMinProbeInterval = 50 * time.Millisecond
)

// Options tune a Reader; zero values take the defaults above.
type Options struct {
	// MaxLag is how far behind the primary a replica read may be.
	MaxLag time.Duration
	// RetryAfter is the wait before a replica that failed is tried again,
	// doubled after every failed try up to MaxRetryAfter.
	RetryAfter, MaxRetryAfter time.Duration
	// Timeout bounds one read on the replica; a read that runs out is
	// asked of the primary and the replica counts as down (a replica that
	// hangs must not hang the request).
	Timeout time.Duration
	// ProbeTimeout bounds one measurement of the replica's staleness.
	ProbeTimeout time.Duration
	// MinProbeInterval is the least time between two probes.
	MinProbeInterval time.Duration
	Log              *slog.Logger
}

func (o Options) withDefaults() Options {
	def := func(p *time.Duration, v time.Duration) {
		if *p <= 0 {
			*p = v
		}
	}
	def(&o.MaxLag, DefaultMaxLag)
	def(&o.RetryAfter, DefaultRetryAfter)
	def(&o.MaxRetryAfter, DefaultMaxRetryAfter)
	def(&o.Timeout, DefaultTimeout)
	def(&o.ProbeTimeout, DefaultProbeTimeout)
	def(&o.MinProbeInterval, DefaultMinProbeInterval)
	if o.Log == nil {
		o.Log = slog.Default()
	}
	o.Log = o.Log.With("component", "readpool")
	return o
}

// Reader picks the side of each read. Safe for concurrent use.
type Reader struct {
	primary, replica *pgxpool.Pool
	o                Options

	mu      sync.Mutex
	probing bool
	st      health
	lsns    []sample // the primary's WAL positions, oldest first (probe.go)

	replicaReads, primaryReads, fallbacks atomic.Uint64
}

// health is what the Reader knows of the replica.
type health struct {
	dialect    dialect
	measuredAt time.Time     // zero: staleness unknown
	lag        time.Duration // staleness bound at measuredAt
	lastProbe  time.Time
	failures   int // consecutive failures; 0 while up
	downUntil  time.Time
	// probeFailing is set while probes fail for another reason than the
	// replica being down (logged once, not at every probe).
	probeFailing bool
}

// New returns a Reader on primary and replica. A nil replica reads
// everything from the primary (no replica configured: nothing changes).
// The caller keeps ownership of both pools.
func New(primary, replica *pgxpool.Pool, o Options) *Reader {
	return &Reader{primary: primary, replica: replica, o: o.withDefaults()}
}

// Replicated reports whether r has a replica to send reads to.
func (r *Reader) Replicated() bool { return r.replica != nil }

// Pool returns the pool of side (the primary's when r has no replica).
func (r *Reader) Pool(side Side) *pgxpool.Pool {
	if side == Replica && r.replica != nil {
		return r.replica
	}
	return r.primary
}

// Pick returns the side the next read should run on: Replica while the
// replica is up and within MaxLag (probing it first when the last
// measurement is too old), else Primary.
func (r *Reader) Pick(ctx context.Context) Side {
	if r.replica == nil {
		return Primary
	}
	now := time.Now()
	r.mu.Lock()
	switch {
	case now.Before(r.st.downUntil), r.st.dialect == unmeasurable:
		r.mu.Unlock()
		return Primary
	case r.freshLocked(now):
		r.mu.Unlock()
		return Replica
	case r.probing || now.Sub(r.st.lastProbe) < r.o.MinProbeInterval:
		r.mu.Unlock()
		return Primary
	}
	r.probing, r.st.lastProbe = true, now
	r.mu.Unlock()

	r.probe(ctx)

	r.mu.Lock()
	defer r.mu.Unlock()
	r.probing = false
	if r.freshLocked(time.Now()) {
		return Replica
	}
	return Primary
}

// freshLocked reports whether the replica's staleness is within MaxLag
// now: the lag measured at the probe plus the time since.
func (r *Reader) freshLocked(now time.Time) bool {
	return !r.st.measuredAt.IsZero() && r.st.lag+now.Sub(r.st.measuredAt) <= r.o.MaxLag
}

// Read runs read on the side r picks and returns its answer and the side
// that gave it. On the replica, read gets a context bounded by
// Options.Timeout; when it fails there with a connection-class error or
// that timeout (the replica is marked down), with any other PostgreSQL
// error (a query the standby cancelled, a table it has not replayed yet),
// or when trust (if not nil) rejects its answer, read runs again on the
// primary and that answer is returned. A nil r reads the primary.
func Read[T any](ctx context.Context, r *Reader, read func(ctx context.Context, side Side) (T, error), trust func(T, error) bool) (T, Side, error) {
	if r != nil && r.Pick(ctx) == Replica {
		rctx, cancel := context.WithTimeout(ctx, r.o.Timeout)
		v, err := read(rctx, Replica)
		cancel()
		switch judge(ctx, err) {
		case answered:
			if trust == nil || trust(v, err) {
				r.replicaReads.Add(1)
				return v, Replica, err
			}
		case down:
			r.markDown(err)
		}
		r.fallbacks.Add(1)
	}
	v, err := read(ctx, Primary)
	if r != nil {
		r.primaryReads.Add(1)
	}
	return v, Primary, err
}

// Stats counts the reads a Reader routed.
type Stats struct {
	ReplicaReads uint64 // answered by the replica
	PrimaryReads uint64 // answered by the primary (picked, or after a fallback)
	Fallbacks    uint64 // tried on the replica, answered by the primary
}

// Stats returns r's counters since New.
func (r *Reader) Stats() Stats {
	return Stats{ReplicaReads: r.replicaReads.Load(), PrimaryReads: r.primaryReads.Load(), Fallbacks: r.fallbacks.Load()}
}

// Lag returns the replica's staleness bound now (the last measurement
// plus the time since) and whether it is known: false without a
// measurement, while the replica is down, or when it cannot be measured.
func (r *Reader) Lag() (time.Duration, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if r.st.measuredAt.IsZero() || now.Before(r.st.downUntil) {
		return 0, false
	}
	return r.st.lag + now.Sub(r.st.measuredAt), true
}

// markDown records a replica failure: reads go to the primary until the
// backoff has passed, then a probe tries the replica again. The replica's
// pool is reset so that the retry dials afresh instead of finding the
// dead connections of before.
func (r *Reader) markDown(err error) {
	r.mu.Lock()
	r.st.failures++
	wait := r.o.RetryAfter << min(r.st.failures-1, 16)
	if wait <= 0 || wait > r.o.MaxRetryAfter {
		wait = r.o.MaxRetryAfter
	}
	r.st.downUntil = time.Now().Add(wait)
	r.st.measuredAt = time.Time{}
	failures := r.st.failures
	r.mu.Unlock()
	r.replica.Reset()
	r.o.Log.Warn("read replica unavailable; reads go to the primary", "err", err, "retry_in", wait, "failures", failures)
}
