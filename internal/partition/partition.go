// Package partition keeps the monthly partitions of orders, order_items and
// audit_log (migration 00017): the partitions of the months ahead are made
// before any row needs them (ensure_partitions, run by the sweeper every
// minute), and old months of audit_log can leave the table for archiving
// (DetachAuditLog, opt-in: nothing here deletes a row).
//
// A partition covers one UTC month and is named <table>_YYYY_MM. There is
// no default partition: a row whose month has no partition is refused, so
// the months ahead must exist; Ahead says how many do.
package partition

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/checkout-dev/checkout/internal/postgres"
)

// Tables are the tables partitioned by month, in the order
// ensure_partitions visits them.
var Tables = []string{"orders", "order_items", "audit_log"}

// DefaultMonthsAhead is how many months after the current one the sweeper
// keeps partitioned: a run that keeps failing (a lock it cannot get) has
// that long to be noticed before an insert finds no partition.
const DefaultMonthsAhead = 3

// Ensure makes sure every partitioned table has the partitions of now's
// UTC month and of the monthsAhead (0 to 36) months after it, and returns
// how many it created. Idempotent and safe to run concurrently (the SQL
// function serialises on an advisory lock); it runs as the tables' owner
// (SECURITY DEFINER), so the application role may call it.
//
// Making a partition waits for no reader of the tables, nor for writers
// of the partitioned tables, but it takes SHARE ROW EXCLUSIVE on the tables
// their foreign keys reference (checkouts, products, payment_transactions,
// orders) for the few milliseconds of the attach: their writers wait that
// long, or at most the function's lock_timeout of 1 s when a long
// transaction holds one of them (the call then fails).
//
// Errors: an invalid monthsAhead, or a lock not granted within 1 s (the
// next run tries again).
func Ensure(ctx context.Context, q postgres.Querier, now time.Time, monthsAhead int) (int, error) {
	var created int
	if err := q.QueryRow(ctx, `SELECT ensure_partitions($1, $2)`, now, monthsAhead).Scan(&created); err != nil {
		return 0, fmt.Errorf("partition: ensure: %w", err)
	}
	return created, nil
}

// Partition is one attached partition.
type Partition struct {
	Table string    `json:"table"`
	Name  string    `json:"name"`
	From  time.Time `json:"from"` // inclusive
	To    time.Time `json:"to"`   // exclusive
	// Rows is the planner's estimate (pg_class.reltuples; -1 before the
	// first ANALYZE of the partition).
	Rows int64 `json:"rows_estimate"`
}

// List returns the partitions attached to the partitioned tables of the
// current schema, by table (as in Tables) then month.
func List(ctx context.Context, q postgres.Querier) ([]Partition, error) {
	rows, err := q.Query(ctx, `
		SELECT p.relname, c.relname, c.reltuples::bigint,
		       (regexp_match(pg_get_expr(c.relpartbound, c.oid), $$FROM \('([^']+)'\)$$))[1]::timestamptz,
		       (regexp_match(pg_get_expr(c.relpartbound, c.oid), $$TO \('([^']+)'\)$$))[1]::timestamptz
		FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid
		JOIN pg_class p ON p.oid = i.inhparent
		WHERE p.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema()) AND p.relname = ANY ($1)
		ORDER BY array_position($1, p.relname::text), 4`, Tables)
	if err != nil {
		return nil, fmt.Errorf("partition: list: %w", err)
	}
	parts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Partition, error) {
		var p Partition
		err := r.Scan(&p.Table, &p.Name, &p.Rows, &p.From, &p.To)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("partition: list: %w", err)
	}
	return parts, nil
}

// Ahead returns how many whole UTC months after now's month every table in
// Tables has partitioned without a gap (now's own month included: -1 when
// some table has no partition for it). The sweeper reports it; an insert
// fails once it is below 0.
func Ahead(parts []Partition, now time.Time) int {
	first := MonthOf(now)
	least := -1
	for i, t := range Tables {
		n := -1
		for m := first; covered(parts, t, m); m = m.AddDate(0, 1, 0) {
			n++
		}
		if i == 0 || n < least {
			least = n
		}
	}
	return least
}

func covered(parts []Partition, table string, month time.Time) bool {
	for _, p := range parts {
		if p.Table == table && !p.From.After(month) && p.To.After(month) {
			return true
		}
	}
	return false
}

// MonthOf returns the first instant of t's UTC month.
func MonthOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}
