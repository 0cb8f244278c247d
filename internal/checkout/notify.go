package checkout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgxlisten"
)

// StatusChannel is the PostgreSQL notification channel on which a checkout
// that reaches a status a long poll waits for (final, or requires_action)
// announces its id (trigger checkouts_status_notify, migration 00016).
const StatusChannel = "checkout_status"

// Long-poll timing. Without a status listener WaitFrom polls from
// pollFirst, doubling up to pollMax. With one, a notification wakes it at
// once and it reads the checkout again every listenFallback in case one was
// missed (a notification is lost while the listener reconnects; the
// reconnect wakes every waiter too).
const (
	pollFirst      = 20 * time.Millisecond
	pollMax        = 250 * time.Millisecond
	listenFallback = time.Second
)

// WaitStats describe the status listener of a Store.
type WaitStats struct {
	Listening  bool  `json:"listening"`  // LISTEN is in place: waits are woken by notifications
	Waiters    int   `json:"waiters"`    // long polls subscribed right now
	Wakeups    int64 `json:"wakeups"`    // notifications that woke at least one waiter
	Reconnects int64 `json:"reconnects"` // LISTENs after the first
}

// WaitStats returns the status listener's counters.
func (s *Store) WaitStats() WaitStats {
	h := s.status
	h.mu.Lock()
	n := 0
	for _, subs := range h.waiters {
		n += len(subs)
	}
	h.mu.Unlock()
	return WaitStats{Listening: h.listening.Load(), Waiters: n, Wakeups: h.wakeups.Load(), Reconnects: max(h.listens.Load()-1, 0)}
}

// StartStatusListener makes [Store.WaitFrom] answer on notification: it opens a
// dedicated connection (not from the pool) that LISTENs on [StatusChannel]
// and wakes the waits of a checkout when its id arrives. It returns once the
// first LISTEN is in place (or with ctx's error, or after 10 s with an
// error); the listener then runs until ctx ends, reconnecting after a lost
// connection (every wait reads its checkout again then). Meanwhile, and
// when it was never started, WaitFrom polls. Calling it again while it runs is
// a no-op.
//
// Use it in long-lived processes (make dev, the local stack). In Lambda
// behind RDS Proxy, LISTEN pins the proxy connection for the life of the
// execution environment: the API function there polls.
func (s *Store) StartStatusListener(ctx context.Context, log *slog.Logger) error {
	h := s.status
	if !h.started.CompareAndSwap(false, true) {
		return nil
	}
	if log == nil {
		log = slog.Default()
	}
	cfg := s.pool.Config().ConnConfig
	l := &pgxlisten.Listener{
		Connect: func(ctx context.Context) (*pgx.Conn, error) { return pgx.ConnectConfig(ctx, cfg.Copy()) },
		LogError: func(ctx context.Context, err error) {
			h.listening.Store(false)
			if ctx.Err() == nil {
				log.WarnContext(ctx, "checkout: status listener", "err", err)
			}
		},
		ReconnectDelay: time.Second,
	}
	l.Handle(StatusChannel, h)
	ready := h.ready()
	go func() {
		defer h.started.Store(false)
		defer h.listening.Store(false)
		_ = l.Listen(ctx) // returns only when ctx ends
	}()
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return errors.New("checkout: status listener: no LISTEN after 10 s (is the database reachable?)")
	}
}

// statusHub fans status notifications out to the waits subscribed to a
// checkout. It is a pgxlisten handler.
type statusHub struct {
	mu       sync.Mutex
	waiters  map[uuid.UUID]map[chan struct{}]bool
	firstUp  chan struct{} // closed at the first LISTEN
	fallback time.Duration // re-read interval of a wait woken by notifications

	started   atomic.Bool
	listening atomic.Bool
	wakeups   atomic.Int64
	listens   atomic.Int64
}

func newStatusHub() *statusHub {
	return &statusHub{waiters: map[uuid.UUID]map[chan struct{}]bool{}, firstUp: make(chan struct{}), fallback: listenFallback}
}

func (h *statusHub) ready() <-chan struct{} { return h.firstUp }

// subscribe registers a wait on id. It returns a nil channel (and a no-op
// stop) while no LISTEN is in place: the caller polls then.
func (h *statusHub) subscribe(id uuid.UUID) (<-chan struct{}, func()) {
	if !h.listening.Load() {
		return nil, func() {}
	}
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	if h.waiters[id] == nil {
		h.waiters[id] = map[chan struct{}]bool{}
	}
	h.waiters[id][ch] = true
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.waiters[id], ch)
		if len(h.waiters[id]) == 0 {
			delete(h.waiters, id)
		}
		h.mu.Unlock()
	}
}

// wake wakes the waits on id.
func (h *statusHub) wake(id uuid.UUID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.waiters[id] {
		notify(ch)
	}
	if len(h.waiters[id]) > 0 {
		h.wakeups.Add(1)
	}
}

// wakeAll wakes every wait.
func (h *statusHub) wakeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, subs := range h.waiters {
		for ch := range subs {
			notify(ch)
		}
	}
}

// notify wakes a wait's channel unless it is already woken.
func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// HandleNotification wakes the waits on the checkout id in the payload.
func (h *statusHub) HandleNotification(_ context.Context, n *pgconn.Notification, _ *pgx.Conn) error {
	id, err := uuid.Parse(n.Payload)
	if err != nil {
		return fmt.Errorf("payload %q is not a checkout id", n.Payload)
	}
	h.wake(id)
	return nil
}

// HandleBacklog runs right after every LISTEN: whatever changed while
// nobody listened is unknown, so every wait reads its checkout again.
func (h *statusHub) HandleBacklog(context.Context, string, *pgx.Conn) error {
	h.listening.Store(true)
	if h.listens.Add(1) == 1 {
		close(h.firstUp)
	}
	h.wakeAll()
	return nil
}
