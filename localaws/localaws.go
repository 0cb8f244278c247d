// Package localaws is a local implementation of the AWS services a
// serverless application needs, on PostgreSQL and with no Docker: an SQS
// server (package sqs), a durable Step Functions executor and API (package
// sfn) on an Amazon States Language interpreter (package asl), an API Gateway
// front (package apigw) and the model of a SAM template they are wired from
// (package sam).
//
// The servers keep their state in tables of their own PostgreSQL schema,
// [Schema], with goose's version table in that schema too, so they can share
// a database with an application without touching its tables or its
// migrations. Call [Migrate] before starting an sqs.Server or an
// sfn.Executor on a database.
package localaws

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// Schema is the PostgreSQL schema holding every table of the local services
// and their goose version table.
const Schema = "localaws"

// migrationLockID is the session advisory lock that serialises concurrent
// Migrate calls on one database; it differs from goose's default so an
// application migrating the same database with goose never waits for us.
const migrationLockID int64 = 0x6c6f63616c617773 // "localaws"

// migrationRunLockID serialises whole Migrate runs (see Migrate).
const migrationRunLockID int64 = 0x6c6f63616c617772

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations holds the goose migrations of [Schema], applied in file-name
// order by [Migrate].
var Migrations = mustSub(migrationFiles, "migrations")

func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err) // dir is a constant that exists in the embedded FS
	}
	return sub
}

// Migrate creates [Schema] in the database at dsn if needed and applies every
// migration it has not seen yet, recording them in Schema.goose_db_version.
// It is idempotent and safe to call from several processes at once.
func Migrate(ctx context.Context, dsn string) error {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return fmt.Errorf("localaws: parse DSN: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	// goose creates its version table before it applies anything, so the
	// schema must exist first. Two processes may race to create it.
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+Schema); err != nil && !isDuplicate(err) {
		return fmt.Errorf("localaws: create schema %s: %w", Schema, err)
	}
	// goose creates its version table before it takes its own lock, so two
	// first runs at once could both create it (leaving a stray
	// goose_db_version_id_seq1): serialise whole runs on a lock of ours.
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("localaws: migrations: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationRunLockID); err != nil {
		return fmt.Errorf("localaws: migrations: %w", err)
	}
	defer func() {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationRunLockID)
	}()
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID))
	if err != nil {
		return fmt.Errorf("localaws: migrations: %w", err)
	}
	provider, err := goose.NewProvider(goose.DialectPostgres, db, Migrations,
		goose.WithTableName(Schema+".goose_db_version"),
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true)) // never run an application's Go migrations
	if err != nil {
		return fmt.Errorf("localaws: migrations: %w", err)
	}
	if _, err := provider.Up(ctx); err != nil {
		return fmt.Errorf("localaws: migrate: %w", err)
	}
	return nil
}

// isDuplicate reports a unique violation (23505) or duplicate schema (42P06):
// what CREATE SCHEMA IF NOT EXISTS can still raise when it races another.
func isDuplicate(err error) bool {
	var pgErr interface{ SQLState() string }
	return errors.As(err, &pgErr) && (pgErr.SQLState() == "23505" || pgErr.SQLState() == "42P06")
}
