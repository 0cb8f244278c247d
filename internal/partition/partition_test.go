package partition_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/partition"
	"github.com/checkout-dev/checkout/internal/postgres"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m, postgres.Migrate) }

func utc(y int, m time.Month, d, h int) time.Time { return time.Date(y, m, d, h, 0, 0, 0, time.UTC) }

// partitionOf returns the partition an audit row written at at lands in.
func auditPartitionOf(t *testing.T, pool *pgxpool.Pool, at time.Time) (string, error) {
	t.Helper()
	var name string
	err := pool.QueryRow(context.Background(), `INSERT INTO audit_log (at, actor, action) VALUES ($1, 'test', 'probe') RETURNING tableoid::regclass::text`, at).Scan(&name)
	return name, err
}

// The months ahead of an injected "now", made once: each table gets the
// partition of now's UTC month and of the 3 after it, with UTC bounds,
// whatever the session's time zone; a row of the last month lands in its
// partition, a row of the month after is refused; running again is harmless.
func TestEnsureMakesTheMonthsAhead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	// 23:30 UTC on 30 November is already 1 December in Kiritimati (UTC+14):
	// the months are UTC months all the same.
	now := utc(2031, time.November, 30, 23).Add(30 * time.Minute)
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `SET TimeZone = 'Pacific/Kiritimati'; SET DateStyle = 'SQL, DMY'`); err != nil {
		t.Fatal(err)
	}
	n, err := partition.Ensure(ctx, conn.Conn(), now, 3)
	conn.Release()
	if err != nil || n != 4*len(partition.Tables) {
		t.Fatalf("Ensure: %d created, %v; want %d", n, err, 4*len(partition.Tables))
	}
	parts, err := partition.List(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range partition.Tables {
		for i, month := range []time.Month{time.November, time.December, time.January, time.February} {
			from := utc(2031+i/2, month, 1, 0)
			want := partition.Partition{Table: table, Name: fmt.Sprintf("%s_%s", table, from.Format("2006_01")), From: from, To: from.AddDate(0, 1, 0)}
			if !has(parts, want) {
				t.Errorf("no partition %+v in %+v", want, parts)
			}
		}
	}
	if got := partition.Ahead(parts, now); got != 3 {
		t.Errorf("Ahead = %d; want 3", got)
	}

	if name, err := auditPartitionOf(t, pool, utc(2032, time.February, 29, 23)); err != nil || name != "audit_log_2032_02" {
		t.Errorf("a row of 29 February 2032 went to %q (%v); want audit_log_2032_02", name, err)
	}
	var pe *pgconn.PgError
	if name, err := auditPartitionOf(t, pool, utc(2032, time.March, 1, 0)); !errors.As(err, &pe) || pe.Code != "23514" {
		t.Errorf("a row of March 2032 went to %q (%v); want no partition (23514)", name, err)
	}

	if n, err := partition.Ensure(ctx, pool, now, 3); err != nil || n != 0 {
		t.Errorf("second Ensure: %d created, %v; want 0", n, err)
	}
	if after, err := partition.List(ctx, pool); err != nil || len(after) != len(parts) {
		t.Errorf("after the second Ensure: %d partitions (%v); want %d", len(after), err, len(parts))
	}
	if name, err := auditPartitionOf(t, pool, utc(2032, time.February, 1, 0)); err != nil || name != "audit_log_2032_02" {
		t.Errorf("after the second Ensure a row went to %q (%v)", name, err)
	}
}

func has(parts []partition.Partition, want partition.Partition) bool {
	for _, p := range parts {
		if p.Table == want.Table && p.Name == want.Name && p.From.Equal(want.From) && p.To.Equal(want.To) {
			return true
		}
	}
	return false
}

// Sweepers running at once: every call succeeds and each partition is made
// exactly once.
func TestEnsureConcurrently(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	now := utc(2035, time.May, 10, 12)
	const callers = 8
	var wg sync.WaitGroup
	created := make([]int, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			created[i], errs[i] = partition.Ensure(ctx, pool, now, 2)
		}()
	}
	wg.Wait()
	total := 0
	for i := range callers {
		if errs[i] != nil {
			t.Errorf("caller %d: %v", i, errs[i])
		}
		total += created[i]
	}
	if total != 3*len(partition.Tables) {
		t.Errorf("%d partitions created in all (%v); want %d, each once", total, created, 3*len(partition.Tables))
	}
}

// Making a partition waits for no reader of the tables nor for a writer of
// the partitioned ones (ATTACH PARTITION takes SHARE UPDATE EXCLUSIVE on
// the parent, not ACCESS EXCLUSIVE). It does wait for a writer of a table
// that a foreign key references (checkouts here): a long transaction makes
// the call fail after its lock_timeout (1 s), so the checkouts queued behind
// it wait no longer than that.
func TestEnsureLocks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	reader, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Rollback(ctx) //nolint:errcheck
	if _, err := reader.Exec(ctx, `SELECT count(*) FROM orders; SELECT count(*) FROM order_items; SELECT count(*) FROM checkouts;
		INSERT INTO audit_log (actor, action) VALUES ('t', 'open')`); err != nil {
		t.Fatal(err)
	}
	quick, cancel := context.WithTimeout(ctx, 3*time.Second)
	n, err := partition.Ensure(quick, pool, utc(2036, time.January, 1, 0), 0)
	cancel()
	if err != nil || n != len(partition.Tables) {
		t.Fatalf("Ensure beside an open reader: %d, %v", n, err)
	}
	if err := reader.Rollback(ctx); err != nil {
		t.Fatal(err)
	}

	writer, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Rollback(ctx) //nolint:errcheck
	if _, err := writer.Exec(ctx, `INSERT INTO checkouts (id, user_id, idempotency_key, request_fingerprint, amount, currency, payment_method)
		VALUES (gen_random_uuid(), 'u', 'k', '\x00', 100, 'USD', 'pm_card_visa')`); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = partition.Ensure(ctx, pool, utc(2036, time.February, 1, 0), 0)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "55P03" {
		t.Fatalf("Ensure behind a long writer of checkouts: %v; want lock_not_available (55P03)", err)
	}
	if d := time.Since(start); d < 900*time.Millisecond || d > 10*time.Second {
		t.Errorf("gave up after %s; want the function's lock_timeout (1s)", d)
	}
	if err := writer.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	// Nothing of the failed call stayed; the next run makes the month.
	if parts, err := partition.List(ctx, pool); err != nil || has(parts, partition.Partition{Table: "audit_log", Name: "audit_log_2036_02",
		From: utc(2036, time.February, 1, 0), To: utc(2036, time.March, 1, 0)}) {
		t.Errorf("a failed call left audit_log_2036_02 (%v)", err)
	}
	if n, err := partition.Ensure(ctx, pool, utc(2036, time.February, 1, 0), 0); err != nil || n != len(partition.Tables) {
		t.Errorf("the next run: %d, %v", n, err)
	}
}

func TestEnsureRefusesBadInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	for _, months := range []int{-1, 37} {
		_, err := partition.Ensure(ctx, pool, time.Now(), months)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "22023" {
			t.Errorf("%d months ahead: %v; want invalid_parameter_value (22023)", months, err)
		}
	}
	// A table squatting on a partition's name is reported, not attached.
	if _, err := pool.Exec(ctx, `CREATE TABLE audit_log_2037_01 (x int)`); err != nil {
		t.Fatal(err)
	}
	_, err := partition.Ensure(ctx, pool, utc(2037, time.January, 5, 0), 0)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42P07" {
		t.Errorf("a squatted name: %v; want duplicate_table (42P07)", err)
	}
}

func TestAhead(t *testing.T) {
	t.Parallel()
	month := func(table string, y int, m time.Month) partition.Partition {
		from := utc(y, m, 1, 0)
		return partition.Partition{Table: table, From: from, To: from.AddDate(0, 1, 0)}
	}
	all := func(y int, ms ...time.Month) []partition.Partition {
		var out []partition.Partition
		for _, table := range partition.Tables {
			for _, m := range ms {
				out = append(out, month(table, y, m))
			}
		}
		return out
	}
	now := utc(2030, time.March, 31, 23)
	for _, tc := range []struct {
		name  string
		parts []partition.Partition
		want  int
	}{
		{"none", nil, -1},
		{"the current month only", all(2030, time.March), 0},
		{"three ahead", all(2030, time.March, time.April, time.May, time.June), 3},
		{"a gap stops the count", all(2030, time.March, time.April, time.June), 1},
		{"past months do not count", all(2030, time.January, time.February), -1},
		{"the table furthest behind counts", append(all(2030, time.March, time.April, time.May), month("orders", 2030, time.June)), 2},
		{"a table missing the current month", append(all(2030, time.April), month("orders", 2030, time.March), month("order_items", 2030, time.March)), -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := partition.Ahead(tc.parts, now); got != tc.want {
				t.Errorf("Ahead = %d; want %d", got, tc.want)
			}
		})
	}
}
