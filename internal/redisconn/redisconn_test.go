package redisconn_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/redisconn"
)

func TestNewRejectsBadURLs(t *testing.T) {
	for _, c := range []redisconn.Config{
		{},
		{URL: "http://127.0.0.1:6379"},
		{URL: "redis://127.0.0.1:6379/3", Cluster: true},
		{URL: "127.0.0.1:6379", Cluster: true},
	} {
		if _, err := redisconn.New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
	for _, c := range []redisconn.Config{
		{URL: "redis://127.0.0.1:6379/0"},
		{URL: "rediss://user:pw@cache.example:6379", Cluster: true},
	} {
		cl, err := redisconn.New(c)
		if err != nil {
			t.Errorf("New(%+v): %v", c, err)
			continue
		}
		cl.Close()
	}
}

// A server that is not there: the error comes at once (connection refused),
// is classified as unavailable, and Wrap gives it the Unavailable kind.
func TestRefusedIsUnavailable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c, err := redisconn.New(redisconn.Config{URL: "redis://" + addr})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	err = c.Ping(context.Background()).Err()
	if !redisconn.IsUnavailable(err) {
		t.Fatalf("ping of a closed port: %v, not unavailable", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %s", d)
	}
	w := redisconn.Wrap(err, "ping")
	if !apperr.Is(w, apperr.Unavailable) || !errors.Is(w, redisconn.ErrUnavailable) {
		t.Fatalf("Wrap: %v (kind %v)", w, apperr.KindOf(w))
	}
}

// A server that accepts but never answers: the read timeout ends the call.
func TestSilentServerTimesOut(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			defer conn.Close() // hold it open, say nothing
		}
	}()
	c, err := redisconn.New(redisconn.Config{URL: "redis://" + l.Addr().String(), ReadTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	err = c.Ping(context.Background()).Err()
	if !redisconn.IsUnavailable(err) {
		t.Fatalf("ping of a silent server: %v, not unavailable", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %s", d)
	}
}

func TestRepliesAreNotUnavailable(t *testing.T) {
	for _, err := range []error{redis.Nil, errors.New("ERR wrong number of arguments"), context.Canceled} {
		if redisconn.IsUnavailable(err) {
			t.Errorf("%v classified as unavailable", err)
		}
	}
	if redisconn.Wrap(nil, "x") != nil {
		t.Error("Wrap(nil) != nil")
	}
}
