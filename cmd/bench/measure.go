package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/inventory"
)

// The baselines measured beside the strategies, on a scratch table with one
// row, with the same clients in the same run.
const (
	RawUpdate    = "raw-update"     // UPDATE bench_hot SET qty = qty - 1 WHERE id = $1 AND qty > 0 (autocommit)
	RawForUpdate = "raw-for-update" // the seed's pattern: BEGIN; SELECT qty ... FOR UPDATE; UPDATE; COMMIT
)

// Config is one benchmark run.
type Config struct {
	Variants    []string      // strategy names and/or the raw baselines
	Concurrency []int         // clients per measurement
	Runs        int           // repetitions; medians are reported
	Stock       int           // units per measurement at 8 clients or more (fewer clients: scaled down, at least 50)
	SoldOut     time.Duration // how long the sold-out phase runs
	Buckets     int           // buckets of the hot SKU for the bucketed and gated strategies
	Progress    func(string)  `json:"-"` // optional progress lines
	redis       *benchRedis   // the gated variants' Redis
}

// Sample is one measurement: one variant, one concurrency, one run.
type Sample struct {
	Variant     string  `json:"variant"`
	Clients     int     `json:"clients"`
	Run         int     `json:"run"`
	Stock       int     `json:"stock"`
	Successes   int     `json:"successes"`
	FinalSold   int     `json:"final_sold"` // reserved (strategies) or stock - qty (raw) read after the sale
	SalePerSec  float64 `json:"sale_per_sec"`
	P50ms       float64 `json:"p50_ms"`
	P95ms       float64 `json:"p95_ms"`
	P99ms       float64 `json:"p99_ms"`
	Rejects     int     `json:"sold_out_rejections"`
	RejectPerS  float64 `json:"sold_out_per_sec"`
	RejectP50ms float64 `json:"sold_out_p50_ms"`
	Errors      int     `json:"errors"` // anything but success or out of stock
	Oversell    int     `json:"oversell"`
	Undersell   int     `json:"undersell"`
	CacheHits   int64   `json:"sold_out_cache_hits"` // refusals answered from the store's sold-out cache
	Batches     int64   `json:"combined_batches"`    // combined Reserve transactions (2+ checkouts each)
	Batched     int64   `json:"combined_entries"`    // Reserve calls they carried
	// Gated variants: how the reserves went (inventory.GateStats), and for
	// -kill the sale's rate before and after Redis was killed.
	Gate             *inventory.GateStats `json:"gate,omitempty"`
	BeforeKillPerSec float64              `json:"before_kill_per_sec,omitempty"`
	AfterKillPerSec  float64              `json:"after_kill_per_sec,omitempty"`
}

// Measure runs every (run, concurrency, variant) on pool, whose database has
// every migration applied, and returns the samples in the order taken.
func Measure(ctx context.Context, pool *pgxpool.Pool, cfg Config) ([]Sample, error) {
	if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS bench_hot (id integer PRIMARY KEY, qty integer NOT NULL CHECK (qty >= 0))`); err != nil {
		return nil, fmt.Errorf("scratch table: %w", err)
	}
	var out []Sample
	seq := 0
	for run := 1; run <= cfg.Runs; run++ {
		for _, c := range cfg.Concurrency {
			for _, v := range cfg.Variants {
				seq++
				stock := max(cfg.Stock*min(c, 8)/8, 50)
				var s Sample
				var err error
				switch v {
				case RawUpdate, RawForUpdate:
					s, err = measureRaw(ctx, pool, v, seq, c, stock, cfg.SoldOut)
				default:
					s, err = measureStore(ctx, pool, v, seq, c, stock, cfg)
				}
				if err != nil {
					return out, fmt.Errorf("%s at %d clients, run %d: %w", v, c, run, err)
				}
				s.Run = run
				out = append(out, s)
				if cfg.Progress != nil {
					cfg.Progress(fmt.Sprintf("run %d  %-18s c=%-3d  %7.0f reservations/s  p99 %6.1f ms  %8.0f sold-out/s  sold %d/%d  errors %d  batches %d (%d calls)",
						run, v, c, s.SalePerSec, s.P99ms, s.RejectPerS, s.Successes, s.Stock, s.Errors, s.Batches, s.Batched))
				}
			}
		}
	}
	return out, nil
}

// outcome of one attempt.
type outcome int

const (
	ok outcome = iota
	soldOut
	failed
)

// attemptFunc makes one purchase attempt with buyer id (clients own their ids).
type attemptFunc func(ctx context.Context, id uuid.UUID) (outcome, error)

// sale runs the two phases with c clients: first every client buys until it
// is told "out of stock" (each success uses a new buyer), then, once every
// client has stopped, every client keeps asking for soldOut long.
func sale(ctx context.Context, c int, ids func() uuid.UUID, attempt attemptFunc, soldOutFor time.Duration) (s Sample, firstErr error) {
	var mu sync.Mutex
	var lat, rejLat []time.Duration
	var successes, errs atomic.Int64
	var lastSuccess atomic.Int64
	record := func(err error) {
		errs.Add(1)
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	leftover := make([]uuid.UUID, c)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range c {
		wg.Go(func() {
			var mine []time.Duration
			consecutiveErrs := 0
			for ctx.Err() == nil {
				id := ids()
				t0 := time.Now()
				o, err := attempt(ctx, id)
				d := time.Since(t0)
				switch o {
				case ok:
					successes.Add(1)
					mine = append(mine, d)
					lastSuccess.Store(int64(time.Since(start)))
					consecutiveErrs = 0
					continue
				case soldOut:
					leftover[i] = id // never reserved: reusable for rejections
				default:
					record(err)
					if consecutiveErrs++; consecutiveErrs < 20 {
						continue
					}
				}
				break
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Duration(lastSuccess.Load())
	s.Clients = c
	s.Successes = int(successes.Load())
	if elapsed > 0 {
		s.SalePerSec = float64(s.Successes) / elapsed.Seconds()
	}
	s.P50ms, s.P95ms, s.P99ms = pct(lat, 50), pct(lat, 95), pct(lat, 99)

	// Sold-out phase: the same clients, each retrying with a buyer that has
	// no reservation (a rejection leaves nothing behind, so it can be reused).
	var rejects atomic.Int64
	stop := time.Now().Add(soldOutFor)
	rStart := time.Now()
	for i := range c {
		wg.Go(func() {
			id := leftover[i]
			if id == uuid.Nil {
				id = ids()
			}
			var mine []time.Duration
			for ctx.Err() == nil && time.Now().Before(stop) {
				t0 := time.Now()
				o, err := attempt(ctx, id)
				switch o {
				case soldOut:
					rejects.Add(1)
					mine = append(mine, time.Since(t0))
				case ok:
					successes.Add(1) // counted as oversell below
					id = ids()
				default:
					record(err)
				}
			}
			mu.Lock()
			rejLat = append(rejLat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	s.Successes = int(successes.Load())
	s.Rejects = int(rejects.Load())
	s.RejectPerS = float64(s.Rejects) / time.Since(rStart).Seconds()
	s.RejectP50ms = pct(rejLat, 50)
	s.Errors = int(errs.Load())
	return s, firstErr
}

func pct(ds []time.Duration, p int) float64 {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := (len(ds)*p + 99) / 100
	i = min(max(i-1, 0), len(ds)-1)
	return float64(ds[i].Microseconds()) / 1000
}

// account fills in the oversell/undersell checks: demand always exceeds stock
// here, so every unit must be sold, once.
func account(s *Sample) {
	s.Oversell = max(s.Successes-s.Stock, s.FinalSold-s.Stock, 0)
	s.Undersell = max(s.Stock-s.Successes, s.Stock-s.FinalSold, 0)
	if s.Successes != s.FinalSold && s.Oversell == 0 && s.Undersell == 0 {
		s.Oversell = abs(s.Successes - s.FinalSold) // the counts disagree: flag it
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// Variant suffixes of a strategy name.
const (
	suffixGo      = "-go"      // Options.ClientSideReserve: several statements from Go (before migration 00007); no cache
	suffixNoCache = "-nocache" // the sold-out cache off
	suffixSingle  = "-single"  // Options.NoCombine: one transaction per Reserve (server-side function), no cache
)

// storeVariant parses "strategy[-go|-single|-nocache]", and
// "gated-single-kill".
func storeVariant(v string) (inventory.Options, bool, error) {
	opts := inventory.Options{Actor: "bench", Logger: quietLogger}
	cache := true
	name := v
	kill := strings.HasSuffix(v, suffixKill)
	if kill {
		name = strings.TrimSuffix(v, suffixKill)
	}
	switch v := name; {
	case strings.HasSuffix(v, suffixGo):
		name, opts.ClientSideReserve, cache = strings.TrimSuffix(v, suffixGo), true, false
	case strings.HasSuffix(v, suffixNoCache):
		name, cache = strings.TrimSuffix(v, suffixNoCache), false
	case strings.HasSuffix(v, suffixSingle):
		name, opts.NoCombine, cache = strings.TrimSuffix(v, suffixSingle), true, false
	}
	st, err := inventory.ParseStrategy(name)
	if err != nil || name == "" || (kill && st != inventory.Gated) {
		return opts, false, fmt.Errorf("unknown variant %q", v)
	}
	opts.Strategy = st
	opts.SoldOutCache = cache // marker: measureStore starts the listener
	return opts, kill, nil
}

// measureStore: one hot SKU, one checkout row per buyer, inventory.Store.Reserve.
// Unless the variant says otherwise, the store runs the sold-out cache with
// its LISTEN connection (StartSoldOutCache), as a long-lived process would.
func measureStore(ctx context.Context, pool *pgxpool.Pool, variant string, seq, c, stock int, cfg Config) (Sample, error) {
	opts, kill, err := storeVariant(variant)
	if err != nil {
		return Sample{}, err
	}
	strategy := opts.Strategy
	sku := fmt.Sprintf("BENCH-%d-%s", seq, uuid.NewString()[:8])
	if strategy == inventory.Gated {
		if opts.Gate, err = cfg.redis.gateFor(sku); err != nil {
			return Sample{}, err
		}
		opts.GateBuckets = cfg.Buckets
	}
	if _, err := pool.Exec(ctx, `INSERT INTO products (sku, name, amount, currency) VALUES ($1, $1, 1999, 'USD')`, sku); err != nil {
		return Sample{}, fmt.Errorf("product: %w", err)
	}
	listen := opts.SoldOutCache
	opts.SoldOutCache = false
	store := inventory.New(pool, opts)
	if listen {
		lctx, stop := context.WithCancel(ctx)
		defer stop()
		if err := store.StartSoldOutCache(lctx); err != nil {
			return Sample{}, err
		}
	}
	if _, err := store.SetOnHand(ctx, sku, stock); err != nil {
		return Sample{}, err
	}
	if strategy == inventory.Bucketed && cfg.Buckets > 1 {
		if _, err := store.SetBuckets(ctx, sku, cfg.Buckets); err != nil {
			return Sample{}, err
		}
	}
	var k *killer
	if strategy == inventory.Gated {
		if _, err := store.ArmGate(ctx, sku); err != nil { // splits it over cfg.Buckets buckets
			return Sample{}, err
		}
		if kill {
			k = newKiller(cfg.redis, stock)
		}
	}
	// Buyers: every unit plus one rejected buyer per client, and spares.
	ids, err := insertCheckouts(ctx, pool, stock+2*c+16)
	if err != nil {
		return Sample{}, err
	}
	var next atomic.Int64
	nextID := func() uuid.UUID {
		i := next.Add(1) - 1
		if int(i) < len(ids) {
			return ids[i]
		}
		return uuid.New() // no row: Reserve answers checkout_not_found, counted as an error
	}
	expires := time.Now().Add(time.Hour)
	cart := []inventory.Line{{SKU: sku, Quantity: 1}}
	attempt := func(ctx context.Context, id uuid.UUID) (outcome, error) {
		_, err := store.Reserve(ctx, id, cart, expires)
		switch {
		case err == nil:
			if k != nil {
				k.success()
			}
			return ok, nil
		case apperr.Is(err, apperr.OutOfStock):
			return soldOut, nil
		}
		return failed, err
	}
	if k != nil {
		k.start = time.Now()
	}
	s, firstErr := sale(ctx, c, nextID, attempt, cfg.SoldOut)
	s.Variant, s.Stock = variant, stock
	if strategy == inventory.Gated {
		gs := store.GateStats()
		s.Gate = &gs
	}
	if k != nil {
		s.BeforeKillPerSec, s.AfterKillPerSec = k.rates()
		if k.err != nil {
			return s, fmt.Errorf("kill redis: %w", k.err)
		}
		if err := k.restart(ctx); err != nil {
			return s, fmt.Errorf("restart redis: %w", err)
		}
	}
	s.CacheHits = store.SoldOutStats().Hits
	s.Batches, s.Batched = store.CombineStats()
	lvl, err := store.Level(ctx, sku)
	if err != nil {
		return s, err
	}
	var rows int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM reservations WHERE sku = $1 AND status = 'reserved'`, sku).Scan(&rows); err != nil {
		return s, err
	}
	s.FinalSold = lvl.Reserved
	if rows != lvl.Reserved || lvl.OnHand != stock {
		s.FinalSold = -1 // inconsistent: flagged by account
	}
	account(&s)
	if firstErr != nil && s.Errors > 0 && cfg.Progress != nil {
		cfg.Progress(fmt.Sprintf("  %s c=%d: %d errors, first: %v", variant, c, s.Errors, firstErr))
	}
	return s, nil
}

// measureRaw: the physical limit and the seed's pattern on a scratch row.
func measureRaw(ctx context.Context, pool *pgxpool.Pool, variant string, seq, c, stock int, soldOutFor time.Duration) (Sample, error) {
	if _, err := pool.Exec(ctx, `INSERT INTO bench_hot (id, qty) VALUES ($1, $2)`, seq, stock); err != nil {
		return Sample{}, fmt.Errorf("scratch row: %w", err)
	}
	attempt := func(ctx context.Context, _ uuid.UUID) (outcome, error) {
		if variant == RawUpdate {
			tag, err := pool.Exec(ctx, `UPDATE bench_hot SET qty = qty - 1 WHERE id = $1 AND qty > 0`, seq)
			if err != nil {
				return failed, err
			}
			if tag.RowsAffected() == 0 {
				return soldOut, nil
			}
			return ok, nil
		}
		o := soldOut
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			var qty int
			if err := tx.QueryRow(ctx, `SELECT qty FROM bench_hot WHERE id = $1 FOR UPDATE`, seq).Scan(&qty); err != nil {
				return err
			}
			if qty < 1 {
				return errSoldOut // rolls back
			}
			_, err := tx.Exec(ctx, `UPDATE bench_hot SET qty = qty - 1 WHERE id = $1`, seq)
			o = ok
			return err
		})
		if errors.Is(err, errSoldOut) {
			return soldOut, nil
		}
		if err != nil {
			return failed, err
		}
		return o, nil
	}
	s, _ := sale(ctx, c, uuid.New, attempt, soldOutFor)
	s.Variant, s.Stock = variant, stock
	var qty int
	if err := pool.QueryRow(ctx, `SELECT qty FROM bench_hot WHERE id = $1`, seq).Scan(&qty); err != nil {
		return s, err
	}
	s.FinalSold = stock - qty
	account(&s)
	return s, nil
}

var errSoldOut = errors.New("sold out")

// insertCheckouts inserts n checkout rows (one per buyer) and returns their ids.
func insertCheckouts(ctx context.Context, pool *pgxpool.Pool, n int) ([]uuid.UUID, error) {
	ids := make([]uuid.UUID, n)
	keys := make([]string, n)
	for i := range ids {
		ids[i] = uuid.New()
		keys[i] = ids[i].String()
	}
	fp := make([]byte, 32)
	_, _ = rand.Read(fp)
	_, err := pool.Exec(ctx, `
		INSERT INTO checkouts (id, user_id, idempotency_key, request_fingerprint, amount, currency, payment_method)
		SELECT id, 'bench', key, $3, 1999, 'USD', 'pm_card_visa'
		FROM unnest($1::uuid[], $2::text[]) AS u(id, key)`, ids, keys, fp)
	if err != nil {
		return nil, fmt.Errorf("insert checkouts: %w", err)
	}
	return ids, nil
}

// Summary is the median of the runs of one variant at one concurrency.
type Summary struct {
	Variant     string  `json:"variant"`
	Clients     int     `json:"clients"`
	Runs        int     `json:"runs"`
	SalePerSec  float64 `json:"sale_per_sec"`
	P50ms       float64 `json:"p50_ms"`
	P95ms       float64 `json:"p95_ms"`
	P99ms       float64 `json:"p99_ms"`
	RejectPerS  float64 `json:"sold_out_per_sec"`
	SaleRatio   float64 `json:"sale_vs_raw_update"`
	RejectRatio float64 `json:"sold_out_vs_raw_update"`
	Oversell    int     `json:"oversell_total"`
	Undersell   int     `json:"undersell_total"`
	Errors      int     `json:"errors_total"`
	PerBatch    float64 `json:"calls_per_combined_batch"` // over all runs; 0: nothing combined
	CacheHits   int64   `json:"sold_out_cache_hits_total"`
	// -kill variants: medians of the sale's rate before and after the kill.
	BeforeKillPerSec float64 `json:"before_kill_per_sec,omitempty"`
	AfterKillPerSec  float64 `json:"after_kill_per_sec,omitempty"`
}

// Summarize takes medians per (variant, clients) and the ratios to the raw
// UPDATE at the same concurrency.
func Summarize(samples []Sample, variants []string, conc []int) []Summary {
	var out []Summary
	for _, c := range conc {
		for _, v := range variants {
			var sum Summary
			var sale, p50, p95, p99, rej, before, after []float64
			var batches, batched int64
			for _, s := range samples {
				if s.Variant != v || s.Clients != c {
					continue
				}
				sum.Runs++
				sale, p50, p95, p99, rej = append(sale, s.SalePerSec), append(p50, s.P50ms), append(p95, s.P95ms), append(p99, s.P99ms), append(rej, s.RejectPerS)
				if s.BeforeKillPerSec > 0 {
					before, after = append(before, s.BeforeKillPerSec), append(after, s.AfterKillPerSec)
				}
				batches += s.Batches
				batched += s.Batched
				sum.CacheHits += s.CacheHits
				sum.Oversell += s.Oversell
				sum.Undersell += s.Undersell
				sum.Errors += s.Errors
			}
			if sum.Runs == 0 {
				continue
			}
			sum.Variant, sum.Clients = v, c
			if batches > 0 {
				sum.PerBatch = float64(batched) / float64(batches)
			}
			sum.SalePerSec, sum.P50ms, sum.P95ms, sum.P99ms, sum.RejectPerS = median(sale), median(p50), median(p95), median(p99), median(rej)
			sum.BeforeKillPerSec, sum.AfterKillPerSec = median(before), median(after)
			out = append(out, sum)
		}
	}
	for i := range out {
		for _, base := range out {
			if base.Variant == RawUpdate && base.Clients == out[i].Clients {
				if base.SalePerSec > 0 {
					out[i].SaleRatio = out[i].SalePerSec / base.SalePerSec
				}
				if base.RejectPerS > 0 {
					out[i].RejectRatio = out[i].RejectPerS / base.RejectPerS
				}
			}
		}
	}
	return out
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	ys := slices.Clone(xs)
	sort.Float64s(ys)
	if len(ys)%2 == 1 {
		return ys[len(ys)/2]
	}
	return (ys[len(ys)/2-1] + ys[len(ys)/2]) / 2
}
