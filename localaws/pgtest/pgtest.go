package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// A Migration prepares the template database (dsn names it) that every test
// database is cloned from: typically a function applying a schema's embedded
// migrations, such as localaws.Migrate.
type Migration func(ctx context.Context, dsn string) error

// process-wide state: one cluster (or DATABASE_URL) and one migrated template
// database per test binary; every test clones the template.
var (
	mu         sync.Mutex
	mainRan    bool
	migrations []Migration
	server     *Server
	template   string
	startErr   error
	atExit     []func()
)

// AtExit registers f to run after the package's tests, before [Main] stops
// the cluster and exits: how a package stops other throwaway servers (a
// Redis) it shares between its tests. Call it from TestMain before Main.
func AtExit(f func()) {
	mu.Lock()
	atExit = append(atExit, f)
	mu.Unlock()
}

// Main runs the package's tests and then stops the cluster that NewDB may have
// started. migrations prepare, in order, the template database every test
// database is cloned from (none: every test database is empty). Call it from
// TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m, localaws.Migrate) }
func Main(m *testing.M, migrate ...Migration) {
	mu.Lock()
	mainRan = true
	migrations = migrate
	mu.Unlock()
	code := m.Run()
	mu.Lock()
	hooks := atExit
	mu.Unlock()
	for _, f := range hooks {
		f()
	}
	mu.Lock()
	if server != nil {
		if server.external && template != "" {
			dropDatabase(context.Background(), server, template)
		}
		if err := server.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	mu.Unlock()
	os.Exit(code)
}

// NewDB returns the DSN of a fresh database with the migrations given to
// [Main] applied, dropped when the test ends.
func NewDB(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	mu.Lock()
	defer mu.Unlock()
	if !mainRan {
		t.Fatal("pgtest: call pgtest.Main(m, migrations...) from TestMain so the throwaway cluster is stopped")
	}
	if server == nil && startErr == nil {
		server, template, startErr = startTemplate(ctx)
	}
	if startErr != nil {
		t.Fatal(startErr)
	}
	name := "t_" + randomHex(8)
	if err := execAdmin(ctx, server, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, template)); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	srv := server
	t.Cleanup(func() { dropDatabase(context.Background(), srv, name) })
	return srv.DSN(name)
}

// NewPool returns a pool on a fresh database (see NewDB), closed when the
// test ends. The pool allows 64 connections so concurrency tests contend in
// PostgreSQL, not in the pool.
func NewPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(NewDB(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 64
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func startTemplate(ctx context.Context) (*Server, string, error) {
	var srv *Server
	if dsn := os.Getenv("DATABASE_URL"); dsn != "" {
		srv = Connect(dsn)
	} else {
		var err error
		if srv, err = Start(ctx, Options{}); err != nil {
			return nil, "", err
		}
	}
	name := "pgtest_tmpl_" + randomHex(6)
	if err := execAdmin(ctx, srv, "CREATE DATABASE "+name); err != nil {
		srv.Stop()
		return nil, "", fmt.Errorf("pgtest: create template database: %w", err)
	}
	for _, migrate := range migrations {
		if err := migrate(ctx, srv.DSN(name)); err != nil {
			srv.Stop()
			return nil, "", fmt.Errorf("pgtest: migrate the template database: %w", err)
		}
	}
	return srv, name, nil
}

func adminDB(s *Server) string {
	if s.external {
		return s.dataDir
	}
	return s.DSN("postgres")
}

func execAdmin(ctx context.Context, s *Server, sql string) error {
	conn, err := pgx.Connect(ctx, adminDB(s))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

func dropDatabase(ctx context.Context, s *Server, name string) {
	if err := execAdmin(ctx, s, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name)); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: drop database %s: %v\n", name, err)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
