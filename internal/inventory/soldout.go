package inventory

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/postgres"
)

// NotifyChannel is the PostgreSQL channel on which every change that raises
// the available units of a SKU notifies, with the SKU as payload (triggers of
// migration 00007 on inventory and inventory_buckets).
const NotifyChannel = "inventory_available"

// DefaultSoldOutMaxAge is the default of [Options.SoldOutMaxAge].
const DefaultSoldOutMaxAge = time.Second

// Bounds of the cache's memory.
const (
	maxSoldOutEntries = 100_000 // SKUs remembered; past it the cache is emptied
	recentReserves    = 16_384  // checkouts this process reserved, remembered for replays
)

// soldOutEntry says: when it was noted, the SKU had at most available units.
type soldOutEntry struct {
	available int
	at        time.Time
}

// soldOutCache remembers SKUs that a Reserve or Available found short, so
// that the next requests for more than that are refused in process. An entry
// is an upper bound of the available units: units only come back through a
// change that notifies (see NotifyChannel), which drops the entry; the max
// age bounds how long an entry lives when a notification is missed.
type soldOutCache struct {
	enabled atomic.Bool
	maxAge  time.Duration

	mu      sync.Mutex
	gen     uint64 // bumped on every invalidation: a read older than it must not be noted
	entries map[string]soldOutEntry
	recent  map[uuid.UUID]struct{}
	ring    []uuid.UUID
	next    int

	hits       atomic.Int64
	listening  atomic.Bool
	reconnects atomic.Int64
	started    atomic.Bool
}

func newSoldOutCache(maxAge time.Duration) *soldOutCache {
	if maxAge <= 0 {
		maxAge = DefaultSoldOutMaxAge
	}
	return &soldOutCache{maxAge: maxAge, entries: map[string]soldOutEntry{}, recent: map[uuid.UUID]struct{}{},
		ring: make([]uuid.UUID, recentReserves)}
}

// generation returns the current generation, to pass to note after the read.
func (c *soldOutCache) generation() uint64 {
	if !c.enabled.Load() {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// note remembers that sku had at most available units in a read started at
// generation gen; nothing is noted if an invalidation arrived since.
func (c *soldOutCache) note(gen uint64, sku string, available int) {
	if !c.enabled.Load() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.entries) >= maxSoldOutEntries {
		clear(c.entries)
	}
	c.entries[sku] = soldOutEntry{available: max(available, 0), at: time.Now()}
}

// noteErr notes the SKU of an OutOfStock error.
func (c *soldOutCache) noteErr(gen uint64, err error) {
	if ae := apperr.As(err); ae != nil && ae.Kind == apperr.OutOfStock {
		sku, _ := ae.Details["sku"].(string)
		available, _ := ae.Details["available"].(int)
		if sku != "" {
			c.note(gen, sku, available)
		}
	}
}

// lookup returns sku's fresh entry.
func (c *soldOutCache) lookup(sku string) (soldOutEntry, bool) {
	e, ok := c.entries[sku]
	if !ok {
		return e, false
	}
	if time.Since(e.at) >= c.maxAge {
		delete(c.entries, sku)
		return e, false
	}
	return e, true
}

// refuse returns the OutOfStock error for the first line (SKU order) that
// wants more than its SKU's fresh entry allows, or nil. A checkout that this
// process reserved recently is never refused here (its retry must replay).
func (c *soldOutCache) refuse(checkoutID uuid.UUID, sorted []Line) error {
	if !c.enabled.Load() {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) == 0 {
		return nil
	}
	if _, mine := c.recent[checkoutID]; mine {
		return nil
	}
	for _, l := range sorted {
		if e, ok := c.lookup(l.SKU); ok && l.Quantity > e.available {
			c.hits.Add(1)
			return outOfStock(l.SKU, l.Quantity, e.available)
		}
	}
	return nil
}

// known fills out with the fresh entries of skus and returns the SKUs
// without one.
func (c *soldOutCache) known(skus []string, out map[string]int) (missing []string) {
	if !c.enabled.Load() {
		return skus
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) == 0 {
		return skus
	}
	for _, sku := range skus {
		if e, ok := c.lookup(sku); ok {
			out[sku] = e.available
			c.hits.Add(1)
			continue
		}
		missing = append(missing, sku)
	}
	return missing
}

// reserved remembers that this process reserved for checkoutID.
func (c *soldOutCache) reserved(checkoutID uuid.UUID) {
	if !c.enabled.Load() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.recent[checkoutID]; ok {
		return
	}
	if old := c.ring[c.next]; old != uuid.Nil {
		delete(c.recent, old)
	}
	c.ring[c.next] = checkoutID
	c.recent[checkoutID] = struct{}{}
	c.next = (c.next + 1) % len(c.ring)
}

// invalidate drops sku's entry ("" drops every entry).
func (c *soldOutCache) invalidate(sku string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if sku == "" {
		clear(c.entries)
		return
	}
	delete(c.entries, sku)
}

// SoldOutStats describes the sold-out cache of a Store.
type SoldOutStats struct {
	Enabled    bool  `json:"enabled"`    // Options.SoldOutCache or StartSoldOutCache
	Listening  bool  `json:"listening"`  // the LISTEN connection is up
	Entries    int   `json:"entries"`    // SKUs currently remembered (fresh or not)
	Hits       int64 `json:"hits"`       // requests refused from the cache
	Reconnects int64 `json:"reconnects"` // times the listener reconnected (each cleared the cache)
}

// SoldOutStats reports the state of the sold-out cache.
func (s *Store) SoldOutStats() SoldOutStats {
	c := s.soldOut
	c.mu.Lock()
	n := len(c.entries)
	c.mu.Unlock()
	return SoldOutStats{Enabled: c.enabled.Load(), Listening: c.listening.Load(), Entries: n,
		Hits: c.hits.Load(), Reconnects: c.reconnects.Load()}
}

// StartSoldOutCache turns the sold-out cache on and keeps it correct while
// stock comes back: it opens a dedicated connection (not from the pool) that
// LISTENs on [NotifyChannel] and drops a SKU's entry as soon as a change that
// raises its availability commits. It returns once the first LISTEN is in
// place (or its error); the listener then runs until ctx ends. When the
// connection drops, the listener reconnects (postgres.Listen) and empties
// the cache on every reconnect; meanwhile entries still expire after
// Options.SoldOutMaxAge. Calling it again while it runs is a no-op.
//
// Use it in long-lived processes (make dev, the local stack). In Lambda
// behind RDS Proxy, LISTEN pins the proxy connection for the life of the
// execution environment: leave the cache off there, or use the max age alone
// (Options.SoldOutCache without StartSoldOutCache), accepting that a restock
// is seen up to SoldOutMaxAge late by that process.
func (s *Store) StartSoldOutCache(ctx context.Context) error {
	c := s.soldOut
	if !c.started.CompareAndSwap(false, true) {
		return nil
	}
	err := postgres.Listen(ctx, s.pool, NotifyChannel, postgres.Listener{
		Notify: c.invalidate,
		// Anything may have come back while nobody listened.
		Listening: func(first bool) {
			c.invalidate("")
			if !first {
				c.reconnects.Add(1)
			}
			c.listening.Store(true)
		},
		Lost: func(err error) {
			c.listening.Store(false)
			c.invalidate("")
			s.log.WarnContext(ctx, "inventory: sold-out cache: listener lost, reconnecting", "err", err)
		},
		Stopped: func() {
			c.listening.Store(false)
			c.started.Store(false)
		},
	})
	if err != nil {
		c.started.Store(false)
		return fmt.Errorf("inventory: sold-out cache: %w", err)
	}
	c.enabled.Store(true)
	return nil
}
