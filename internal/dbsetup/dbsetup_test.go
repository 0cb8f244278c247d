package dbsetup_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/audit"
	"github.com/checkout-dev/checkout/internal/checkout"
	"github.com/checkout-dev/checkout/internal/dbsetup"
	"github.com/checkout-dev/checkout/internal/partition"
	"github.com/checkout-dev/checkout/internal/postgres"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m, postgres.Migrate) }

func randomRole(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "app_" + hex.EncodeToString(b)
}

// asRole returns dsn with the user and password of role.
func asRole(t *testing.T, dsn, role, password string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(role, password)
	return u.String()
}

// TestAppRoleCanRunTheProductButNotChangeItsRules: the functions' role
// works the product's tables, and cannot rewrite the audit trail, drop its
// trigger, or change the schema.
func TestAppRoleCanRunTheProductButNotChangeItsRules(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	owner := pgtest.NewDB(t)
	role := randomRole(t)
	res, err := dbsetup.Run(ctx, owner, role, "first-password")
	if err != nil || !res.RoleCreated || res.Role != role {
		t.Fatalf("Run: %+v %v", res, err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), owner)
		if err != nil {
			return
		}
		defer conn.Close(context.Background())
		_, _ = conn.Exec(context.Background(), "DROP OWNED BY "+pgx.Identifier{role}.Sanitize())
		_, _ = conn.Exec(context.Background(), "DROP ROLE "+pgx.Identifier{role}.Sanitize())
	})
	// A second run (every deploy) is harmless and rotates the password.
	if res, err := dbsetup.Run(ctx, owner, role, "second-password"); err != nil || res.RoleCreated {
		t.Fatalf("second Run: %+v %v", res, err)
	}

	pool, err := pgxpool.New(ctx, asRole(t, owner, role, "second-password"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	var who string
	if err := pool.QueryRow(ctx, `SELECT current_user`).Scan(&who); err != nil || who != role {
		t.Fatalf("connected as %q (%v); want %s", who, err, role)
	}
	// The product works: catalog, stock, a checkout, an audit row.
	if _, err := pool.Exec(ctx, `INSERT INTO products (sku, name, amount, currency) VALUES ('TEE-1', 'T', 1999, 'USD');
		INSERT INTO inventory (sku, on_hand) VALUES ('TEE-1', 5)`); err != nil {
		t.Fatalf("write the catalog: %v", err)
	}
	if _, _, err := checkout.NewStore(pool).CreateOrGet(ctx, "ann", "k1",
		checkout.Request{Items: []checkout.Item{{SKU: "TEE-1", Quantity: 1}}, Currency: "USD", PaymentMethod: "pm_card_visa"}); err != nil {
		t.Fatalf("create a checkout: %v", err)
	}
	if err := postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
		return audit.Write(ctx, tx, audit.Entry{Actor: "test", Action: "product_created", SKU: "TEE-1"})
	}); err != nil {
		t.Fatalf("write an audit row: %v", err)
	}
	// The sweeper's upkeep of the partitions runs as this role: it makes the
	// partitions of two months in 2041 (ensure_partitions runs as the owner).
	later := time.Date(2041, 3, 10, 0, 0, 0, 0, time.UTC)
	if n, err := partition.Ensure(ctx, pool, later, 1); err != nil || n != 2*len(partition.Tables) {
		t.Fatalf("ensure the partitions of 2041 as %s: %d created, %v", role, n, err)
	}
	month := partition.MonthOf(time.Now()).Format("2006_01")
	// What it must not do, each refused by PostgreSQL's privileges: a
	// partition is reached only through its parent, whether it existed at
	// the deploy or was made since.
	for _, q := range []string{
		`UPDATE audit_log SET actor = 'someone else'`,
		`DELETE FROM audit_log`,
		`TRUNCATE audit_log`,
		`ALTER TABLE audit_log DISABLE TRIGGER ALL`,
		`DELETE FROM audit_log_` + month,
		`UPDATE audit_log_` + month + ` SET actor = 'someone else'`,
		`TRUNCATE audit_log_2041_04`,
		`SELECT * FROM orders_2041_03`,
		`ALTER TABLE audit_log DETACH PARTITION audit_log_` + month,
		`SELECT create_month_partition('audit_log', '2042-01-01')`,
		`DROP TABLE checkouts`,
		`ALTER TABLE products ADD COLUMN x int`,
		`DELETE FROM goose_db_version`,
		`CREATE TABLE public.mine (x int)`,
		`CREATE ROLE intruder`,
	} {
		_, err := pool.Exec(ctx, q)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "42501" {
			t.Errorf("%s as %s: %v; want permission denied (42501)", q, role, err)
		}
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM audit_log`).Scan(&n); err != nil || n < 1 {
		t.Fatalf("audit rows %d (%v) after the refused changes", n, err)
	}

	// ensure_partitions runs as the owner: a role that was not granted it
	// (any login but the application role) may not call it.
	other := randomRole(t)
	conn, err := pgx.Connect(ctx, owner)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE ROLE `+other+` LOGIN PASSWORD 'other-password'`); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(ctx, `DROP ROLE `+other) //nolint:errcheck // best effort
	stranger, err := pgx.Connect(ctx, asRole(t, owner, other, "other-password"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = partition.Ensure(ctx, stranger, later.AddDate(1, 0, 0), 0)
	stranger.Close(ctx)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42501" {
		t.Errorf("ensure_partitions as a role without the grant: %v; want permission denied (42501)", err)
	}
}

func TestRunRefusesABadRole(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ role, password string }{
		{"Robert'); DROP TABLE checkouts;--", "pw"},
		{"1app", "pw"},
		{"", "pw"},
		{"checkout_app", ""},
	} {
		if _, err := dbsetup.Run(context.Background(), "postgres://unused", tc.role, tc.password); err == nil {
			t.Errorf("role %q password %q accepted", tc.role, tc.password)
		}
	}
}
