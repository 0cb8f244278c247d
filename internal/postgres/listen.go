package postgres

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgxlisten"
)

// ListenReconnectDelay is how long [Listen] waits before it connects again
// after losing its connection.
const ListenReconnectDelay = 500 * time.Millisecond

// Listener is what [Listen] calls. Every callback runs on the listener's
// goroutine, one at a time.
type Listener struct {
	// Notify receives each notification's payload, in commit order.
	Notify func(payload string)
	// Listening runs after every LISTEN (first is true the first time).
	// What was notified while nobody listened is unknown, so this is
	// where a caller resynchronises.
	Listening func(first bool)
	// Lost runs when the connection is lost or a reconnect fails; Listen
	// tries again after ListenReconnectDelay. Optional.
	Lost func(err error)
	// Stopped runs once when the listener ends (ctx ended). Optional.
	Stopped func()
}

// Listen LISTENs on channel over a dedicated connection made with pool's
// configuration (a LISTEN holds its connection, so not one of the pool's)
// and calls l until ctx ends, connecting again after a lost connection
// (jackc/pgxlisten). It returns once the first LISTEN is in place, or with
// the first attempt's error, after which nothing keeps running.
//
// In Lambda behind RDS Proxy a LISTEN pins the proxy connection for the
// life of the execution environment: use it in long-lived processes.
func Listen(ctx context.Context, pool *pgxpool.Pool, channel string, l Listener) error {
	cfg := pool.Config().ConnConfig
	lctx, cancel := context.WithCancel(ctx)
	first := make(chan error, 1)
	var up atomic.Bool
	pl := &pgxlisten.Listener{
		Connect: func(ctx context.Context) (*pgx.Conn, error) { return pgx.ConnectConfig(ctx, cfg.Copy()) },
		LogError: func(ctx context.Context, err error) {
			if !up.Load() {
				cancel() // the first attempt failed: report it, keep nothing running
				select {
				case first <- err:
				default:
				}
				return
			}
			if ctx.Err() == nil && l.Lost != nil {
				l.Lost(err)
			}
		},
		ReconnectDelay: ListenReconnectDelay,
	}
	pl.Handle(channel, listenHandler{l: l, up: &up, first: first})
	go func() {
		defer cancel()
		_ = pl.Listen(lctx) // returns when lctx ends
		if l.Stopped != nil {
			l.Stopped()
		}
	}()
	select {
	case err := <-first:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// listenHandler adapts a Listener to pgxlisten.
type listenHandler struct {
	l     Listener
	up    *atomic.Bool
	first chan<- error
}

func (h listenHandler) HandleNotification(_ context.Context, n *pgconn.Notification, _ *pgx.Conn) error {
	h.l.Notify(n.Payload)
	return nil
}

// HandleBacklog runs right after every LISTEN.
func (h listenHandler) HandleBacklog(context.Context, string, *pgx.Conn) error {
	isFirst := h.up.CompareAndSwap(false, true)
	h.l.Listening(isFirst)
	if isFirst {
		h.first <- nil
	}
	return nil
}
