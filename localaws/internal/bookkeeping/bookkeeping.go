// Package bookkeeping opens the connection pool the emulators write their
// own bookkeeping with: the caller's pool settings, with synchronous_commit
// off.
//
// What that risks, precisely: a transaction committed with
// synchronous_commit off is visible at once and is written to disk by the
// WAL writer within three times wal_writer_delay (600 ms with the default
// 200 ms); only a crash of the PostgreSQL server or of the machine within
// that window loses it. A crash of the emulator's own process (even
// SIGKILL) loses nothing that was committed. The WAL is one sequence, so any
// later synchronous commit on the same server (every write of the
// application's own tables, and the emulators' acknowledged writes: SQS
// SendMessage, StartExecution, SendTask*) makes every earlier asynchronous
// commit durable too: what a server crash can lose is only the tail of
// bookkeeping committed after the last synchronous commit.
package bookkeeping

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Open returns a pool with pool's settings and synchronous_commit off, at
// most maxConns connections (0: pool's own maximum). It connects lazily.
// When the pool cannot be made it returns pool itself and false: the
// bookkeeping is then as durable as everything else.
func Open(pool *pgxpool.Pool, maxConns int32) (*pgxpool.Pool, bool) {
	cfg := pool.Config()
	if cfg.ConnConfig.RuntimeParams == nil {
		cfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
	if maxConns > 0 && maxConns < cfg.MaxConns {
		cfg.MaxConns = maxConns
	}
	if cfg.MinConns > cfg.MaxConns {
		cfg.MinConns = cfg.MaxConns
	}
	p, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return pool, false
	}
	return p, true
}
