package partition

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/audit"
	"github.com/checkout-dev/checkout/internal/postgres"
)

// The retention rule of audit_log (docs/partitions.md): the current month
// and the DefaultAuditMonths before it stay in the table; an older month
// is detached, exported, and only then dropped, by a person.
const (
	// DefaultAuditMonths is how many whole months before the current one
	// checkoutctl keeps online by default: a year, plus the month a yearly
	// review may still be reading.
	DefaultAuditMonths = 13
	// MinAuditMonths is the fewest DetachAuditLog accepts: PCI DSS asks
	// for the last three months of audit trail to be at hand.
	MinAuditMonths = 3
	// ArchiveSchema receives the detached partitions: the application
	// role has no privilege in it, and the deploy's grants on the tables of
	// schema public do not reach it.
	ArchiveSchema = "archive"
)

// DetachAuditLog detaches from audit_log every partition whose month ended
// before the keepMonths whole months that precede now's month, and moves
// each into schema archive (with the append-only trigger the detach took
// off), where it waits to be exported and dropped by hand; an audit row
// (action audit_log_archived, by actor) records each move. It drops
// nothing, and runs only when an operator asks (checkoutctl partitions
// detach-audit --apply): no scheduled job calls it.
//
// It must run as the tables' owner. The detach is DETACH PARTITION ...
// CONCURRENTLY, which does not block the audit writes (it waits for the
// transactions using audit_log instead, and cannot run in a transaction),
// so pool must not be inside one. A run that was interrupted is finished
// by the next: a pending detach is finalized, a detached table left in the
// current schema is archived. It returns the names archived, oldest first.
//
// Errors: keepMonths below MinAuditMonths (nothing done), or the first
// statement that failed (the partitions before it stay archived).
func DetachAuditLog(ctx context.Context, pool *pgxpool.Pool, now time.Time, keepMonths int, actor string) ([]string, error) {
	cands, err := auditToDetach(ctx, pool, now, keepMonths)
	if err != nil {
		return nil, err
	}
	var done []string
	for _, c := range cands {
		name := pgx.Identifier{c.name}.Sanitize()
		switch {
		case c.pending:
			_, err = pool.Exec(ctx, `ALTER TABLE audit_log DETACH PARTITION `+name+` FINALIZE`)
		case c.attached:
			_, err = pool.Exec(ctx, `ALTER TABLE audit_log DETACH PARTITION `+name+` CONCURRENTLY`)
		}
		if err != nil {
			return done, fmt.Errorf("partition: detach %s: %w", c.name, err)
		}
		if err := archive(ctx, pool, c.name, keepMonths, actor); err != nil {
			return done, err
		}
		done = append(done, c.name)
	}
	return done, nil
}

// AuditToDetach returns the names DetachAuditLog would archive, oldest
// first, and changes nothing (a dry run). Errors: as DetachAuditLog's.
func AuditToDetach(ctx context.Context, q postgres.Querier, now time.Time, keepMonths int) ([]string, error) {
	cands, err := auditToDetach(ctx, q, now, keepMonths)
	names := make([]string, len(cands))
	for i, c := range cands {
		names[i] = c.name
	}
	return names, err
}

// detachable is a month of audit_log to archive: still attached, pending
// detach (an interrupted DETACH ... CONCURRENTLY), or detached already but
// left in the current schema.
type detachable struct {
	name              string
	pending, attached bool
}

func auditToDetach(ctx context.Context, q postgres.Querier, now time.Time, keepMonths int) ([]detachable, error) {
	if keepMonths < MinAuditMonths {
		return nil, fmt.Errorf("partition: keep at least %d months of audit_log online, not %d", MinAuditMonths, keepMonths)
	}
	cutoff := MonthOf(now).AddDate(0, -keepMonths, 0)
	rows, err := q.Query(ctx, `
		SELECT c.relname, coalesce(i.inhdetachpending, false), i.inhrelid IS NOT NULL
		FROM pg_class c
		LEFT JOIN pg_inherits i ON i.inhrelid = c.oid AND i.inhparent = 'audit_log'::regclass
		WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
		  AND c.relkind = 'r' AND c.relname ~ '^audit_log_[0-9]{4}_[0-9]{2}$'
		  AND (i.inhrelid IS NOT NULL OR NOT c.relispartition)
		  AND to_date(right(c.relname, 7), 'YYYY_MM') < $1::date
		ORDER BY c.relname`, cutoff)
	if err != nil {
		return nil, fmt.Errorf("partition: audit_log partitions: %w", err)
	}
	cands, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (detachable, error) {
		var c detachable
		err := r.Scan(&c.name, &c.pending, &c.attached)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("partition: audit_log partitions: %w", err)
	}
	return cands, nil
}

// archive moves the detached table name from the current schema into
// ArchiveSchema, gives it back the append-only trigger and records the
// move in audit_log, in one transaction.
func archive(ctx context.Context, pool *pgxpool.Pool, name string, keepMonths int, actor string) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("partition: archive %s: %w", name, err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	var schema string
	if err := tx.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return fmt.Errorf("partition: archive %s: %w", name, err)
	}
	from := pgx.Identifier{schema, name}.Sanitize()
	to := pgx.Identifier{ArchiveSchema, name}.Sanitize()
	for _, q := range []string{
		`CREATE SCHEMA IF NOT EXISTS ` + pgx.Identifier{ArchiveSchema}.Sanitize(),
		`ALTER TABLE ` + from + ` SET SCHEMA ` + pgx.Identifier{ArchiveSchema}.Sanitize(),
		`CREATE TRIGGER audit_log_no_rewrite BEFORE UPDATE OR DELETE ON ` + to +
			` FOR EACH ROW EXECUTE FUNCTION ` + pgx.Identifier{schema, "audit_log_append_only"}.Sanitize() + `()`,
		`COMMENT ON TABLE ` + to + ` IS 'a month of audit_log, detached: export it (docs/partitions.md), then drop it'`,
	} {
		if _, err := tx.Exec(ctx, q); err != nil {
			return fmt.Errorf("partition: archive %s: %w", name, err)
		}
	}
	var rows int64
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+to).Scan(&rows); err != nil {
		return fmt.Errorf("partition: archive %s: %w", name, err)
	}
	if err := audit.Write(ctx, tx, audit.Entry{Actor: actor, Action: "audit_log_archived", Detail: map[string]any{
		"table": ArchiveSchema + "." + name, "rows": rows, "keep_months": keepMonths}}); err != nil {
		return fmt.Errorf("partition: archive %s: %w", name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("partition: archive %s: %w", name, err)
	}
	return nil
}
