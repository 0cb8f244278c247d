package pgtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestReplicaStreams: a replica made by NewReplica is a hot standby of the
// test cluster: read-only, in recovery, and it replays what the primary
// writes, also after it was killed and restarted.
func TestReplicaStreams(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dsn := NewDB(t)
	if err := execOn(ctx, dsn, `INSERT INTO items (id, qty) VALUES (1, 5)`); err != nil {
		t.Fatal(err)
	}
	replica := NewReplica(t, dsn)
	rdsn := replica.DSN
	var inRecovery bool
	if err := queryOne(ctx, rdsn, `SELECT pg_is_in_recovery()`, &inRecovery); err != nil || !inRecovery {
		t.Fatalf("pg_is_in_recovery() = %v, %v on the replica; want true", inRecovery, err)
	}
	qty := func() int {
		t.Helper()
		var n int
		if err := queryOne(ctx, rdsn, `SELECT coalesce(sum(qty), 0) FROM items`, &n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if got := qty(); got != 5 {
		t.Fatalf("replica has qty %d from the base backup; want 5", got)
	}

	// Streaming: a write on the primary shows up on the replica.
	if err := execOn(ctx, dsn, `INSERT INTO items (id, qty) VALUES (2, 7)`); err != nil {
		t.Fatal(err)
	}
	replica.WaitReplayed(t)
	if got := qty(); got != 12 {
		t.Fatalf("replica has qty %d after the write; want 12", got)
	}

	// Paused replay: received, not visible; resumed: visible.
	replica.PauseReplay(t, true)
	if err := execOn(ctx, dsn, `INSERT INTO items (id, qty) VALUES (5, 1000)`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if got := qty(); got != 12 {
		t.Fatalf("paused replica has qty %d; want still 12", got)
	}
	replica.PauseReplay(t, false)
	replica.WaitReplayed(t)
	if got := qty(); got != 1012 {
		t.Fatalf("resumed replica has qty %d; want 1012", got)
	}

	// Read-only: a write on the replica is refused (25006).
	err := execOn(ctx, rdsn, `INSERT INTO items (id, qty) VALUES (3, 1)`)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "25006" {
		t.Fatalf("write on the replica: %v; want read_only_sql_transaction (25006)", err)
	}

	// Killed: no connection; written meanwhile on the primary; restarted:
	// it catches up.
	if err := replica.Kill(); err != nil {
		t.Fatal(err)
	}
	if conn, err := pgx.Connect(ctx, rdsn); err == nil {
		conn.Close(ctx)
		t.Fatal("connected to a killed replica")
	}
	if err := execOn(ctx, dsn, `INSERT INTO items (id, qty) VALUES (4, 100)`); err != nil {
		t.Fatal(err)
	}
	if err := replica.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	replica.WaitReplayed(t)
	if got := qty(); got != 1112 {
		t.Fatalf("restarted replica has qty %d; want 1112", got)
	}
}
