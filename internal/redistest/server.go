// Package redistest starts Redis servers for tests and for the local dev
// stack: a throwaway redis-server found on PATH on a free loopback port, the
// server named by REDIS_URL, or, when neither exists, an embedded in-process
// Redis (miniredis, which runs Lua scripts) with a notice saying so. No
// Docker.
//
// Tests call [Main] from TestMain and [NewClient] per test: every test gets
// its own key prefix on the package's server, so tests run in parallel on a
// shared server (also on a REDIS_URL server shared with other programs).
// Tests that kill and restart Redis start a server of their own with
// [StartPrivate].
//
// With CI=true (or [Options.RequireReal]) the embedded fallback is refused:
// CI must test against a real Redis.
package redistest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/checkout-dev/checkout/internal/redisconn"
)

// Options configure [Start].
type Options struct {
	// DataDir keeps the server's files (append-only file, log, pid file).
	// Empty means a temporary folder that Stop removes. A non-empty folder
	// is kept, and a server left running there by an earlier process (one
	// killed hard) is adopted instead of started again.
	DataDir string
	// Addr is the loopback host:port to listen on; empty picks a free port.
	Addr string
	// NoAppendOnly starts redis-server with --appendonly no: a restart then
	// comes back empty (a cache node replaced, a failover that lost the
	// data). The default, --appendonly yes, comes back with every write
	// acknowledged before a SIGKILL (the file is in the OS's page cache).
	NoAppendOnly bool
	// RequireReal refuses the embedded fallback (also implied by CI=true).
	RequireReal bool
	// Private ignores REDIS_URL: the server is this process's own, so it
	// can be killed and restarted.
	Private bool
	// Cluster starts redis-server as a one-node Redis Cluster owning all
	// 16384 slots, spoken to with the cluster protocol (as ElastiCache
	// cluster mode and ElastiCache Serverless are): a script whose keys are
	// in different slots fails with CROSSSLOT there. It implies Private and
	// needs redis-server (no embedded fallback).
	Cluster bool
}

// Kind says what a [Server] is.
type Kind uint8

// Kinds of server.
const (
	Process  Kind = iota // a redis-server process started (or adopted) by Start
	External             // the server of REDIS_URL
	Embedded             // miniredis in this process
)

func (k Kind) String() string {
	return [...]string{"redis-server", "REDIS_URL", "embedded miniredis"}[k]
}

// ErrNoRedis explains how to get a Redis when none is found and the embedded
// fallback is not allowed.
var ErrNoRedis = errors.New(`redistest: no redis-server on PATH and REDIS_URL is not set, and the embedded fallback is off (CI=true).
Install Redis 7 or newer: Debian/Ubuntu "apt-get install -y redis-server", Fedora "dnf install redis", macOS "brew install redis";
or point REDIS_URL at a server you run (REDIS_URL=redis://127.0.0.1:6379/0)`)

// Server is a running Redis.
type Server struct {
	kind    Kind
	url     string // External
	addr    string // host:port
	dir     string
	temp    bool
	noAOF   bool
	cluster bool
	bin     string
	mini    *miniredis.Miniredis
	mu      sync.Mutex
	pid     int
	done    chan struct{} // closed when the process we started exits
}

// Start starts (or finds) a Redis as described by opts: REDIS_URL unless
// opts.Private, else redis-server from PATH, else the embedded fallback
// unless that is refused. It returns when the server answers PING.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.Cluster {
		opts.Private, opts.RequireReal = true, true
	}
	if u := os.Getenv("REDIS_URL"); u != "" && !opts.Private {
		s := &Server{kind: External, url: u}
		c, err := redisconn.Open(ctx, redisconn.Config{URL: u, DialTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second})
		if err != nil {
			return nil, fmt.Errorf("redistest: REDIS_URL: %w", err)
		}
		c.Close()
		return s, nil
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if opts.RequireReal || os.Getenv("CI") == "true" {
			return nil, ErrNoRedis
		}
		return startEmbedded(opts)
	}
	s := &Server{kind: Process, bin: bin, noAOF: opts.NoAppendOnly, cluster: opts.Cluster}
	if opts.DataDir == "" {
		reapStale()
		dir, err := os.MkdirTemp("", "redistest-")
		if err != nil {
			return nil, err
		}
		s.dir, s.temp = dir, true
		if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			return nil, err
		}
	} else {
		abs, err := filepath.Abs(opts.DataDir)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return nil, err
		}
		s.dir = abs
		if s.adopt(ctx) {
			return s, nil
		}
	}
	fixed := opts.Addr != ""
	s.addr = opts.Addr
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		if !fixed {
			if s.addr, err = freeAddr(); err != nil {
				return nil, err
			}
		}
		if lastErr = s.spawn(ctx); lastErr == nil {
			return s, nil
		}
		if fixed {
			break
		}
	}
	s.cleanup()
	return nil, lastErr
}

func startEmbedded(opts Options) (*Server, error) {
	m := miniredis.NewMiniRedis()
	var err error
	if opts.Addr != "" {
		err = m.StartAddr(opts.Addr)
	} else {
		err = m.Start()
	}
	if err != nil {
		return nil, fmt.Errorf("redistest: embedded Redis: %w", err)
	}
	return &Server{kind: Embedded, mini: m, addr: m.Addr(), noAOF: opts.NoAppendOnly}, nil
}

// Kind says whether s is a redis-server process, REDIS_URL's server or the
// embedded fallback.
func (s *Server) Kind() Kind { return s.kind }

// Embedded reports whether s is the in-process fallback (miniredis).
func (s *Server) Embedded() bool { return s.kind == Embedded }

// Notice is a line for a banner or a test log when s is not a real Redis,
// and "" when it is.
func (s *Server) Notice() string {
	if s.kind != Embedded {
		return ""
	}
	return "Redis: no redis-server on PATH; using an embedded in-process Redis (miniredis) at " + s.addr +
		". Its data is lost when the process stops. Install redis-server (apt-get install -y redis-server) or set REDIS_URL for a real one."
}

// URL is the redis:// URL of s (REDIS_URL itself for an external server).
func (s *Server) URL() string {
	if s.kind == External {
		return s.url
	}
	return "redis://" + s.addr + "/0"
}

// Addr is the host:port of a Process or Embedded server ("" for External).
func (s *Server) Addr() string { return s.addr }

// Dir is the data folder of a Process server.
func (s *Server) Dir() string { return s.dir }

// PID is the process id of a Process server (0 when it is not running).
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pid
}

// Mini is the embedded server (nil unless Embedded); tests may use its
// FastForward to expire keys without waiting.
func (s *Server) Mini() *miniredis.Miniredis { return s.mini }

// Cluster reports whether s is a one-node Redis Cluster (Options.Cluster).
func (s *Server) Cluster() bool { return s.cluster }

// Client returns a new client of s with the product's client settings and
// generous timeouts for a loaded test machine (5 s per operation); a cluster
// client for a Cluster server.
func (s *Server) Client() redis.UniversalClient {
	c, err := redisconn.New(redisconn.Config{URL: s.URL(), Cluster: s.cluster, DialTimeout: 5 * time.Second,
		ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, PoolSize: 32})
	if err != nil {
		panic(err) // s.URL() is always well formed
	}
	return c
}

// Kill stops a Process server with SIGKILL and waits until it is gone: no
// shutdown, no final fsync (like a crashed node). An Embedded server closes
// its listener. An External server cannot be killed.
func (s *Server) Kill() error {
	switch s.kind {
	case External:
		return errors.New("redistest: cannot kill the REDIS_URL server; use StartPrivate")
	case Embedded:
		s.mini.Close()
		return nil
	}
	return s.signal(syscall.SIGKILL, 10*time.Second)
}

// Restart starts a killed or stopped server again on the same address and
// data folder. A Process server with the append-only file (the default)
// comes back with its data; with NoAppendOnly it comes back empty. The
// Embedded server keeps its data unless NoAppendOnly.
func (s *Server) Restart(ctx context.Context) error {
	switch s.kind {
	case External:
		return errors.New("redistest: cannot restart the REDIS_URL server")
	case Embedded:
		if s.noAOF {
			s.mini.FlushAll()
		}
		return s.mini.Restart()
	}
	if s.PID() != 0 {
		return fmt.Errorf("redistest: server %d is still running", s.PID())
	}
	var err error
	for attempt := 0; attempt < 20; attempt++ { // the port may linger a moment
		if err = s.spawn(ctx); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// Stop shuts the server down: SIGTERM (Redis writes its append-only file and
// exits), then SIGKILL after 10 s. A temporary data folder is removed.
// Stopping an External server does nothing.
func (s *Server) Stop() error {
	if s == nil {
		return nil
	}
	var err error
	switch s.kind {
	case External:
		return nil
	case Embedded:
		s.mini.Close()
		return nil
	case Process:
		if s.temp {
			err = s.signal(syscall.SIGKILL, 10*time.Second) // nothing to keep
		} else if err = s.signal(syscall.SIGTERM, 10*time.Second); err != nil {
			err = s.signal(syscall.SIGKILL, 10*time.Second)
		}
	}
	s.cleanup()
	return err
}

func (s *Server) cleanup() {
	if s.temp {
		os.RemoveAll(s.dir)
	}
}

// signal sends sig to the server's process and waits up to wait for it to
// exit. Only the process this Server started (or adopted) is signalled.
func (s *Server) signal(sig syscall.Signal, wait time.Duration) error {
	s.mu.Lock()
	pid, done := s.pid, s.done
	s.mu.Unlock()
	if pid == 0 {
		return nil
	}
	if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("redistest: kill %d: %w", pid, err)
	}
	deadline := time.Now().Add(wait)
	for {
		if done != nil {
			select {
			case <-done:
				s.setPID(0, nil)
				return nil
			case <-time.After(20 * time.Millisecond):
			}
		} else {
			if syscall.Kill(pid, 0) != nil {
				s.setPID(0, nil)
				return nil
			}
			time.Sleep(20 * time.Millisecond)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redistest: redis-server %d did not exit within %s of %s", pid, wait, sig)
		}
	}
}

func (s *Server) setPID(pid int, done chan struct{}) {
	s.mu.Lock()
	s.pid, s.done = pid, done
	s.mu.Unlock()
}

func (s *Server) args() []string {
	_, port, _ := net.SplitHostPort(s.addr)
	host, _, _ := net.SplitHostPort(s.addr)
	aof := "yes"
	if s.noAOF {
		aof = "no"
	}
	return []string{
		"--port", port, "--bind", host, "--dir", s.dir,
		"--save", "", "--appendonly", aof, "--appendfsync", "everysec",
		"--pidfile", filepath.Join(s.dir, "redis.pid"), "--logfile", filepath.Join(s.dir, "redis.log"),
		"--daemonize", "no", "--maxmemory-policy", "noeviction",
		"--cluster-enabled", map[bool]string{true: "yes", false: "no"}[s.cluster],
		"--cluster-config-file", filepath.Join(s.dir, "nodes.conf"),
	}
}

// spawn starts redis-server on s.addr and waits until it answers PING.
func (s *Server) spawn(ctx context.Context) error {
	os.Remove(filepath.Join(s.dir, "redis.pid"))
	cmd := exec.Command(s.bin, s.args()...)
	cmd.Dir = s.dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Its own process group: a Ctrl-C to `make dev` reaches us, and we stop
	// the server ourselves (SIGTERM, so the append-only file is complete).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("redistest: start redis-server: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.setPID(cmd.Process.Pid, done)
	if err := os.WriteFile(filepath.Join(s.dir, "addr"), []byte(s.addr), 0o644); err != nil {
		s.signal(syscall.SIGKILL, 5*time.Second)
		return err
	}
	if err := s.waitReady(ctx, done); err != nil {
		s.signal(syscall.SIGKILL, 5*time.Second)
		return fmt.Errorf("%w\n%s%s", err, out.String(), tail(filepath.Join(s.dir, "redis.log")))
	}
	if s.cluster {
		if err := s.claimSlots(ctx); err != nil {
			s.signal(syscall.SIGKILL, 5*time.Second)
			return err
		}
	}
	return nil
}

// claimSlots gives the one node every slot (unless nodes.conf already did,
// after a restart) and waits for the cluster to report ok.
func (s *Server) claimSlots(ctx context.Context) error {
	c := redis.NewClient(&redis.Options{Addr: s.addr, DialTimeout: time.Second, ReadTimeout: 5 * time.Second,
		MaxRetries: -1, DisableIdentity: true})
	defer c.Close()
	info, err := c.ClusterInfo(ctx).Result()
	if err != nil {
		return fmt.Errorf("redistest: cluster info: %w", err)
	}
	if !strings.Contains(info, "cluster_slots_assigned:16384") {
		if err := c.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", 0, 16383).Err(); err != nil {
			return fmt.Errorf("redistest: cluster addslotsrange: %w", err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		info, err := c.ClusterInfo(ctx).Result()
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redistest: one-node cluster on %s not ok: %v\n%s", s.addr, err, info)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// adopt takes over a server left running in s.dir by an earlier process.
func (s *Server) adopt(ctx context.Context) bool {
	b, err := os.ReadFile(filepath.Join(s.dir, "redis.pid"))
	if err != nil {
		return false
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	addr, err := os.ReadFile(filepath.Join(s.dir, "addr"))
	if pid <= 0 || err != nil || syscall.Kill(pid, 0) != nil || !isRedis(pid) {
		return false
	}
	s.addr = strings.TrimSpace(string(addr))
	s.setPID(pid, nil)
	if s.waitReady(ctx, nil) != nil {
		s.setPID(0, nil)
		return false
	}
	return true
}

func (s *Server) waitReady(ctx context.Context, done chan struct{}) error {
	c := redis.NewClient(&redis.Options{Addr: s.addr, DialTimeout: time.Second, ReadTimeout: time.Second,
		MaxRetries: -1, DisableIdentity: true})
	defer c.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := c.Ping(ctx).Err()
		if err == nil {
			return nil
		}
		if done != nil {
			select {
			case <-done:
				return fmt.Errorf("redistest: redis-server exited at start on %s", s.addr)
			default:
			}
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return fmt.Errorf("redistest: redis-server on %s not ready: %w", s.addr, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// reapStale kills the servers of temporary folders whose owner process is
// gone (a test binary killed before it could stop them) and removes the
// folders. Only servers recorded in those folders' pid files are signalled.
func reapStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "redistest-*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "owner.pid"))
		if err != nil {
			continue
		}
		owner, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		if owner <= 0 || syscall.Kill(owner, 0) == nil {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(d, "redis.pid")); err == nil {
			if pid, _ := strconv.Atoi(strings.TrimSpace(string(b))); pid > 0 && isRedis(pid) {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		os.RemoveAll(d)
	}
}

// isRedis reports whether pid is a redis-server (a recycled pid is left alone).
func isRedis(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && bytes.Contains(b, []byte("redis-server"))
}
