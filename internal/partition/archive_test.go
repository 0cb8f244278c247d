package partition_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/partition"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

// auditMonths gives audit_log the partitions of the 17 months before the
// current one and one row in each of those 18 months; it returns the names
// of the 4 oldest: the months a retention of 13 months detaches.
func auditMonths(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	ctx := context.Background()
	first := partition.MonthOf(time.Now()).AddDate(0, -17, 0)
	if _, err := partition.Ensure(ctx, pool, first, 17); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO audit_log (at, actor, action)
		SELECT $1::timestamptz + make_interval(months => g, days => 14), 'test', 'month' FROM generate_series(0, 17) g`, first); err != nil {
		t.Fatal(err)
	}
	var old []string
	for i := range 4 {
		old = append(old, "audit_log_"+first.AddDate(0, i, 0).Format("2006_01"))
	}
	return old
}

func count(t *testing.T, pool *pgxpool.Pool, q string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// Keeping the 13 months before the current one online: the 4 months
// before those leave audit_log for schema archive with their rows and the
// append-only trigger; the rest stay; a second run finds nothing to do; no
// row is deleted.
func TestDetachAuditLogArchivesOldMonths(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	now := time.Now()
	want := auditMonths(t, pool)

	if dry, err := partition.AuditToDetach(ctx, pool, now, 13); err != nil || !slices.Equal(dry, want) {
		t.Fatalf("AuditToDetach = %v, %v; want %v", dry, err, want)
	}
	if n := count(t, pool, `SELECT count(*) FROM pg_namespace WHERE nspname = 'archive'`); n != 0 {
		t.Fatal("the dry run made schema archive")
	}
	got, err := partition.DetachAuditLog(ctx, pool, now, 13, "ops:ann")
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("DetachAuditLog = %v, %v; want %v", got, err, want)
	}
	if n := count(t, pool, `SELECT count(*) FROM audit_log WHERE action = 'audit_log_archived' AND actor = 'ops:ann'
		AND (detail->>'rows')::int = 1 AND detail->>'table' = 'archive.`+want[2]+`'`); n != 1 {
		t.Errorf("%d audit rows record the archiving of %s; want 1", n, want[2])
	}
	if n := count(t, pool, `SELECT count(*) FROM audit_log WHERE action = 'month'`); n != 14 {
		t.Errorf("%d monthly rows left in audit_log; want 14 (the current month and the 13 before)", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM archive.`+want[0]) + count(t, pool, `SELECT count(*) FROM archive.`+want[3]); n != 2 {
		t.Errorf("%d rows in the archived months; want 1 each", n)
	}
	var pe *pgconn.PgError
	if _, err := pool.Exec(ctx, `DELETE FROM archive.`+want[1]); !errors.As(err, &pe) || pe.Code != "P0001" {
		t.Errorf("DELETE from an archived month: %v; want the append-only refusal", err)
	}
	parts, err := partition.List(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		if p.Table == "audit_log" && p.From.Before(partition.MonthOf(now).AddDate(0, -13, 0)) {
			t.Errorf("%s is still attached", p.Name)
		}
	}
	if got, err := partition.DetachAuditLog(ctx, pool, now, 13, "ops:ann"); err != nil || len(got) != 0 {
		t.Errorf("second run: %v, %v; want nothing to do", got, err)
	}
	// The orders of those months are not touched.
	if n := count(t, pool, `SELECT count(*) FROM pg_tables WHERE tablename = 'orders_`+want[0][len("audit_log_"):]+`' AND schemaname = current_schema()`); n != 1 {
		t.Errorf("orders of %s moved", want[0])
	}
}

func TestDetachAuditLogRefusesTooShortARetention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	auditMonths(t, pool)
	if got, err := partition.DetachAuditLog(ctx, pool, time.Now(), partition.MinAuditMonths-1, "ops:ann"); err == nil || len(got) != 0 {
		t.Errorf("keeping %d months: %v, %v; want a refusal", partition.MinAuditMonths-1, got, err)
	}
	if n := count(t, pool, `SELECT count(*) FROM audit_log WHERE action = 'month'`); n != 18 {
		t.Errorf("%d monthly rows in audit_log; want all 18", n)
	}
	if got, err := partition.AuditToDetach(ctx, pool, time.Now(), partition.MinAuditMonths-1); err == nil || len(got) != 0 {
		t.Errorf("dry run keeping %d months: %v, %v; want a refusal", partition.MinAuditMonths-1, got, err)
	}
}

// An interrupted run is finished by the next: a detach left pending (its
// wait for the transactions reading audit_log cancelled) is finalized, and
// a table detached but not yet archived is archived.
func TestDetachAuditLogFinishesAnInterruptedRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	now := time.Now()
	want := auditMonths(t, pool)
	if _, err := pool.Exec(ctx, `ALTER TABLE audit_log DETACH PARTITION `+want[1]); err != nil {
		t.Fatal(err)
	}
	// A transaction that read audit_log holds DETACH ... CONCURRENTLY in its
	// second phase: stopped there by the server (statement_timeout), the
	// first partition stays pending.
	reader, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Rollback(ctx) //nolint:errcheck
	if _, err := reader.Exec(ctx, `SELECT count(*) FROM audit_log`); err != nil {
		t.Fatal(err)
	}
	cfg := pool.Config().Copy()
	cfg.ConnConfig.RuntimeParams["statement_timeout"] = "1000"
	impatient, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer impatient.Close()
	got, err := partition.DetachAuditLog(ctx, impatient, now, 13, "ops:ann")
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "57014" {
		t.Fatalf("DetachAuditLog beside an open reader: %v, %v; want it stopped while it waits (57014)", got, err)
	}
	if err := reader.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(t, pool, `SELECT count(*) FROM pg_inherits WHERE inhdetachpending`); n != 1 {
		t.Fatalf("%d pending detaches; want %s's", n, want[0])
	}
	got, err = partition.DetachAuditLog(ctx, pool, now, 13, "ops:ann")
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("the next run = %v, %v; want %v", got, err, want)
	}
	if n := count(t, pool, `SELECT count(*) FROM pg_tables WHERE schemaname = 'archive'`); n != 4 {
		t.Errorf("%d tables in schema archive; want 4", n)
	}
}
