package checkout

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/internal/postgres"
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
	return WaitStats{Listening: h.listening.Load(), Waiters: n, Wakeups: h.wakeups.Load(), Reconnects: h.reconnects.Load()}
}

// StartStatusListener makes [Store.WaitFrom] answer on notification: it opens a
// dedicated connection (postgres.Listen) that LISTENs on [StatusChannel]
// and wakes the waits of a checkout when its id arrives. It returns once the
// first LISTEN is in place (or with the first attempt's error); the
// listener then runs until ctx ends, reconnecting after a lost connection
// (every wait reads its checkout again then). Meanwhile, and
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
	err := postgres.Listen(ctx, s.pool, StatusChannel, postgres.Listener{
		Notify: func(payload string) {
			if id, err := uuid.Parse(payload); err == nil {
				h.wake(id)
			}
		},
		// Whatever changed while nobody listened is unknown: every wait
		// reads its checkout again.
		Listening: func(first bool) {
			h.listening.Store(true)
			if !first {
				h.reconnects.Add(1)
			}
			h.wakeAll()
		},
		Lost: func(err error) {
			h.listening.Store(false)
			log.WarnContext(ctx, "checkout: status listener lost, reconnecting", "err", err)
		},
		Stopped: func() {
			h.listening.Store(false)
			h.started.Store(false)
		},
	})
	if err != nil {
		h.started.Store(false)
		return fmt.Errorf("checkout: status listener: %w", err)
	}
	return nil
}

// statusHub fans status notifications out to the waits subscribed to a
// checkout.
type statusHub struct {
	mu       sync.Mutex
	waiters  map[uuid.UUID]map[chan struct{}]bool
	fallback time.Duration // re-read interval of a wait woken by notifications

	started    atomic.Bool
	listening  atomic.Bool
	wakeups    atomic.Int64
	reconnects atomic.Int64
}

func newStatusHub() *statusHub {
	return &statusHub{waiters: map[uuid.UUID]map[chan struct{}]bool{}, fallback: listenFallback}
}

// subscribe registers a wait on id until stop: its channel receives when a
// notification names id or the listener (re)connects.
func (h *statusHub) subscribe(id uuid.UUID) (woken <-chan struct{}, stop func()) {
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
