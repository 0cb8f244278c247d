// Package gatebench measures the stock gate the way the product calls it
// from Lambda: one Reserve call per reservation, each buyer on a connection
// of its own (one Lambda process serves one request at a time, so nothing
// is pipelined or combined), on one hot SKU. cmd/gatebench runs it; make
// bench can run it beside the database strategies.
//
// Each measurement arms a fresh gate with Stock units, lets every client buy
// one unit per call until it is told "out of stock", then keeps every client
// asking for SoldOut more. It reports reservations per second while stock
// lasts, latency percentiles of the successful calls, sold-out rejections
// per second, and the oversell/undersell check (demand exceeds stock, so
// the gate must hand out exactly Stock units: its holds are counted, and the
// gate's own figures must say 0 available and Stock held).
package gatebench

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/checkout-dev/checkout/internal/redisconn"
	"github.com/checkout-dev/checkout/internal/stockgate"
)

// Client modes.
const (
	PerBuyer = "per-buyer" // one connection per client: the Lambda shape
	Shared   = "shared"    // one client (a pool) shared by all: a long-lived process
)

// Config is one benchmark run.
type Config struct {
	URL         string        // the Redis to measure
	Concurrency []int         // clients per measurement
	Runs        int           // repetitions; medians are reported
	Stock       int           // units per measurement
	SoldOut     time.Duration // length of the sold-out phase
	Modes       []string      // PerBuyer and/or Shared
	Progress    func(string)  // optional progress lines
}

// Sample is one measurement.
type Sample struct {
	Mode        string  `json:"mode"`
	Clients     int     `json:"clients"`
	Run         int     `json:"run"`
	Stock       int     `json:"stock"`
	Held        int     `json:"held"`
	SalePerSec  float64 `json:"sale_per_sec"`
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
	Rejects     int     `json:"sold_out_rejections"`
	RejectPerS  float64 `json:"sold_out_per_sec"`
	RejectP50ms float64 `json:"sold_out_p50_ms"`
	Errors      int     `json:"errors"`
	Oversell    int     `json:"oversell"`
	Undersell   int     `json:"undersell"`
}

// Measure runs every (run, concurrency, mode) and returns the samples in the
// order taken.
func Measure(ctx context.Context, cfg Config) ([]Sample, error) {
	if cfg.Runs <= 0 {
		cfg.Runs = 1
	}
	var out []Sample
	for run := 1; run <= cfg.Runs; run++ {
		for _, c := range cfg.Concurrency {
			for _, mode := range cfg.Modes {
				s, err := measure(ctx, cfg, mode, c)
				if err != nil {
					return out, fmt.Errorf("%s at %d clients, run %d: %w", mode, c, run, err)
				}
				s.Run = run
				out = append(out, s)
				if cfg.Progress != nil {
					cfg.Progress(fmt.Sprintf("run %d  %-9s c=%-3d  %8.0f reservations/s  p99 %6.2f ms  %8.0f sold-out/s  held %d/%d  errors %d",
						run, mode, c, s.SalePerSec, s.P99ms, s.RejectPerS, s.Held, s.Stock, s.Errors))
				}
			}
		}
	}
	return out, nil
}

func measure(ctx context.Context, cfg Config, mode string, c int) (Sample, error) {
	s := Sample{Mode: mode, Clients: c, Stock: cfg.Stock}
	ns := "bench-" + uuid.NewString()[:8]
	newClient := func(pool int) (redis.UniversalClient, error) {
		return redisconn.New(redisconn.Config{URL: cfg.URL, PoolSize: pool,
			DialTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second})
	}
	admin, err := newClient(4)
	if err != nil {
		return s, err
	}
	defer admin.Close()
	defer cleanup(context.Background(), admin, ns)
	opts := stockgate.Options{Namespace: ns, Timeout: 10 * time.Second}
	g, err := stockgate.New(admin, opts)
	if err != nil {
		return s, err
	}
	if _, err := g.Arm(ctx, stockgate.ArmRequest{SKU: "HOT", Available: cfg.Stock}); err != nil {
		return s, err
	}
	gates := make([]*stockgate.Gate, c)
	var shared redis.UniversalClient
	if mode == Shared {
		if shared, err = newClient(c); err != nil {
			return s, err
		}
		defer shared.Close()
	}
	for i := range gates {
		cl := shared
		if cl == nil {
			if cl, err = newClient(1); err != nil {
				return s, err
			}
			defer cl.Close()
		}
		if gates[i], err = stockgate.New(cl, opts); err != nil {
			return s, err
		}
		// Connect (and load the script) before the clock starts, as a
		// warm Lambda would have.
		if _, err := gates[i].Level(ctx, "HOT"); err != nil {
			return s, err
		}
	}

	var mu sync.Mutex
	var lat, rejLat []time.Duration
	var held, errs atomic.Int64
	var lastHeld atomic.Int64
	lines := []stockgate.Line{{SKU: "HOT", Quantity: 1}}
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < c; i++ {
		wg.Add(1)
		go func(g *stockgate.Gate) {
			defer wg.Done()
			var my []time.Duration
			for ctx.Err() == nil {
				t := time.Now()
				r, err := g.Reserve(ctx, uuid.New(), lines)
				d := time.Since(t)
				if err != nil {
					errs.Add(1)
					continue
				}
				if r.Outcome != stockgate.Held {
					break
				}
				my = append(my, d)
				held.Add(1)
				lastHeld.Store(int64(time.Since(start)))
			}
			mu.Lock()
			lat = append(lat, my...)
			mu.Unlock()
		}(gates[i])
	}
	wg.Wait()
	saleDur := time.Duration(lastHeld.Load())
	var rejects atomic.Int64
	soldStart := time.Now()
	for i := 0; i < c; i++ {
		wg.Add(1)
		go func(g *stockgate.Gate) {
			defer wg.Done()
			var my []time.Duration
			for ctx.Err() == nil && time.Since(soldStart) < cfg.SoldOut {
				t := time.Now()
				r, err := g.Reserve(ctx, uuid.New(), lines)
				if err != nil {
					errs.Add(1)
					continue
				}
				if r.Outcome == stockgate.Held {
					held.Add(1) // an oversell: counted below
					continue
				}
				my = append(my, time.Since(t))
				rejects.Add(1)
			}
			mu.Lock()
			rejLat = append(rejLat, my...)
			mu.Unlock()
		}(gates[i])
	}
	wg.Wait()
	soldDur := time.Since(soldStart)
	if err := ctx.Err(); err != nil {
		return s, err
	}
	lvl, err := g.Level(ctx, "HOT")
	if err != nil {
		return s, err
	}
	s.Held = int(held.Load())
	s.Errors = int(errs.Load())
	s.Rejects = int(rejects.Load())
	if saleDur > 0 {
		s.SalePerSec = float64(cfg.Stock) / saleDur.Seconds()
	}
	s.RejectPerS = float64(s.Rejects) / soldDur.Seconds()
	s.P50ms, s.P99ms = pct(lat, 0.50), pct(lat, 0.99)
	s.RejectP50ms = pct(rejLat, 0.50)
	s.Oversell = max(s.Held-cfg.Stock, lvl.Held-cfg.Stock, -lvl.Available, 0)
	s.Undersell = max(cfg.Stock-s.Held, lvl.Available, 0)
	return s, nil
}

// cleanup deletes the measurement's gate.
func cleanup(ctx context.Context, c redis.UniversalClient, ns string) {
	iter := c.Scan(ctx, 0, "{"+ns+"}:*", 2000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
		if len(keys) == 1000 {
			c.Unlink(ctx, keys...)
			keys = keys[:0]
		}
	}
	if len(keys) > 0 {
		c.Unlink(ctx, keys...)
	}
}

func pct(d []time.Duration, q float64) float64 {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return float64(d[int(q*float64(len(d)-1))].Microseconds()) / 1000
}

// Row is the median of a (mode, clients) cell over the runs.
type Row struct {
	Mode                              string
	Clients                           int
	SalePerSec, P50ms, P99ms          float64
	RejectPerS                        float64
	Oversell, Undersell, Errors, Runs int
}

// Medians groups samples by mode and clients (in first-seen order) and takes
// the median of each figure; oversell, undersell and errors are summed (they
// must be 0 in every run).
func Medians(samples []Sample) []Row {
	type key struct {
		mode string
		c    int
	}
	var order []key
	by := map[key][]Sample{}
	for _, s := range samples {
		k := key{s.Mode, s.Clients}
		if _, ok := by[k]; !ok {
			order = append(order, k)
		}
		by[k] = append(by[k], s)
	}
	var rows []Row
	for _, k := range order {
		ss := by[k]
		r := Row{Mode: k.mode, Clients: k.c, Runs: len(ss)}
		med := func(f func(Sample) float64) float64 {
			v := make([]float64, len(ss))
			for i, s := range ss {
				v[i] = f(s)
			}
			sort.Float64s(v)
			return v[len(v)/2]
		}
		r.SalePerSec = med(func(s Sample) float64 { return s.SalePerSec })
		r.P50ms = med(func(s Sample) float64 { return s.P50ms })
		r.P99ms = med(func(s Sample) float64 { return s.P99ms })
		r.RejectPerS = med(func(s Sample) float64 { return s.RejectPerS })
		for _, s := range ss {
			r.Oversell += s.Oversell
			r.Undersell += s.Undersell
			r.Errors += s.Errors
		}
		rows = append(rows, r)
	}
	return rows
}

// Table renders rows as a Markdown table.
func Table(rows []Row) string {
	var b strings.Builder
	b.WriteString("| clients | mode | reservations/s | p50 ms | p99 ms | sold-out rejections/s | oversell / undersell | errors |\n")
	b.WriteString("|---:|---|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %d | %s | %.0f | %.2f | %.2f | %.0f | %d / %d | %d |\n",
			r.Clients, r.Mode, r.SalePerSec, r.P50ms, r.P99ms, r.RejectPerS, r.Oversell, r.Undersell, r.Errors)
	}
	return b.String()
}
