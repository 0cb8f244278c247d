package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

var shared struct {
	once sync.Once
	srv  *Server
	err  error
}

// Main runs a test package's tests (call it from TestMain) and stops the
// package's shared server afterwards.
func Main(m *testing.M) {
	code := m.Run()
	if shared.srv != nil {
		shared.srv.Stop()
	}
	os.Exit(code)
}

// StopShared stops the package's shared server if it was started: for a
// TestMain that cannot call [Main] because another harness runs the tests
// (pgtest.AtExit(redistest.StopShared)).
func StopShared() {
	if shared.srv != nil {
		shared.srv.Stop()
	}
}

// Shared returns the test package's server, started on first use: REDIS_URL's
// server, else a throwaway redis-server, else (not with CI=true) the
// embedded fallback, which is then announced once on stderr and in tb's log.
func Shared(tb testing.TB) *Server {
	tb.Helper()
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		shared.srv, shared.err = Start(ctx, Options{})
		if shared.err == nil && shared.srv.Embedded() {
			fmt.Fprintln(os.Stderr, "redistest:", shared.srv.Notice())
		}
	})
	if shared.err != nil {
		tb.Fatal(shared.err)
	}
	if shared.srv.Embedded() {
		tb.Log("redistest: running on the embedded Redis (miniredis): no redis-server on PATH")
	}
	return shared.srv
}

var seq atomic.Int64

// NewClient returns a client of the package's shared server and a key prefix
// that no other test (of this or any other process) uses: code under test
// must put it in every key name (at the start, or at the start of a hash
// tag). The prefix is a valid hash-tag body (no
// braces) and ends in ':'. At the end of the test the prefix's keys are
// deleted and the client is closed.
func NewClient(tb testing.TB) (redis.UniversalClient, string) {
	tb.Helper()
	return clientOn(tb, Shared(tb))
}

// ClientOn is NewClient for a server of the test's own (see StartPrivate).
func ClientOn(tb testing.TB, s *Server) (redis.UniversalClient, string) {
	tb.Helper()
	return clientOn(tb, s)
}

func clientOn(tb testing.TB, s *Server) (redis.UniversalClient, string) {
	var r [4]byte
	rand.Read(r[:])
	prefix := fmt.Sprintf("t%d%s-%s:", seq.Add(1), hex.EncodeToString(r[:]), safeName(tb.Name()))
	c := s.Client()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		deletePrefix(ctx, c, prefix)
		c.Close()
	})
	return c, prefix
}

// deletePrefix removes the keys that contain prefix (at the start, or inside
// a hash tag: "{prefix…}:…"). Best effort: the test may have killed the
// server.
func deletePrefix(ctx context.Context, c redis.UniversalClient, prefix string) {
	iter := c.Scan(ctx, 0, "*"+prefix+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
		if len(keys) == 500 {
			c.Unlink(ctx, keys...)
			keys = keys[:0]
		}
	}
	if len(keys) > 0 {
		c.Unlink(ctx, keys...)
	}
}

// safeName shortens a test name to characters that need no quoting in a key.
func safeName(name string) string {
	var b strings.Builder
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
		if b.Len() >= 40 {
			break
		}
	}
	return b.String()
}

// StartPrivate starts a server of the test's own (never REDIS_URL's), for
// tests that kill and restart it or need a cluster; it is stopped at the end
// of the test. With no redis-server on PATH it is the embedded fallback (not
// with CI=true), whose Kill closes its listener; a Cluster test is skipped
// then (and fails with CI=true).
func StartPrivate(tb testing.TB, opts Options) *Server {
	tb.Helper()
	opts.Private = true
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Start(ctx, opts)
	if errors.Is(err, ErrNoRedis) && opts.Cluster && os.Getenv("CI") != "true" {
		tb.Skip("redistest: a Redis Cluster needs redis-server on PATH")
	}
	if err != nil {
		tb.Fatal(err)
	}
	if s.Embedded() {
		tb.Log("redistest: private server is the embedded Redis (miniredis): no redis-server on PATH")
	}
	tb.Cleanup(func() { s.Stop() })
	return s
}
