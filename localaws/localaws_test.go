package localaws_test

import (
	"context"
	"io/fs"
	"slices"
	"sort"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/localaws"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

// Every test database starts empty: the tests migrate it themselves.
func TestMain(m *testing.M) { pgtest.Main(m) }

// relations lists every table and sequence outside PostgreSQL's own schemas
// as "schema.name".
func relations(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT n.nspname || '.' || c.relname
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p', 'S', 'v', 'm')
		  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%'
		ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestMigrateCreatesOnlyItsOwnSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.NewDB(t)
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	// An application's table next to ours, which Migrate must leave alone.
	if _, err := pool.Exec(ctx, `CREATE TABLE public.app_items (id integer PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}

	// Concurrent first runs (two processes starting at once), then a rerun.
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = localaws.Migrate(ctx, dsn) }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("concurrent Migrate: %v", err)
		}
	}
	if err := localaws.Migrate(ctx, dsn); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}

	got := relations(t, pool)
	var ours []string
	for _, name := range got {
		if name == "public.app_items" {
			continue
		}
		ours = append(ours, name)
	}
	want := []string{
		"localaws.goose_db_version", "localaws.goose_db_version_id_seq",
		"localaws.sfn_executions", "localaws.sfn_history_events", "localaws.sfn_state_machines", "localaws.sfn_task_tokens",
		"localaws.sqs_dedup", "localaws.sqs_deleted_queues", "localaws.sqs_messages", "localaws.sqs_messages_id_seq", "localaws.sqs_move_tasks", "localaws.sqs_move_tasks_seq_seq",
		"localaws.sqs_queues",
	}
	sort.Strings(want)
	if len(ours) != len(want) {
		t.Fatalf("relations after Migrate:\n got %v\nwant %v (plus public.app_items)", got, want)
	}
	for i := range want {
		if ours[i] != want[i] {
			t.Fatalf("relations after Migrate:\n got %v\nwant %v (plus public.app_items)", got, want)
		}
	}

	rows, err := pool.Query(ctx, `SELECT version_id FROM localaws.goose_db_version WHERE is_applied AND version_id > 0 ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	files, err := fs.Glob(localaws.Migrations, "*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("embedded migrations: %v %v", files, err)
	}
	var wantVersions []int64
	for i := range files {
		wantVersions = append(wantVersions, int64(i+1))
	}
	if !slices.Equal(versions, wantVersions) {
		t.Errorf("applied versions = %v, want %v (one per embedded migration), each once", versions, wantVersions)
	}
}
