// Package devdb gives the local runtime its database: the one in
// DATABASE_URL, or a PostgreSQL cluster kept under .data/pg that survives
// restarts. Either way both schemas are migrated — the product's tables
// (migrations/, in public) and the local AWS emulator's (schema localaws) —
// and the demo catalog seeded.
package devdb

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/catalog"
	"github.com/checkout-dev/checkout/internal/inventory"
	"github.com/checkout-dev/checkout/internal/postgres"
	"github.com/checkout-dev/checkout/localaws"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

// DB is the local runtime's database.
type DB struct {
	Pool   *pgxpool.Pool
	DSN    string
	server *pgtest.Server // nil when DATABASE_URL is used
}

// Open connects to dsn (DATABASE_URL), or when it is empty starts (or
// reuses) the cluster under dataDir and creates database "checkout" there;
// then it migrates and seeds.
func Open(ctx context.Context, dsn, dataDir string, logf func(string, ...any)) (*DB, error) {
	db := &DB{DSN: dsn}
	if db.DSN == "" {
		srv, err := pgtest.Start(ctx, pgtest.Options{DataDir: dataDir, Durable: true,
			Log: func(p string) { logf("postgres log: %s", p) }})
		if err != nil {
			return nil, err
		}
		db.server = srv
		if err := createDatabase(ctx, srv.DSN("postgres"), "checkout"); err != nil {
			db.Close()
			return nil, err
		}
		db.DSN = srv.DSN("checkout")
		logf("postgres: %s (data in %s)", db.DSN, dataDir)
	} else {
		logf("postgres: DATABASE_URL")
	}
	if err := Migrate(ctx, db.DSN); err != nil {
		db.Close()
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(db.DSN)
	if err != nil {
		db.Close()
		return nil, err
	}
	cfg.MaxConns = 32
	if db.Pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		db.Close()
		return nil, err
	}
	if err := SeedDemo(ctx, db.Pool); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Migrate applies the product's migrations and the local AWS emulator's
// (localaws.Migrate: its own tables, in its own schema) to the database at
// dsn: everything the local stack needs.
func Migrate(ctx context.Context, dsn string) error {
	if err := postgres.Migrate(ctx, dsn); err != nil {
		return err
	}
	return localaws.Migrate(ctx, dsn)
}

// Close closes the pool and stops the cluster if Open started it; the data
// stays on disk for the next start.
func (db *DB) Close() error {
	if db.Pool != nil {
		db.Pool.Close()
	}
	if db.server != nil {
		return db.server.Stop()
	}
	return nil
}

func createDatabase(ctx context.Context, adminDSN, name string) error {
	conn, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr interface{ SQLState() string }
	if errors.As(err, &pgErr) && pgErr.SQLState() == "42P04" { // created concurrently
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// DemoProduct is one entry of the demo catalog.
type DemoProduct struct {
	SKU      string
	Name     string
	Amount   int64
	Currency string
	Stock    int
}

// Demo is the catalog a new local stack starts with. HOODIE-LTD is the
// flash-sale item: little stock, many buyers.
var Demo = []DemoProduct{
	{"TEE-BLACK-M", "Black T-shirt (M)", 2500, "USD", 100},
	{"MUG-LOGO", "Logo mug", 1200, "USD", 50},
	{"STICKER-PACK", "Sticker pack", 499, "USD", 1000},
	{"HOODIE-LTD", "Limited hoodie", 7900, "USD", 30},
}

// SeedDemo creates the demo catalog's products and their stock where they
// are missing, through the catalog and inventory packages (audited like any
// admin change); it never changes an existing product, so a restart keeps
// what a developer changed.
func SeedDemo(ctx context.Context, pool *pgxpool.Pool) error {
	products := catalog.NewStore(pool)
	stock := inventory.New(pool, inventory.Options{Actor: "demo-seed"})
	for _, p := range Demo {
		created, err := products.PutIfMissing(ctx, catalog.Product{SKU: p.SKU, Name: p.Name, Amount: p.Amount, Currency: p.Currency}, "demo-seed")
		if err != nil {
			return fmt.Errorf("seed %s: %w", p.SKU, err)
		}
		if !created {
			continue
		}
		if _, err := stock.SetOnHand(ctx, p.SKU, p.Stock); err != nil {
			return fmt.Errorf("seed stock %s: %w", p.SKU, err)
		}
	}
	return nil
}
