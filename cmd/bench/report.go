package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/inventory"
	"github.com/checkout-dev/checkout/internal/postgres"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

// defaultVariants: the baselines, every strategy as configured by default
// (server-side function with combining for bucketed and conditional, and the
// sold-out cache with LISTEN), and the default strategy step by step: without
// the cache, without combining (one function call per Reserve), and as it ran
// before the server-side function (several statements from Go).
func defaultVariants() []string {
	v := []string{RawUpdate, RawForUpdate}
	for _, s := range inventory.Strategies {
		if s == inventory.Gated { // one call per reservation, as on Lambda; and with Redis killed
			v = append(v, string(s)+suffixSingle, string(s)+suffixSingle+suffixKill)
			continue
		}
		v = append(v, string(s))
		if s == inventory.DefaultStrategy {
			v = append(v, string(s)+suffixNoCache, string(s)+suffixSingle, string(s)+suffixGo)
		}
	}
	return v
}

// Machine describes where the numbers come from.
type Machine struct {
	CPUs         int    `json:"cpus"`
	GOOS         string `json:"goos"`
	GOARCH       string `json:"goarch"`
	GoVersion    string `json:"go_version"`
	Postgres     string `json:"postgres"`
	Fsync        string `json:"fsync"`
	SyncCommit   string `json:"synchronous_commit"`
	Cluster      string `json:"cluster"` // "own (pgtest, durable)" or "DATABASE_URL"
	DefaultStrat string `json:"default_strategy"`
}

// Goal is one target of the task, checked on the medians.
type Goal struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Target float64 `json:"target"`
	Met    bool    `json:"met"`
}

// Report is what the JSON file holds.
type Report struct {
	When    time.Time `json:"when"`
	Command string    `json:"command"`
	Machine Machine   `json:"machine"`
	Config  Config    `json:"config"`
	Summary []Summary `json:"summary"`
	Goals   []Goal    `json:"goals"`
	Samples []Sample  `json:"samples"`
	// Catalog: GET /v1/products/{sku}'s read, from the database and through
	// the Redis cache (measured when a gated variant runs, on its Redis).
	Catalog  []CatalogSample `json:"catalog,omitempty"`
	Duration string          `json:"duration"`
}

// benchInventory runs the inventory benchmark on its own durable cluster (or
// a scratch database on dbURL) and writes the results.
func benchInventory(ctx context.Context, cfg Config, dbURL, outDir string, stdout io.Writer) error {
	began := time.Now()
	dsn, cluster, cleanup, err := scratchDatabase(ctx, dbURL)
	if err != nil {
		return err
	}
	defer cleanup()
	pcfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return err
	}
	maxC := 1
	for _, c := range cfg.Concurrency {
		maxC = max(maxC, c)
	}
	pcfg.MaxConns = int32(maxC + 4)
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	m, err := describe(ctx, pool, cluster)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "bench: %d CPUs, %s, fsync=%s synchronous_commit=%s, %s\n", m.CPUs, m.Postgres, m.Fsync, m.SyncCommit, m.Cluster)
	if needsRedis(cfg.Variants) {
		if cfg.redis, err = startBenchRedis(ctx, cfg.Progress); err != nil {
			return err
		}
		defer cfg.redis.Close()
	}
	samples, err := Measure(ctx, pool, cfg)
	if err != nil {
		return err
	}
	rep := Report{When: time.Now().UTC(), Command: "go run ./cmd/bench " + strings.Join(os.Args[1:], " "), Machine: m,
		Config: cfg, Samples: samples, Summary: Summarize(samples, cfg.Variants, cfg.Concurrency)}
	if cfg.redis != nil {
		for _, c := range cfg.Concurrency {
			cs, err := measureCatalog(ctx, pool, cfg.redis, c, max(cfg.SoldOut, time.Second))
			if err != nil {
				return fmt.Errorf("catalog reads: %w", err)
			}
			rep.Catalog = append(rep.Catalog, cs...)
		}
	}
	rep.Goals = append(goals(rep.Summary, maxC), gateGoals(rep.Summary, maxC)...)
	rep.Duration = time.Since(began).Round(time.Second).String()
	fmt.Fprintln(stdout)
	fmt.Fprint(stdout, textTable(rep))
	return writeReport(outDir, "inventory", rep, markdown(rep))
}

// scratchDatabase returns the DSN of a fresh, migrated database: on a new
// durable cluster, or on the server at dbURL. cleanup drops it (and stops the
// cluster).
func scratchDatabase(ctx context.Context, dbURL string) (dsn, cluster string, cleanup func(), err error) {
	var srv *pgtest.Server
	cluster = "DATABASE_URL"
	if dbURL != "" {
		srv = pgtest.Connect(dbURL)
	} else {
		cluster = "own cluster (pgtest.Start, Durable: default fsync/synchronous_commit)"
		if srv, err = pgtest.Start(ctx, pgtest.Options{Durable: true}); err != nil {
			return "", "", nil, err
		}
	}
	admin := dbURL
	if admin == "" {
		admin = srv.DSN("postgres")
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "bench_" + hex.EncodeToString(b)
	if err := adminExec(ctx, admin, "CREATE DATABASE "+name); err != nil {
		_ = srv.Stop()
		return "", "", nil, fmt.Errorf("create database: %w", err)
	}
	cleanup = func() {
		_ = adminExec(context.Background(), admin, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		_ = srv.Stop()
	}
	dsn = srv.DSN(name)
	if err := postgres.Migrate(ctx, dsn); err != nil {
		cleanup()
		return "", "", nil, err
	}
	return dsn, cluster, cleanup, nil
}

func adminExec(ctx context.Context, dsn, sql string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

func describe(ctx context.Context, pool *pgxpool.Pool, cluster string) (Machine, error) {
	m := Machine{CPUs: runtime.NumCPU(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, GoVersion: runtime.Version(),
		Cluster: cluster, DefaultStrat: string(inventory.DefaultStrategy)}
	err := pool.QueryRow(ctx, `SELECT split_part(version(), ' on ', 1), current_setting('fsync'), current_setting('synchronous_commit')`).
		Scan(&m.Postgres, &m.Fsync, &m.SyncCommit)
	return m, err
}

func find(sum []Summary, variant string, c int) (Summary, bool) {
	for _, s := range sum {
		if s.Variant == variant && s.Clients == c {
			return s, true
		}
	}
	return Summary{}, false
}

// goals checks the task's targets at the highest concurrency measured.
func goals(sum []Summary, c int) []Goal {
	var out []Goal
	win, ok1 := find(sum, string(inventory.DefaultStrategy), c)
	fu, ok2 := find(sum, RawForUpdate, c)
	up, ok3 := find(sum, RawUpdate, c)
	pe, ok4 := find(sum, string(inventory.Pessimistic), c)
	ratio := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	}
	add := func(name string, v, target float64) {
		out = append(out, Goal{Name: name, Value: v, Target: target, Met: v >= target})
	}
	d := string(inventory.DefaultStrategy)
	if ok1 && ok2 {
		add(fmt.Sprintf("%s reservations/s ÷ %s at %d clients", d, RawForUpdate, c), ratio(win.SalePerSec, fu.SalePerSec), 3)
	}
	if ok1 && ok4 {
		add(fmt.Sprintf("%s reservations/s ÷ pessimistic strategy at %d clients", d, c), ratio(win.SalePerSec, pe.SalePerSec), 3)
	}
	if ok1 && ok3 {
		add(fmt.Sprintf("%s reservations/s ÷ %s at %d clients", d, RawUpdate, c), ratio(win.SalePerSec, up.SalePerSec), 2)
	}
	if ok1 && ok2 {
		add(fmt.Sprintf("%s sold-out rejections/s ÷ %s at %d clients", d, RawForUpdate, c), ratio(win.RejectPerS, fu.RejectPerS), 10)
	}
	if ok1 {
		out = append(out, Goal{Name: fmt.Sprintf("%s oversell + undersell, all runs and concurrencies", d),
			Value: float64(sumBad(sum, d)), Target: 0, Met: sumBad(sum, d) == 0})
	}
	return out
}

// gateGoals checks the flash-sale targets of the gated strategy, one call
// per reservation, at the highest concurrency measured.
func gateGoals(sum []Summary, c int) []Goal {
	var out []Goal
	g := string(inventory.Gated) + suffixSingle
	gs, ok := find(sum, g, c)
	if !ok {
		return nil
	}
	ratio := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	}
	add := func(name string, v, target float64) {
		out = append(out, Goal{Name: name, Value: v, Target: target, Met: v >= target})
	}
	if up, ok := find(sum, RawUpdate, c); ok {
		add(fmt.Sprintf("%s reservations/s ÷ %s at %d clients", g, RawUpdate, c), ratio(gs.SalePerSec, up.SalePerSec), 2)
	}
	if fu, ok := find(sum, RawForUpdate, c); ok {
		add(fmt.Sprintf("%s reservations/s ÷ %s at %d clients", g, RawForUpdate, c), ratio(gs.SalePerSec, fu.SalePerSec), 4)
		add(fmt.Sprintf("%s sold-out rejections/s ÷ %s at %d clients", g, RawForUpdate, c), ratio(gs.RejectPerS, fu.RejectPerS), 20)
	}
	for _, v := range []string{g, g + suffixKill} {
		if _, ok := find(sum, v, c); ok {
			bad := sumBad(sum, v)
			out = append(out, Goal{Name: fmt.Sprintf("%s oversell + undersell, all runs and concurrencies", v),
				Value: float64(bad), Target: 0, Met: bad == 0})
		}
	}
	return out
}

func sumBad(sum []Summary, variant string) int {
	n := 0
	for _, s := range sum {
		if s.Variant == variant {
			n += s.Oversell + s.Undersell
		}
	}
	return n
}

func textTable(r Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-18s %4s %11s %7s %7s %7s %7s %11s %7s %5s %5s %6s %6s\n",
		"variant", "c", "reserve/s", "×raw", "p50 ms", "p95 ms", "p99 ms", "sold-out/s", "×raw", "over", "under", "errors", "batch")
	for _, s := range r.Summary {
		fmt.Fprintf(&b, "%-18s %4d %11.0f %7.2f %7.2f %7.2f %7.2f %11.0f %7.2f %5d %5d %6d %6.1f\n",
			s.Variant, s.Clients, s.SalePerSec, s.SaleRatio, s.P50ms, s.P95ms, s.P99ms, s.RejectPerS, s.RejectRatio, s.Oversell, s.Undersell, s.Errors, s.PerBatch)
	}
	b.WriteString("\n")
	for _, g := range r.Goals {
		mark := "MET"
		if !g.Met {
			mark = "NOT MET"
		}
		fmt.Fprintf(&b, "goal: %-70s %8.2f (target %v) %s\n", g.Name, g.Value, g.Target, mark)
	}
	for _, s := range r.Summary {
		if s.BeforeKillPerSec > 0 {
			fmt.Fprintf(&b, "%s c=%d: %.0f reservations/s before Redis was killed, %.0f after (database path)\n",
				s.Variant, s.Clients, s.BeforeKillPerSec, s.AfterKillPerSec)
		}
	}
	for _, cs := range r.Catalog {
		fmt.Fprintf(&b, "catalog reads from %-11s c=%-3d %8.0f reads/s  p50 %.2f ms  p99 %.2f ms  errors %d\n",
			cs.Source, cs.Clients, cs.ReadsPerS, cs.P50ms, cs.P99ms, cs.Errors)
	}
	fmt.Fprintf(&b, "medians of %d run(s); took %s\n", r.Config.Runs, r.Duration)
	return b.String()
}

func markdown(r Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Inventory benchmark, %s\n\n", r.When.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "Machine: %d CPUs (%s/%s), %s, fsync=%s, synchronous_commit=%s, %s; %s.\n\n",
		r.Machine.CPUs, r.Machine.GOOS, r.Machine.GOARCH, r.Machine.Postgres, r.Machine.Fsync, r.Machine.SyncCommit, r.Machine.Cluster, r.Machine.GoVersion)
	fmt.Fprintf(&b, "Command: `%s`. Medians of %d run(s); stock %d units per measurement at 8+ clients; sold-out phase %s; %d buckets for the bucketed strategy. Took %s.\n\n",
		r.Command, r.Config.Runs, r.Config.Stock, r.Config.SoldOut, r.Config.Buckets, r.Duration)
	b.WriteString("| variant | clients | reservations/s | × raw UPDATE | p50 ms | p95 ms | p99 ms | sold-out rejections/s | × raw UPDATE | oversell | undersell | errors | calls per batch |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range r.Summary {
		fmt.Fprintf(&b, "| %s | %d | %.0f | %.2f | %.2f | %.2f | %.2f | %.0f | %.2f | %d | %d | %d | %.1f |\n",
			s.Variant, s.Clients, s.SalePerSec, s.SaleRatio, s.P50ms, s.P95ms, s.P99ms, s.RejectPerS, s.RejectRatio, s.Oversell, s.Undersell, s.Errors, s.PerBatch)
	}
	var kills []Summary
	for _, s := range r.Summary {
		if s.BeforeKillPerSec > 0 {
			kills = append(kills, s)
		}
	}
	if len(kills) > 0 {
		b.WriteString("\nRedis killed (SIGKILL) when half of the stock was sold; the rest sold through the database path:\n\n")
		b.WriteString("| variant | clients | reservations/s before the kill | after the kill |\n|---|---:|---:|---:|\n")
		for _, s := range kills {
			fmt.Fprintf(&b, "| %s | %d | %.0f | %.0f |\n", s.Variant, s.Clients, s.BeforeKillPerSec, s.AfterKillPerSec)
		}
	}
	if len(r.Catalog) > 0 {
		b.WriteString("\nCatalog reads (one product, GET /v1/products/{sku}'s read):\n\n")
		b.WriteString("| source | clients | reads/s | p50 ms | p99 ms | errors |\n|---|---:|---:|---:|---:|---:|\n")
		for _, cs := range r.Catalog {
			fmt.Fprintf(&b, "| %s | %d | %.0f | %.2f | %.2f | %d |\n", cs.Source, cs.Clients, cs.ReadsPerS, cs.P50ms, cs.P99ms, cs.Errors)
		}
	}
	b.WriteString("\n| goal | value | target | met |\n|---|---:|---:|---|\n")
	for _, g := range r.Goals {
		fmt.Fprintf(&b, "| %s | %.2f | %v | %v |\n", g.Name, g.Value, g.Target, g.Met)
	}
	return b.String()
}

func writeReport(dir, name string, rep any, md string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, name+".json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name+".md"), []byte(md), 0o644)
}
