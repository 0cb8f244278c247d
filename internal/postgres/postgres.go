// Package postgres opens the pgx connection pool, applies the embedded
// migrations and runs functions inside transactions.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/checkout-dev/checkout/migrations"
)

// Open returns a pool for dsn after checking that the server answers.
// The caller owns the pool and must Close it.
func Open(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse DSN: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: ping: %w", err)
	}
	return pool, nil
}

// Migrate applies every embedded migration that the database at dsn has not
// seen yet. It is idempotent and safe to call from several processes: goose
// serialises concurrent runs with a session advisory lock.
func Migrate(ctx context.Context, dsn string) error {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return fmt.Errorf("postgres: parse DSN: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	return migrateDB(ctx, db)
}

func migrateDB(ctx context.Context, db *sql.DB) error {
	provider, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS,
		goose.WithSessionLocker(mustLocker()))
	if err != nil {
		return fmt.Errorf("postgres: migrations: %w", err)
	}
	results, err := provider.Up(ctx)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	for _, r := range results {
		slog.Debug("migration applied", "version", r.Source.Version, "duration", r.Duration)
	}
	return nil
}

// Querier is the read side shared by *pgxpool.Pool and pgx.Tx, for helpers
// that run either inside a transaction or on the pool.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// TxFunc is work done inside one transaction.
type TxFunc func(pgx.Tx) error

// InTx runs fn in a transaction on pool and commits when fn returns nil.
// Any error (or panic) rolls the transaction back; fn's error is returned as is.
func InTx(ctx context.Context, pool *pgxpool.Pool, fn TxFunc) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: begin: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: commit: %w", err)
	}
	return nil
}

// IsRetryable reports whether err is a serialization failure (40001) or a
// deadlock (40P01): the transaction may succeed if run again.
func IsRetryable(err error) bool { return hasCode(err, "40001") || hasCode(err, "40P01") }

// IsUndefinedTable reports whether err says a table or schema does not
// exist (42P01 undefined_table, 3F000 invalid_schema_name).
func IsUndefinedTable(err error) bool { return hasCode(err, "42P01") || hasCode(err, "3F000") }

func hasCode(err error, code string) bool {
	var pgErr interface{ SQLState() string }
	return errors.As(err, &pgErr) && pgErr.SQLState() == code
}
