package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// StartReplica makes a hot-standby streaming replica of s, a cluster
// started by [Start]: a replication slot of its own is created on s first,
// reserving WAL at once (so s keeps every segment from before the backup's
// start until the replica has received it, however busy s is: without it a
// checkpoint of s may remove a segment the backup still has to stream),
// then pg_basebackup -R copies the cluster with its WAL (-X stream) through
// that slot and writes standby.signal, primary_conninfo and
// primary_slot_name; the copy starts on a free loopback port with s's
// settings and streams from s. It runs as the
// cluster's owner, like s. initdb's default pg_hba.conf already admits
// local replication connections ("host replication all 127.0.0.1/32"),
// and PostgreSQL's defaults (wal_level=replica, max_wal_senders=10,
// hot_standby=on) are what streaming needs.
//
// Stop stops the replica, drops its slot on s and removes its files.
func (s *Server) StartReplica(ctx context.Context) (*Server, error) {
	if s.external || s.settings == "" {
		return nil, errors.New("pgtest: a replica needs a cluster this process started (not DATABASE_URL, nor one found running)")
	}
	basebackup, err := siblingBinary(s.pgCtl, "pg_basebackup")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "localaws-pgtest-")
	if err != nil {
		return nil, err
	}
	r := &Server{pgCtl: s.pgCtl, asOwner: s.asOwner, temp: true, sockDir: dir, dataDir: filepath.Join(dir, "data"),
		logPath: filepath.Join(dir, "postgres.log"), primary: s, slot: "pgtest_replica_" + randomHex(6)}
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		r.cleanup()
		return nil, err
	}
	uid, gid := -1, -1
	if os.Geteuid() == 0 {
		// pg_basebackup runs as the cluster's owner and writes here.
		if uid, gid, err = ownerOf(s.dataDir); err == nil {
			err = os.Chown(dir, uid, gid)
		}
		if err != nil {
			r.cleanup()
			return nil, fmt.Errorf("pgtest: replica folder: %w", err)
		}
	}
	if err := execAdmin(ctx, s, fmt.Sprintf("SELECT pg_create_physical_replication_slot('%s', true)", r.slot)); err != nil {
		r.cleanup()
		return nil, fmt.Errorf("pgtest: replication slot: %w", err)
	}
	out, err := r.run(ctx, basebackup, "-h", "127.0.0.1", "-p", strconv.Itoa(s.port), "-U", "postgres",
		"-D", r.dataDir, "-R", "-X", "stream", "-c", "fast", "--no-sync", "-S", r.slot)
	if err != nil {
		r.dropSlot()
		r.cleanup()
		return nil, fmt.Errorf("pgtest: pg_basebackup: %w\n%s", err, out)
	}
	sock, err := r.socketDir(uid, gid)
	if err != nil {
		r.dropSlot()
		r.cleanup()
		return nil, err
	}
	// Everything as on s but the socket folder, which is the copy's own.
	r.settings = replaceSocketDir(s.settings, sock)
	if err := r.startOnFreePort(ctx); err != nil {
		r.dropSlot()
		r.cleanup()
		return nil, err
	}
	return r, nil
}

// siblingBinary finds program next to pg_ctl, or next to the file pg_ctl
// links to (a bin folder on PATH may hold only links to some of them).
func siblingBinary(pgCtl, program string) (string, error) {
	dirs := []string{filepath.Dir(pgCtl)}
	if real, err := filepath.EvalSymlinks(pgCtl); err == nil {
		dirs = append(dirs, filepath.Dir(real))
	}
	for _, d := range dirs {
		if p := filepath.Join(d, program); isFile(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("pgtest: no %s next to %s (install the PostgreSQL client programs)", program, pgCtl)
}

// replaceSocketDir swaps the -k folder in pg_ctl settings.
func replaceSocketDir(settings, dir string) string {
	f := strings.Fields(settings)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "-k" {
			f[i+1] = dir
		}
	}
	return strings.Join(f, " ")
}

// ownerOf returns the user and group owning path.
func ownerOf(path string) (uid, gid int, err error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, 0, err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, fmt.Errorf("pgtest: no owner for %s on this system", path)
	}
	return int(sys.Uid), int(sys.Gid), nil
}

// Kill stops the server the way a crash does: pg_ctl stop -m immediate
// sends SIGQUIT, every backend exits at once and every connection is cut
// without a checkpoint; [Server.Restart] recovers it. Its files stay.
func (s *Server) Kill() error {
	if s == nil || s.external {
		return nil
	}
	out, err := s.run(context.Background(), s.pgCtl, "stop", "-m", "immediate", "-w", "-D", s.dataDir)
	if err != nil {
		return fmt.Errorf("pgtest: pg_ctl stop -m immediate: %w\n%s", err, out)
	}
	return nil
}

// Restart starts a server stopped by [Server.Kill] again on its port; a
// replica resumes streaming from its primary.
func (s *Server) Restart(ctx context.Context) error {
	if s.external || s.settings == "" {
		return errors.New("pgtest: only a cluster this process started can be restarted")
	}
	return s.startOn(ctx, s.port)
}

// dropSlot drops a replica's replication slot on its primary; the
// walsender that used it may take a moment to exit after the replica stops.
func (s *Server) dropSlot() {
	if s.primary == nil || s.slot == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		err := execAdmin(ctx, s.primary, fmt.Sprintf(
			"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '%s'", s.slot))
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			fmt.Fprintf(os.Stderr, "pgtest: drop replication slot %s: %v\n", s.slot, err)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Replica is a test database on a streaming replica of the test cluster
// (NewReplica).
type Replica struct {
	*Server           // the replica cluster: Kill, Restart
	DSN        string // the test database on the replica
	PrimaryDSN string // the same database on the primary
}

// NewReplica starts a streaming replica (see [Server.StartReplica]) of the
// cluster holding dsn, a test database from [NewDB], and returns that same
// database on it. The replica is stopped, its slot dropped and its files
// removed when the test ends.
//
// With DATABASE_URL naming an external server the test is skipped: a
// replica is made from a cluster this process started, never from a
// server of yours.
func NewReplica(t testing.TB, dsn string) *Replica {
	t.Helper()
	mu.Lock()
	srv := server
	mu.Unlock()
	if srv == nil {
		t.Fatal("pgtest: NewReplica needs a test database first (NewDB or NewPool)")
	}
	if srv.external {
		t.Skip("pgtest: DATABASE_URL names an external server; a streaming replica is made with pg_basebackup from a cluster the tests start themselves (unset DATABASE_URL to run this test)")
	}
	name, err := databaseName(dsn)
	if err != nil {
		t.Fatal(err)
	}
	r, err := srv.StartReplica(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Stop(); err != nil {
			t.Log(err)
		}
	})
	return &Replica{Server: r, DSN: r.DSN(name), PrimaryDSN: dsn}
}

// WaitReplayed waits up to 30 s until r has replayed everything its
// primary had written when it was called; the test fails otherwise.
func (r *Replica) WaitReplayed(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := WaitReplayed(ctx, r.PrimaryDSN, r.DSN); err != nil {
		t.Fatal(err)
	}
}

// PauseReplay pauses r's replay (pg_wal_replay_pause()) or resumes it, and
// waits until it is so: what the primary writes meanwhile is received but
// not visible on r, as on a lagging replica.
func (r *Replica) PauseReplay(t testing.TB, pause bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fn, want := "pg_wal_replay_resume", "not paused"
	if pause {
		fn, want = "pg_wal_replay_pause", "paused"
	}
	var ignored any
	if err := queryOne(ctx, r.DSN, "SELECT "+fn+"()::text", &ignored); err != nil {
		t.Fatal(err)
	}
	for {
		var state string
		err := queryOne(ctx, r.DSN, `SELECT pg_get_wal_replay_pause_state()`, &state)
		if err == nil && state == want {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("pgtest: replay is %q (%v); want %q", state, err, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// PoolOn returns a pool on dsn, closed when the test ends.
func PoolOn(t testing.TB, dsn string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// WaitReplayed waits until the replica at replicaDSN has replayed
// everything the primary at primaryDSN had written when it was called.
func WaitReplayed(ctx context.Context, primaryDSN, replicaDSN string) error {
	lsn, err := flushedLSN(ctx, primaryDSN)
	if err != nil {
		return err
	}
	for {
		var done bool
		err := queryOne(ctx, replicaDSN, `SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn`, &done, lsn)
		if err == nil && done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pgtest: the replica has not replayed %s: %w (last error %v)", lsn, ctx.Err(), err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// flushedLSN flushes the primary's WAL and returns its flush position.
// The test clusters run with synchronous_commit off, so a commit's WAL may
// stay unflushed, hence unsent, for a while after it returned: a
// transaction that commits synchronously flushes everything before it.
func flushedLSN(ctx context.Context, dsn string) (string, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var lsn string
	if _, err := conn.Exec(ctx, `SET synchronous_commit = on`); err != nil {
		return "", err
	}
	// A transaction that writes WAL (a transactional logical message) and
	// commits synchronously: PostgreSQL flushes a commit only when its
	// transaction wrote something.
	if _, err := conn.Exec(ctx, `SELECT pg_logical_emit_message(true, 'pgtest', 'flush')`); err != nil {
		return "", err
	}
	err = conn.QueryRow(ctx, `SELECT pg_current_wal_flush_lsn()::text`).Scan(&lsn)
	return lsn, err
}

func queryOne(ctx context.Context, dsn, sql string, dst any, args ...any) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.QueryRow(ctx, sql, args...).Scan(dst)
}

func databaseName(dsn string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil || strings.TrimPrefix(u.Path, "/") == "" {
		return "", fmt.Errorf("pgtest: no database name in %q", dsn)
	}
	return strings.TrimPrefix(u.Path, "/"), nil
}
