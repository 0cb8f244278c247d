package readpool

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// How a probe measures the replica's staleness.
//
// PostgreSQL streaming replication: the probe reads the primary's WAL
// flush position P (pg_current_wal_flush_lsn(): with synchronous_commit on,
// PostgreSQL's default, every commit acknowledged before the call has its
// commit record below it) and then the replica's replay position R
// (pg_last_wal_replay_lsn()). The primary's positions are kept with the
// time they were read, (t, P), a few MaxLag back. A replica with R >= P
// has replayed everything committed before t, so its staleness is at most
// now minus the latest such t. No clock is shared between the servers,
// and an idle primary (no new WAL) reads as caught up, where
// now() - pg_last_xact_replay_timestamp() would grow while nothing
// happens. A replica behind every kept position has an unknown (large)
// staleness: reads go to the primary. The flush position, not the insert
// one: WAL inserted but not flushed yet (records no commit waits for) is
// not sent to replicas, and comparing with it would call an idle replica
// behind. With synchronous_commit off on the primary, a commit is
// acknowledged before it is flushed (by up to three wal_writer_delay, 600
// ms by default): the bound is exceeded by that much.
//
// Aurora PostgreSQL: the readers share the writer's storage and do not
// report WAL positions (the functions are "not supported for Aurora"). The
// probe then takes replica_lag_in_msec from aurora_replica_status(), the
// highest over the readers, as the proxy's read-only endpoint may send a
// read to any of them. This path is not exercised by the tests (no Aurora
// here); if aurora_replica_status() is missing too, the staleness cannot be
// measured and every read goes to the primary (logged once).
//
// A server that is not in recovery is not a replica (DATABASE_READ_URL
// names a primary, or a replica was promoted): reads go to the primary and
// it is asked again after MaxRetryAfter.

// dialect is how the staleness is measured.
type dialect uint8

const (
	streaming    dialect = iota // WAL positions (PostgreSQL)
	aurora                      // aurora_replica_status()
	unmeasurable                // neither: the replica is never used
)

// sample is the primary's WAL position at a time.
type sample struct {
	at  time.Time
	lsn uint64
}

// measurement is what one probe found.
type measurement struct {
	at         time.Time
	lag        time.Duration
	known      bool  // lag is an upper bound of the staleness at at
	answered   bool  // the replica answered (it is up)
	notReplica bool  // the replica is not in recovery
	replicaErr error // the replica failed with a connection-class error
	err        error // another failure: staleness unknown this time
	dialect    dialect
}

// probe measures the replica's staleness and records it. It runs on its
// own context (bounded by ProbeTimeout) so that a request giving up does
// not count as a replica failure.
func (r *Reader) probe(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.o.ProbeTimeout)
	defer cancel()
	r.mu.Lock()
	d := r.st.dialect
	r.mu.Unlock()
	var m measurement
	if d == streaming {
		m = r.measureStreaming(ctx)
	}
	if d == aurora || m.dialect == aurora {
		m = r.measureAurora(ctx)
	}
	r.record(m)
}

// record applies m to the Reader's state.
func (r *Reader) record(m measurement) {
	if m.replicaErr != nil {
		r.markDown(m.replicaErr)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if m.dialect != r.st.dialect {
		r.st.dialect = m.dialect
		switch m.dialect {
		case aurora:
			r.o.Log.Info("read replica reports no WAL position; measuring its lag with aurora_replica_status()")
		case unmeasurable:
			r.o.Log.Warn("read replica lag cannot be measured; every read goes to the primary", "err", m.err)
		}
	}
	if m.answered && r.st.failures > 0 {
		r.o.Log.Info("read replica back; reads return to it", "after_failures", r.st.failures)
		r.st.failures = 0
	}
	r.st.measuredAt, r.st.lag = time.Time{}, 0
	switch {
	case m.notReplica:
		r.st.downUntil = time.Now().Add(r.o.MaxRetryAfter)
		r.o.Log.Warn("the read replica is not in recovery (not a replica); reads go to the primary", "retry_in", r.o.MaxRetryAfter)
	case m.known:
		r.st.measuredAt, r.st.lag = m.at, m.lag
	case m.err != nil && m.dialect != unmeasurable && !r.st.probeFailing:
		r.o.Log.Warn("read replica lag probe failed; reads go to the primary until one succeeds", "err", m.err)
	}
	r.st.probeFailing = m.err != nil
}

// measureStreaming reads the primary's WAL flush position, then the
// replica's replay position.
func (r *Reader) measureStreaming(ctx context.Context) measurement {
	m := measurement{dialect: streaming}
	at := time.Now()
	var p string
	err := r.primary.QueryRow(ctx, `SELECT pg_current_wal_flush_lsn()::text`).Scan(&p)
	if notSupported(err) {
		m.dialect = aurora
		return m
	}
	if err != nil {
		m.err = fmt.Errorf("primary WAL position: %w", err)
		return m
	}
	lsn, err := parseLSN(p)
	if err != nil {
		m.err = err
		return m
	}
	var inRecovery bool
	var replay *string
	err = r.replica.QueryRow(ctx, `SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text`).Scan(&inRecovery, &replay)
	switch {
	case notSupported(err), err == nil && inRecovery && replay == nil:
		m.dialect = aurora
		return m
	case err != nil && isConnFault(err):
		m.replicaErr = err
		return m
	case err != nil:
		m.err = fmt.Errorf("replica replay position: %w", err)
		return m
	}
	m.answered = true
	if !inRecovery {
		m.notReplica = true
		return m
	}
	rlsn, err := parseLSN(*replay)
	if err != nil {
		m.err = err
		return m
	}
	m.at = time.Now()
	m.lag, m.known = r.staleness(sample{at: at, lsn: lsn}, rlsn, m.at)
	return m
}

// staleness adds s to the kept positions (dropping those older than a
// few MaxLag) and returns now minus the time of the latest position the
// replica has replayed; known is false when it has replayed none.
func (r *Reader) staleness(s sample, replayed uint64, now time.Time) (lag time.Duration, known bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	keep := now.Add(-4 * r.o.MaxLag)
	r.lsns = append(r.lsns, s)
	i := 0
	for i < len(r.lsns)-1 && (r.lsns[i].at.Before(keep) || len(r.lsns)-i > 64) {
		i++
	}
	r.lsns = append(r.lsns[:0], r.lsns[i:]...)
	for j := len(r.lsns) - 1; j >= 0; j-- {
		if r.lsns[j].lsn <= replayed {
			return now.Sub(r.lsns[j].at), true
		}
	}
	return 0, false
}

// measureAurora reads the highest replica_lag_in_msec over the cluster's
// readers.
func (r *Reader) measureAurora(ctx context.Context) measurement {
	m := measurement{dialect: aurora}
	start := time.Now()
	var ms *float64
	err := r.replica.QueryRow(ctx, `SELECT max(replica_lag_in_msec)::float8 FROM aurora_replica_status()
		WHERE session_id <> 'MASTER_SESSION_ID'`).Scan(&ms)
	switch {
	case notSupported(err):
		m.dialect, m.err = unmeasurable, err
		return m
	case err != nil && isConnFault(err):
		m.replicaErr = err
		return m
	case err != nil:
		m.err = fmt.Errorf("aurora_replica_status: %w", err)
		return m
	}
	m.answered = true
	if ms == nil || *ms < 0 {
		return m
	}
	m.at = time.Now()
	// The figure is as of the query; the query's own time is added.
	m.lag, m.known = time.Duration(*ms*float64(time.Millisecond))+m.at.Sub(start), true
	return m
}

// notSupported reports whether err says a function is missing or not
// supported on this server (42883 undefined_function, 0A000
// feature_not_supported, which Aurora answers for the WAL functions).
func notSupported(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "42883" || pgErr.Code == "0A000")
}

// parseLSN parses a pg_lsn's text form, "16/B374D848".
func parseLSN(s string) (uint64, error) {
	hi, lo, ok := strings.Cut(s, "/")
	h, err1 := strconv.ParseUint(hi, 16, 32)
	l, err2 := strconv.ParseUint(lo, 16, 32)
	if !ok || err1 != nil || err2 != nil {
		return 0, fmt.Errorf("readpool: not a WAL position: %q", s)
	}
	return h<<32 | l, nil
}
