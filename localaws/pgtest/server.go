// Package pgtest starts PostgreSQL clusters from the initdb and pg_ctl found
// on the machine: throwaway ones for tests, and ones kept in a data folder for
// local development servers. No Docker.
//
// Tests call [Main] from TestMain with the migrations of their schema and
// [NewDB] or [NewPool] per test: every test gets a fresh database cloned from
// a migrated template, so packages and tests run in parallel. When
// DATABASE_URL is set, databases are created on that server instead.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Options configure a cluster started by [Start].
type Options struct {
	// DataDir keeps the cluster's files. Empty means a temporary folder that
	// Stop removes; a non-empty folder is kept so a restart keeps the data.
	DataDir string
	// Durable keeps PostgreSQL's default fsync and commit settings. Tests run
	// with them off, which is faster and loses nothing a test cares about.
	Durable bool
	// Log receives the server's log file path (optional).
	Log func(path string)
}

// Server is a running PostgreSQL cluster.
type Server struct {
	dataDir   string
	sockDir   string
	shortSock string // a short socket folder of our own when sockDir is too long
	port      int
	pgCtl     string
	asOwner   []string // command prefix that runs a program as the cluster owner
	temp      bool
	external  bool
	// settings are the server options pg_ctl passes (everything but the
	// port), so a replica or a restart starts the same way.
	settings string
	logPath  string
	// primary and slot are set on a replica (StartReplica): the cluster it
	// streams from and the replication slot it holds there.
	primary *Server
	slot    string
}

// ErrNoPostgres explains how to get a PostgreSQL when none is found.
var ErrNoPostgres = errors.New(`pgtest: no PostgreSQL server binaries (initdb, pg_ctl) found on PATH or under /usr/lib/postgresql/*/bin.
Either point DATABASE_URL at a server you run (DATABASE_URL=postgres://user:pass@127.0.0.1:5432/postgres),
or install PostgreSQL 13 or newer: Debian/Ubuntu "apt-get install postgresql", Fedora "dnf install postgresql-server",
macOS "brew install postgresql@15" (then put its bin folder on PATH)`)

// FindBinDir returns the folder holding initdb and pg_ctl: PATH first, then
// the newest /usr/lib/postgresql/*/bin.
func FindBinDir() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if _, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if isFile(filepath.Join(d, "initdb")) && isFile(filepath.Join(d, "pg_ctl")) {
			return d, nil
		}
	}
	return "", ErrNoPostgres
}

func versionOf(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// Start initialises (if needed) and starts a cluster on a free loopback port.
// PostgreSQL refuses to run as root, so as root the cluster is owned by and
// run as the "postgres" user.
func Start(ctx context.Context, opts Options) (*Server, error) {
	bin, err := FindBinDir()
	if err != nil {
		return nil, err
	}
	s := &Server{pgCtl: filepath.Join(bin, "pg_ctl")}
	uid, gid := -1, -1
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("pgtest: running as root needs a \"postgres\" user to own the cluster (useradd postgres): %w", err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		s.asOwner = []string{"runuser", "-u", "postgres", "--"}
	}
	if opts.DataDir == "" {
		reapStale()
		dir, err := os.MkdirTemp("", "localaws-pgtest-")
		if err != nil {
			return nil, err
		}
		s.temp = true
		s.dataDir = filepath.Join(dir, "data")
		s.sockDir = dir
		if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			return nil, err
		}
	} else {
		abs, err := filepath.Abs(opts.DataDir)
		if err != nil {
			return nil, err
		}
		s.dataDir = filepath.Join(abs, "data")
		s.sockDir = abs
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return nil, err
		}
	}
	if uid >= 0 {
		if err := os.Chown(s.sockDir, uid, gid); err != nil {
			return nil, fmt.Errorf("pgtest: chown %s: %w", s.sockDir, err)
		}
	}
	if !isFile(filepath.Join(s.dataDir, "PG_VERSION")) {
		args := []string{filepath.Join(bin, "initdb"), "-D", s.dataDir, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C"}
		if !opts.Durable {
			args = append(args, "--no-sync")
		}
		if out, err := s.run(ctx, args...); err != nil {
			s.cleanup()
			return nil, fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
		}
	}
	if port, ok := s.runningPort(); ok {
		s.port = port // left running by an earlier process (killed hard)
		return s, s.waitReady(ctx)
	}
	s.logPath = filepath.Join(s.sockDir, "postgres.log")
	if opts.Log != nil {
		opts.Log(s.logPath)
	}
	sock, err := s.socketDir(uid, gid)
	if err != nil {
		return nil, err
	}
	s.settings = fmt.Sprintf("-k %s -c listen_addresses=127.0.0.1 -c max_connections=400 -c shared_buffers=128MB", sock)
	if !opts.Durable {
		s.settings += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
	}
	if err := s.startOnFreePort(ctx); err != nil {
		s.cleanup()
		return nil, err
	}
	return s, nil
}

// startOnFreePort starts the server on a free loopback port, trying
// another one when a race took the first.
func (s *Server) startOnFreePort(ctx context.Context) error {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			return err
		}
		if lastErr = s.startOn(ctx, port); lastErr == nil {
			return nil
		}
	}
	return lastErr
}

// startOn runs pg_ctl start on port with s's settings and waits until
// the server accepts connections.
func (s *Server) startOn(ctx context.Context, port int) error {
	s.port = port
	out, err := s.run(ctx, s.pgCtl, "start", "-w", "-t", "60", "-D", s.dataDir, "-l", s.logPath,
		"-o", fmt.Sprintf("-p %d %s", port, s.settings))
	if err != nil {
		return fmt.Errorf("pgtest: pg_ctl start: %w\n%s\n%s", err, out, tail(s.logPath))
	}
	return s.waitReady(ctx)
}

// Connect returns an external server described by dsn (DATABASE_URL).
func Connect(dsn string) *Server { return &Server{external: true, dataDir: dsn} }

// DSN returns the connection string for database name on s.
func (s *Server) DSN(name string) string {
	if s.external {
		return withDatabase(s.dataDir, name)
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, name)
}

// withDatabase points dsn (URL or keyword/value form) at database name.
func withDatabase(dsn, name string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Path = "/" + name
		return u.String()
	}
	return dsn + " dbname=" + name // later keywords override earlier ones
}

// Port is the loopback TCP port of a cluster started by Start.
func (s *Server) Port() int { return s.port }

// Stop shuts the cluster down (fast mode); a temporary cluster's files are
// removed, and a replica's slot on its primary is dropped.
func (s *Server) Stop() error {
	if s == nil || s.external {
		return nil
	}
	var out []byte
	var err error
	if isFile(filepath.Join(s.dataDir, "postmaster.pid")) { // not already stopped by Kill
		out, err = s.run(context.Background(), s.pgCtl, "stop", "-m", "fast", "-w", "-D", s.dataDir)
	}
	s.dropSlot()
	s.cleanup()
	if err != nil {
		return fmt.Errorf("pgtest: pg_ctl stop: %w\n%s", err, out)
	}
	return nil
}

func (s *Server) cleanup() {
	if s.temp {
		os.RemoveAll(s.sockDir)
	}
	if s.shortSock != "" {
		os.RemoveAll(s.shortSock)
	}
}

// maxSocketDir keeps "<dir>/.s.PGSQL.<port>" within the 107 bytes a Unix
// socket path may have.
const maxSocketDir = 90

// socketDir is where the server puts its Unix socket: next to its data,
// unless that path is too long for a socket (a clone in a deep folder),
// then a short folder of its own under the system's temp dir. Clients
// connect over TCP either way.
func (s *Server) socketDir(uid, gid int) (string, error) {
	if len(s.sockDir) <= maxSocketDir {
		return s.sockDir, nil
	}
	dir, err := os.MkdirTemp("", "pgsock-")
	if err != nil {
		return "", err
	}
	if uid >= 0 {
		if err := os.Chown(dir, uid, gid); err != nil {
			return "", fmt.Errorf("pgtest: chown %s: %w", dir, err)
		}
	}
	s.shortSock = dir
	return dir, nil
}

func (s *Server) run(ctx context.Context, args ...string) ([]byte, error) {
	full := append(append([]string{}, s.asOwner...), args...)
	cmd := exec.CommandContext(ctx, full[0], full[1:]...)
	cmd.Dir = os.TempDir()
	// pg_ctl's server must outlive a Ctrl-C sent to our process group only
	// when we decide so; a separate group lets a dev server stop it cleanly.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd.CombinedOutput()
}

// runningPort reads postmaster.pid of a cluster that is already running.
func (s *Server) runningPort() (int, bool) {
	b, err := os.ReadFile(filepath.Join(s.dataDir, "postmaster.pid"))
	if err != nil {
		return 0, false
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 4 {
		return 0, false
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(lines[0]))
	port, _ := strconv.Atoi(strings.TrimSpace(lines[3]))
	if pid <= 0 || port <= 0 || syscall.Kill(pid, 0) != nil {
		return 0, false
	}
	return port, true
}

func (s *Server) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := pgx.Connect(ctx, s.DSN("postgres"))
		if err == nil {
			return conn.Close(ctx)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pgtest: server on port %d not ready: %w", s.port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// reapStale stops and removes temporary clusters whose owning test process
// died without cleaning up (killed by a timeout, say).
func reapStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "localaws-pgtest-*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "owner.pid"))
		if err != nil {
			continue
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		if pid > 0 && syscall.Kill(pid, 0) == nil {
			continue
		}
		if pm, err := os.ReadFile(filepath.Join(d, "data", "postmaster.pid")); err == nil {
			if pgPid, _ := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(pm), "\n", 2)[0])); pgPid > 0 {
				_ = syscall.Kill(pgPid, syscall.SIGQUIT)
				time.Sleep(200 * time.Millisecond)
			}
		}
		os.RemoveAll(d)
	}
}
