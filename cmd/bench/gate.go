package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/checkout-dev/checkout/internal/catalog"
	"github.com/checkout-dev/checkout/internal/catalogcache"
	"github.com/checkout-dev/checkout/internal/inventory"
	"github.com/checkout-dev/checkout/internal/redisconn"
	"github.com/checkout-dev/checkout/internal/redistest"
	"github.com/checkout-dev/checkout/internal/stockgate"
)

// suffixKill: Redis is killed (SIGKILL) when half of the stock is sold, and
// restarted after the measurement (gated variants only).
const suffixKill = "-kill"

// gateTimeout bounds one gate call in the benchmark, as the Lambdas'
// redisconn defaults do (500 ms per network operation).
const gateTimeout = 500 * time.Millisecond

// benchRedis is the benchmark's own Redis: a throwaway redis-server from
// PATH (or the embedded fallback, announced), never REDIS_URL's, because
// the kill variant kills it.
type benchRedis struct {
	srv *redistest.Server
	rdb redis.UniversalClient
}

func needsRedis(variants []string) bool {
	for _, v := range variants {
		if strings.HasPrefix(v, string(inventory.Gated)) {
			return true
		}
	}
	return false
}

// quietRedisLog drops go-redis's own log lines (one per failed dial while
// the kill variant's Redis is down; the gate reports the failure itself).
type quietRedisLog struct{}

func (quietRedisLog) Printf(context.Context, string, ...any) {}

func startBenchRedis(ctx context.Context, progress func(string)) (*benchRedis, error) {
	redis.SetLogger(quietRedisLog{})
	srv, err := redistest.Start(ctx, redistest.Options{Private: true, NoAppendOnly: true})
	if err != nil {
		return nil, fmt.Errorf("redis for the gated variants: %w", err)
	}
	if srv.Embedded() && progress != nil {
		progress("bench: " + srv.Notice())
	}
	rdb, err := redisconn.New(redisconn.Config{URL: srv.URL(), PoolSize: 256})
	if err != nil {
		_ = srv.Stop()
		return nil, err
	}
	return &benchRedis{srv: srv, rdb: rdb}, nil
}

func (r *benchRedis) Close() {
	if r == nil {
		return
	}
	_ = r.rdb.Close()
	_ = r.srv.Stop()
}

// gateFor returns a gate of its own (namespace) for one measurement.
func (r *benchRedis) gateFor(sku string) (*stockgate.Gate, error) {
	if r == nil {
		return nil, fmt.Errorf("gated variants need Redis")
	}
	return stockgate.New(r.rdb, stockgate.Options{Namespace: "bench-" + sku, Timeout: gateTimeout})
}

// killer kills Redis once when the sale passes half of the stock, and
// times the sale before and after.
type killer struct {
	r        *benchRedis
	half     int64
	sold     atomic.Int64
	start    time.Time
	once     sync.Once
	killedAt atomic.Int64 // ns since start
	soldAt   atomic.Int64 // successes when killed
	lastOK   atomic.Int64 // ns since start of the last success
	err      error
}

func newKiller(r *benchRedis, stock int) *killer {
	return &killer{r: r, half: int64(stock / 2), start: time.Now()}
}

// success notes one reservation; the one that reaches half the stock kills Redis.
func (k *killer) success() {
	n := k.sold.Add(1)
	k.lastOK.Store(int64(time.Since(k.start)))
	if n == k.half {
		k.once.Do(func() {
			k.soldAt.Store(n)
			k.killedAt.Store(int64(time.Since(k.start)))
			k.err = k.r.srv.Kill()
		})
	}
}

// rates: reservations/s before and after the kill.
func (k *killer) rates() (before, after float64) {
	at, last := time.Duration(k.killedAt.Load()), time.Duration(k.lastOK.Load())
	n, total := k.soldAt.Load(), k.sold.Load()
	if at > 0 {
		before = float64(n) / at.Seconds()
	}
	if last > at && at > 0 {
		after = float64(total-n) / (last - at).Seconds()
	}
	return before, after
}

// restart brings Redis back (empty) for the next measurement.
func (k *killer) restart(ctx context.Context) error {
	if k.killedAt.Load() == 0 {
		return nil
	}
	return k.r.srv.Restart(ctx)
}

// CatalogSample is catalog reads/s through the database or the Redis cache.
type CatalogSample struct {
	Source     string  `json:"source"` // "database" or "redis-cache"
	Clients    int     `json:"clients"`
	ReadsPerS  float64 `json:"reads_per_sec"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	Errors     int     `json:"errors"`
	DurationMS int64   `json:"duration_ms"`
}

// measureCatalog reads one product for d with c clients, from the database
// (catalog.Store.Get's query) and through the read-through cache.
func measureCatalog(ctx context.Context, pool *pgxpool.Pool, r *benchRedis, c int, d time.Duration) ([]CatalogSample, error) {
	sku := "BENCH-CATALOG"
	if _, err := pool.Exec(ctx, `INSERT INTO products (sku, name, amount, currency) VALUES ($1, $1, 1999, 'USD') ON CONFLICT DO NOTHING`, sku); err != nil {
		return nil, err
	}
	core := catalog.NewStore(pool)
	cache := catalogcache.New(r.rdb, core.Get, 5*time.Minute, "bench-catalog:", quietLogger)
	var out []CatalogSample
	for _, src := range []string{"database", "redis-cache"} {
		get := core.Get
		if src == "redis-cache" {
			get = cache.Get
			if _, err := get(ctx, sku); err != nil { // warm
				return nil, err
			}
		}
		var n, errs atomic.Int64
		var mu sync.Mutex
		var lat []time.Duration
		stop := time.Now().Add(d)
		start := time.Now()
		var wg sync.WaitGroup
		for range c {
			wg.Go(func() {
				var mine []time.Duration
				for time.Now().Before(stop) && ctx.Err() == nil {
					t0 := time.Now()
					if _, err := get(ctx, sku); err != nil {
						errs.Add(1)
						continue
					}
					mine = append(mine, time.Since(t0))
					n.Add(1)
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
		}
		wg.Wait()
		el := time.Since(start)
		out = append(out, CatalogSample{Source: src, Clients: c, ReadsPerS: float64(n.Load()) / el.Seconds(),
			P50ms: pct(lat, 50), P99ms: pct(lat, 99), Errors: int(errs.Load()), DurationMS: el.Milliseconds()})
	}
	return out, nil
}
