package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

// The template of these tests: two migrations, applied in order.
func TestMain(m *testing.M) { Main(m, createItems, addNames) }

func createItems(ctx context.Context, dsn string) error {
	return execOn(ctx, dsn, `CREATE TABLE items (id integer PRIMARY KEY, qty integer NOT NULL CHECK (qty >= 0))`)
}

func addNames(ctx context.Context, dsn string) error {
	return execOn(ctx, dsn, `ALTER TABLE items ADD COLUMN name text NOT NULL DEFAULT 'unnamed'`)
}

func execOn(ctx context.Context, dsn, sql string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

func TestNewDBIsFreshAndMigrated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := NewPool(t), NewPool(t)
	if _, err := a.Exec(ctx, `INSERT INTO items (id, qty) VALUES (1, 5)`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := b.QueryRow(ctx, `SELECT count(*) FROM items`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("second database sees %d items from the first; want 0", n)
	}
	var name string
	if err := a.QueryRow(ctx, `SELECT name FROM items WHERE id = 1`).Scan(&name); err != nil || name != "unnamed" {
		t.Fatalf("first database: name=%q err=%v, want the second migration's default", name, err)
	}
	if _, err := a.Exec(ctx, `UPDATE items SET qty = -1`); err == nil {
		t.Error("negative qty accepted; want the template's check constraint")
	}
}

func TestWithDatabase(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ dsn, want string }{
		{"postgres://u:p@127.0.0.1:5432/postgres?sslmode=disable", "postgres://u:p@127.0.0.1:5432/t_1?sslmode=disable"},
		{"postgresql://127.0.0.1/x", "postgresql://127.0.0.1/t_1"},
		{"host=127.0.0.1 dbname=postgres", "host=127.0.0.1 dbname=postgres dbname=t_1"},
	} {
		if got := withDatabase(c.dsn, "t_1"); got != c.want {
			t.Errorf("withDatabase(%q) = %q, want %q", c.dsn, got, c.want)
		}
	}
}
