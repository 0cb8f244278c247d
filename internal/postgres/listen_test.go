package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/postgres"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

// TestListen: notifications arrive in order after the first LISTEN; a lost
// connection is reported, LISTENed again (Listening(false)) and delivers
// again; the end of ctx stops it.
func TestListen(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got, listening, lost, stopped := make(chan string, 10), make(chan bool, 10), make(chan error, 10), make(chan struct{})
	err := postgres.Listen(ctx, pool, "test_channel", postgres.Listener{
		Notify:    func(p string) { got <- p },
		Listening: func(first bool) { listening <- first },
		Lost:      func(err error) { lost <- err },
		Stopped:   func() { close(stopped) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if first := <-listening; !first {
		t.Fatal("the first Listening call is not first")
	}
	notify := func(payload string) {
		t.Helper()
		if _, err := pool.Exec(ctx, `SELECT pg_notify('test_channel', $1)`, payload); err != nil {
			t.Fatal(err)
		}
	}
	notify("a")
	notify("b")
	for _, want := range []string{"a", "b"} {
		select {
		case p := <-got:
			if p != want {
				t.Fatalf("payload %q; want %q", p, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no notification %q", want)
		}
	}
	if _, err := pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND query ILIKE 'listen%'`); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lost:
	case <-time.After(10 * time.Second):
		t.Fatal("the lost connection was not reported")
	}
	select {
	case first := <-listening:
		if first {
			t.Fatal("the reconnect's Listening call says first")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no LISTEN again after the lost connection")
	}
	notify("c")
	select {
	case p := <-got:
		if p != "c" {
			t.Fatalf("payload after the reconnect %q; want c", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no notification after the reconnect")
	}
	cancel()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Stopped not called after ctx ended")
	}
}

// TestListenFirstAttemptFails: a database that cannot be reached is the
// caller's error, at once.
func TestListenFirstAttemptFails(t *testing.T) {
	t.Parallel()
	pool, err := pgxpool.New(context.Background(), "postgres://nobody@127.0.0.1:1/none?connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	err = postgres.Listen(context.Background(), pool, "test_channel", postgres.Listener{
		Notify: func(string) {}, Listening: func(bool) { t.Error("Listening called without a connection") },
	})
	if err == nil {
		t.Fatal("Listen on an unreachable database: no error")
	}
}
