package postgres_test

import (
	"context"
	"database/sql"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/checkout-dev/checkout/internal/postgres"
	"github.com/checkout-dev/checkout/localaws"
	"github.com/checkout-dev/checkout/localaws/pgtest"
	"github.com/checkout-dev/checkout/migrations"
)

func TestMain(m *testing.M) { pgtest.Main(m, postgres.Migrate) }

func TestCheckConstraintsForbidOversell(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := pgtest.NewPool(t)
	if _, err := p.Exec(ctx, `INSERT INTO products (sku, name, amount, currency) VALUES ('A-1', 'a', 100, 'USD');
		INSERT INTO inventory (sku, on_hand) VALUES ('A-1', 2)`); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`UPDATE inventory SET reserved = 3`,
		`UPDATE inventory SET on_hand = -1`,
		`UPDATE inventory SET reserved = -1`,
	} {
		if _, err := p.Exec(ctx, stmt); err == nil {
			t.Errorf("%s: accepted; want a check violation", stmt)
		}
	}
	if _, err := p.Exec(ctx, `INSERT INTO audit_log (actor, action) VALUES ('t', 'x')`); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Exec(ctx, `DELETE FROM audit_log`); err == nil {
		t.Error("audit_log row deleted; want append-only refusal")
	}
}

// emulatorRelations lists "schema.name" of every table or sequence named like
// the local AWS emulator's (sqs_*, sfn_*), in any schema but skip.
func emulatorRelations(t *testing.T, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, skip string) []string {
	t.Helper()
	rows, err := q.Query(context.Background(), `SELECT n.nspname || '.' || c.relname
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p', 'S', 'v', 'm')
		  AND (c.relname LIKE 'sqs\_%' OR c.relname LIKE 'sfn\_%') AND n.nspname <> $1
		ORDER BY 1`, skip)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// The product's migrations create no table of the local AWS emulator (its
// own module migrates those, in schema localaws, for the local stack only):
// a deployed database gets product tables only.
func TestMigrationsHoldNoEmulatorTables(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	if got := emulatorRelations(t, pool, ""); len(got) != 0 {
		t.Errorf("the product's migrations created %v", got)
	}
	rows, err := pool.Query(ctx, `SELECT nspname FROM pg_namespace
		WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'public') AND nspname NOT LIKE 'pg\_%' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	schemas, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(schemas) != 0 {
		t.Errorf("the product's migrations created schemas %v; want public only", schemas)
	}
	// And no migration file mentions the emulator but the one that drops its
	// leftovers.
	files, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		b, err := fs.ReadFile(migrations.FS, name)
		if err != nil {
			t.Fatal(err)
		}
		text := strings.ToLower(string(b))
		if strings.Contains(text, "create table sqs_") || strings.Contains(text, "create table sfn_") || strings.Contains(text, "localaws.") {
			t.Errorf("%s creates or uses an emulator table", name)
		}
	}
}

// A database migrated before the emulator got its own module has versions 2
// and 3 recorded and the emulator's tables in the product's schema (files
// under testdata/old_layout, as they were). The current migrations must
// apply on top of it without complaint and drop those tables; the emulator's
// own migrations then create its tables in schema localaws.
func TestMigrateUpgradesTheOldLayout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// The old layout in a schema of its own (search_path), on a fresh
	// database: the old migrations 1-7 exactly as goose applied them.
	const schema = "old_layout"
	base := pgtest.NewDB(t)
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	dsn := withSearchPath(base, schema)
	oldFS := fstest.MapFS{}
	for _, name := range must(fs.Glob(migrations.FS, "*.sql")) {
		if name < "00008" {
			oldFS[name] = &fstest.MapFile{Data: must(fs.ReadFile(migrations.FS, name))}
		}
	}
	for _, name := range []string{"00002_sqs.sql", "00003_sfn.sql"} {
		oldFS[name] = &fstest.MapFile{Data: must(os.ReadFile(filepath.Join("testdata", "old_layout", name)))}
	}
	cfg := must(pgx.ParseConfig(dsn))
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	applyOld(t, db, oldFS)
	if _, err := db.ExecContext(ctx, `INSERT INTO sqs_queues (account_id, name, created_at, modified_at) VALUES ('0', 'q', now(), now())`); err != nil {
		t.Fatalf("old layout: %v", err)
	}

	if err := postgres.Migrate(ctx, dsn); err != nil {
		t.Fatalf("Migrate over the old layout: %v", err)
	}
	if got := emulatorRelations(t, admin, ""); len(got) != 0 {
		t.Errorf("after Migrate: %v remain", got)
	}
	if err := localaws.Migrate(ctx, dsn); err != nil {
		t.Fatalf("localaws.Migrate: %v", err)
	}
	if err := postgres.Migrate(ctx, dsn); err != nil { // a restart
		t.Fatalf("second Migrate: %v", err)
	}
	if got := emulatorRelations(t, admin, localaws.Schema); len(got) != 0 {
		t.Errorf("emulator tables outside schema %s: %v", localaws.Schema, got)
	}
	var n int
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM localaws.sqs_queues`).Scan(&n); err != nil || n != 0 {
		t.Errorf("localaws.sqs_queues: %d rows, %v", n, err)
	}
	var versions []int64
	rows, err := db.QueryContext(ctx, `SELECT version_id FROM goose_db_version WHERE is_applied AND version_id > 0 ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
	}
	// 1-7 applied by the old code, then 8 (and any later migration) by the new.
	if len(versions) < 8 || versions[7] != 8 {
		t.Errorf("applied versions = %v, want 1-7 then 8 and later", versions)
	}
	for i, v := range versions {
		if v != int64(i+1) {
			t.Errorf("applied versions = %v, want 1, 2, 3, ... in order", versions)
			break
		}
	}
}

// applyOld applies fsys with goose as the old code did.
func applyOld(t *testing.T, db *sql.DB, fsys fs.FS) {
	t.Helper()
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Up(context.Background())
	if err != nil {
		t.Fatalf("old layout: %v", err)
	}
	if len(res) != 7 {
		t.Fatalf("old layout: applied %d migrations, want 7", len(res))
	}
}

// withSearchPath returns dsn with search_path set to schema.
func withSearchPath(dsn, schema string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " search_path=" + schema
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
