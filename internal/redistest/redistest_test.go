package redistest_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/checkout-dev/checkout/internal/redisconn"
	"github.com/checkout-dev/checkout/internal/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

func TestNewClientIsolatesTests(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c1, p1 := redistest.NewClient(t)
	c2, p2 := redistest.NewClient(t)
	if p1 == p2 {
		t.Fatalf("two tests got the same prefix %q", p1)
	}
	if err := c1.Set(ctx, p1+"k", "one", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, _ := c2.Exists(ctx, p2+"k").Result(); n != 0 {
		t.Fatalf("key of another namespace visible")
	}
}

// A test kills its own server with SIGKILL: calls fail fast with an error
// that redisconn classifies as unavailable, and after a restart the data
// acknowledged before the kill is back (append-only file).
func TestKillAndRestartKeepsData(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := redistest.StartPrivate(t, redistest.Options{})
	c, p := redistest.ClientOn(t, s)
	if err := c.Set(ctx, p+"k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	pid := s.PID()
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	if !s.Embedded() && (pid == 0 || s.PID() != 0) {
		t.Fatalf("pid before kill %d, after %d", pid, s.PID())
	}
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	start := time.Now()
	err := c.Get(cctx, p+"k").Err()
	if !redisconn.IsUnavailable(err) {
		t.Fatalf("GET on a killed server: %v, want an unavailable error", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("GET on a killed server took %s", d)
	}
	if err := s.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := waitGet(ctx, c, p+"k")
	if err != nil || got != "v" {
		t.Fatalf("after restart: %q, %v; want the value written before the kill", got, err)
	}
}

func TestRestartWithoutAppendOnlyIsEmpty(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := redistest.StartPrivate(t, redistest.Options{NoAppendOnly: true})
	c, p := redistest.ClientOn(t, s)
	if err := c.Set(ctx, p+"k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := s.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := waitGet(ctx, c, p+"k"); !errors.Is(err, redisNil) {
		t.Fatalf("after restart without AOF: %v, want the key gone", err)
	}
}

func TestDataDirServerIsAdoptedAfterTheOwnerDies(t *testing.T) {
	t.Parallel()
	if !onPath() {
		t.Skip("no redis-server on PATH")
	}
	ctx := context.Background()
	dir := t.TempDir()
	s1, err := redistest.Start(ctx, redistest.Options{DataDir: dir, Private: true})
	if err != nil {
		t.Fatal(err)
	}
	// A second Start on the same folder (a restarted `make dev` whose
	// predecessor was killed hard) adopts the running server.
	s2, err := redistest.Start(ctx, redistest.Options{DataDir: dir, Private: true})
	if err != nil {
		s1.Stop()
		t.Fatal(err)
	}
	if s2.PID() != s1.PID() || s2.Addr() != s1.Addr() {
		t.Errorf("second Start: pid %d addr %s; want the running %d at %s", s2.PID(), s2.Addr(), s1.PID(), s1.Addr())
	}
	if err := s2.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("data dir removed: %v", err)
	}
}

// Without redis-server on PATH, Start falls back to the embedded Redis and
// says so; with CI=true it refuses.
func TestEmbeddedFallback(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("REDIS_URL", "")
	t.Setenv("CI", "")
	ctx := context.Background()
	s, err := redistest.Start(ctx, redistest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if !s.Embedded() || s.Notice() == "" {
		t.Fatalf("kind %v, notice %q; want the embedded fallback with a notice", s.Kind(), s.Notice())
	}
	c := s.Client()
	defer c.Close()
	if v, err := c.Eval(ctx, "return redis.call('INCRBY', KEYS[1], ARGV[1])", []string{"k"}, 5).Int(); err != nil || v != 5 {
		t.Fatalf("Lua on the embedded Redis: %v, %v", v, err)
	}
	t.Setenv("CI", "true")
	if _, err := redistest.Start(ctx, redistest.Options{}); !errors.Is(err, redistest.ErrNoRedis) {
		t.Fatalf("CI=true without redis-server: %v, want ErrNoRedis", err)
	}
}

// A one-node cluster comes up owning every slot, speaks the cluster
// protocol, and keeps its slots and data across a SIGKILL and restart.
func TestClusterServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := redistest.StartPrivate(t, redistest.Options{Cluster: true})
	if !s.Cluster() {
		t.Fatal("not a cluster")
	}
	c, p := redistest.ClientOn(t, s)
	if err := c.Set(ctx, p+"k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := s.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := waitGet(ctx, c, p+"k"); err != nil || got != "v" {
		t.Fatalf("after restart: %q %v", got, err)
	}
}
