// Package catalogcache reads catalog entries through Redis: GET
// /v1/products/{sku} is the busiest read of a flash sale, and the entry
// (name, price, currency, cap) changes only when an admin changes it.
//
// Entries live TTL (default 5 minutes) and are deleted when an admin
// changes the product or its stock, so a page never shows a price longer
// than the change takes to commit. The cache is only ever a read path: a
// checkout prices its cart from the database inside its own transaction,
// never from here, so no buyer is charged a cached price. Redis being down
// or slow only costs the database read it saved.
package catalogcache

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/checkout-dev/checkout/internal/catalog"
)

// DefaultTTL is how long an entry is served without asking the database.
const DefaultTTL = 5 * time.Minute

// Loader reads a product from the database (catalog.Store.Get).
type Loader func(ctx context.Context, sku string) (catalog.Product, error)

// Cache is a read-through cache of catalog entries. Safe for concurrent use.
type Cache struct {
	rdb    redis.UniversalClient
	load   Loader
	ttl    time.Duration
	prefix string
	log    *slog.Logger
}

// New returns a cache on rdb reading misses with load; ttl <= 0 means
// DefaultTTL. prefix namespaces the keys ("" in production).
func New(rdb redis.UniversalClient, load Loader, ttl time.Duration, prefix string, log *slog.Logger) *Cache {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if log == nil {
		log = slog.Default()
	}
	return &Cache{rdb: rdb, load: load, ttl: ttl, prefix: prefix, log: log.With("component", "catalogcache")}
}

func (c *Cache) key(sku string) string { return c.prefix + "catalog:" + sku }

// Get returns product sku from the cache, or from the database (caching
// it). The loader's errors (apperr NotFound for an unknown SKU) are
// returned as they are; Redis errors are logged and fall back to the
// database.
func (c *Cache) Get(ctx context.Context, sku string) (catalog.Product, error) {
	b, err := c.rdb.Get(ctx, c.key(sku)).Bytes()
	if err == nil {
		var p catalog.Product
		if json.Unmarshal(b, &p) == nil && p.SKU == sku {
			return p, nil
		}
	} else if !errors.Is(err, redis.Nil) {
		c.log.WarnContext(ctx, "catalog cache unavailable; reading the database", "sku", sku, "err", err)
	}
	p, err := c.load(ctx, sku)
	if err != nil {
		return p, err
	}
	if b, merr := json.Marshal(p); merr == nil {
		if err := c.rdb.Set(ctx, c.key(sku), b, c.ttl).Err(); err != nil {
			c.log.WarnContext(ctx, "catalog cache: could not store an entry", "sku", sku, "err", err)
		}
	}
	return p, nil
}

// Invalidate deletes sku's entry after a change committed. A failure is
// returned (the caller logs it): the entry then lives at most the TTL.
func (c *Cache) Invalidate(ctx context.Context, sku string) error {
	return c.rdb.Del(ctx, c.key(sku)).Err()
}
