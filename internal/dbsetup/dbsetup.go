// Package dbsetup prepares a deployed database: it applies the product's
// migrations as the database owner and keeps the least-privilege role the
// functions connect as. A CloudFormation custom resource runs it on every
// deploy (functions/migrate), before any function that needs the schema.
//
// The application role can read and write the product's tables but owns
// none of them, so it cannot alter or drop a table, a trigger or a
// function; on audit_log it may only SELECT and INSERT, so the audit trail
// stays append-only even if the trigger that refuses changes were gone.
package dbsetup

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/checkout-dev/checkout/internal/postgres"
)

// DefaultAppRole is the role the functions connect as.
const DefaultAppRole = "checkout_app"

var rolePattern = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Result says what Run did.
type Result struct {
	Migrated    bool   // the schema was migrated (a no-op when already current)
	RoleCreated bool   // the role did not exist before
	Role        string // the application role
}

// Run applies every migration to the database at ownerDSN (as its owner),
// then creates role (LOGIN, with password) or resets its password, and
// grants it exactly what the product needs (see EnsureAppRole). It is
// idempotent: a second run changes nothing but the password.
//
// Errors: a malformed role name or an empty password (nothing done), a
// migration failure (the role untouched), or a database error.
func Run(ctx context.Context, ownerDSN, role, password string) (Result, error) {
	if err := checkRole(role, password); err != nil {
		return Result{}, err
	}
	if err := postgres.Migrate(ctx, ownerDSN); err != nil {
		return Result{}, err
	}
	conn, err := pgx.Connect(ctx, ownerDSN)
	if err != nil {
		return Result{}, fmt.Errorf("dbsetup: connect: %w", err)
	}
	defer conn.Close(ctx)
	created, err := EnsureAppRole(ctx, conn, role, password)
	if err != nil {
		return Result{}, err
	}
	return Result{Migrated: true, RoleCreated: created, Role: role}, nil
}

func checkRole(role, password string) error {
	if !rolePattern.MatchString(role) {
		return fmt.Errorf("dbsetup: role %q: want 1 to 63 of a-z, 0-9 and _, not starting with a digit", role)
	}
	if password == "" {
		return errors.New("dbsetup: the application role needs a password")
	}
	return nil
}

// EnsureAppRole creates role with password, or sets the password of an
// existing one, and in one transaction grants it: USAGE on schema public;
// SELECT, INSERT, UPDATE, DELETE on every product table except audit_log
// and goose's version table; SELECT, INSERT on audit_log; SELECT on the
// version table; USAGE and SELECT on the sequences; EXECUTE on the
// functions (ensure_partitions among them, which runs as the owner);
// nothing on the partitions of the partitioned tables. Anything else the role held on those objects is revoked
// first, so a grant removed here is removed from the database too. created
// reports whether the role is new.
func EnsureAppRole(ctx context.Context, conn *pgx.Conn, role, password string) (created bool, err error) {
	if err := checkRole(role, password); err != nil {
		return false, err
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("dbsetup: begin: %w", err)
	}
	defer tx.Rollback(ctx)
	// Roles are global to the cluster: serialise concurrent setups.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('checkout-dbsetup', 0))`); err != nil {
		return false, fmt.Errorf("dbsetup: lock: %w", err)
	}
	if err := tx.QueryRow(ctx, `SELECT NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, role).Scan(&created); err != nil {
		return false, fmt.Errorf("dbsetup: look up role: %w", err)
	}
	verb := "ALTER"
	if created {
		verb = "CREATE"
	}
	// DDL takes no parameters: format() quotes the name and the password.
	var stmt string
	if err := tx.QueryRow(ctx, `SELECT format('`+verb+` ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT PASSWORD %L', $1::text, $2::text)`,
		role, password).Scan(&stmt); err != nil {
		return false, fmt.Errorf("dbsetup: role statement: %w", err)
	}
	if _, err := tx.Exec(ctx, stmt); err != nil {
		return false, fmt.Errorf("dbsetup: %s role %s: %w", verb, role, err)
	}
	id := pgx.Identifier{role}.Sanitize()
	for _, q := range []string{
		`REVOKE ALL ON ALL TABLES IN SCHEMA public FROM ` + id,
		`REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM ` + id,
		`GRANT USAGE ON SCHEMA public TO ` + id,
		`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ` + id,
		`REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM ` + id,
		`REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON goose_db_version FROM ` + id,
		`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ` + id,
		`GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO ` + id,
	} {
		if _, err := tx.Exec(ctx, q); err != nil {
			return false, fmt.Errorf("dbsetup: %s: %w", q, err)
		}
	}
	if err := revokePartitions(ctx, tx, id); err != nil {
		return false, err
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("dbsetup: commit: %w", err)
	}
	return created, nil
}

// revokePartitions takes back what the grant on all tables gave role on
// the partitions of orders, order_items and audit_log: the role reaches a
// partition only through its parent, whose privileges PostgreSQL checks
// (so UPDATE and DELETE stay refused on every month of audit_log), and the
// partitions ensure_partitions makes later get no grant either.
func revokePartitions(ctx context.Context, tx pgx.Tx, role string) error {
	rows, err := tx.Query(ctx, `SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND c.relispartition AND n.nspname = 'public' ORDER BY 1`)
	if err != nil {
		return fmt.Errorf("dbsetup: list partitions: %w", err)
	}
	parts, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("dbsetup: list partitions: %w", err)
	}
	if len(parts) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `REVOKE ALL ON `+strings.Join(parts, ", ")+` FROM `+role); err != nil {
		return fmt.Errorf("dbsetup: revoke on the partitions: %w", err)
	}
	return nil
}
