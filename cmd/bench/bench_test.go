package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/inventory"
	"github.com/checkout-dev/checkout/internal/postgres"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m, postgres.Migrate) }

// TestMeasureAccounting runs the measurement code with tiny settings on a
// test database: every variant sells exactly its stock, rejects afterwards,
// and the summary and goals are computed from the samples.
func TestMeasureAccounting(t *testing.T) {
	pool := pgtest.NewPool(t)
	cfg := Config{Variants: defaultVariants(), Concurrency: []int{1, 4}, Runs: 1, Stock: 24,
		SoldOut: 100 * time.Millisecond, Buckets: 4}
	var err error
	if cfg.redis, err = startBenchRedis(context.Background(), func(s string) { t.Log(s) }); err != nil {
		t.Fatal(err)
	}
	defer cfg.redis.Close()
	samples, err := Measure(context.Background(), pool, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) != len(cfg.Variants)*len(cfg.Concurrency) {
		t.Fatalf("%d samples, want %d", len(samples), len(cfg.Variants)*len(cfg.Concurrency))
	}
	for _, s := range samples {
		if s.Stock != 50 { // below 50 units is raised to 50
			t.Errorf("%s c=%d: stock %d, want 50", s.Variant, s.Clients, s.Stock)
		}
		if s.Successes != s.Stock || s.FinalSold != s.Stock || s.Oversell != 0 || s.Undersell != 0 || s.Errors != 0 {
			t.Errorf("%s c=%d: %+v", s.Variant, s.Clients, s)
		}
		if s.Rejects == 0 || s.RejectPerS <= 0 || s.SalePerSec <= 0 || s.P99ms < s.P50ms {
			t.Errorf("%s c=%d: rates/latencies not measured: %+v", s.Variant, s.Clients, s)
		}
		switch s.Variant {
		case "gated-single": // every unit through the gate, every rejection from it
			if s.Gate == nil || s.Gate.Held != int64(s.Stock) || s.Gate.Fallback != 0 || s.Gate.Refused == 0 {
				t.Errorf("%s c=%d: gate stats %+v", s.Variant, s.Clients, s.Gate)
			}
		case "gated-single-kill": // half through the gate, the rest through the database
			if s.Gate == nil || s.Gate.Held < int64(s.Stock/2) || s.Gate.Fallback == 0 || s.BeforeKillPerSec <= 0 || s.AfterKillPerSec <= 0 {
				t.Errorf("%s c=%d: gate stats %+v, before %.0f/s, after %.0f/s", s.Variant, s.Clients, s.Gate, s.BeforeKillPerSec, s.AfterKillPerSec)
			}
		}
	}
	// The bucketed SKUs really were split, and the split rows hold the sale.
	var split int
	if err := pool.QueryRow(context.Background(), `SELECT count(DISTINCT sku) FROM inventory_buckets`).Scan(&split); err != nil {
		t.Fatal(err)
	}
	bucketed := 0
	for _, v := range cfg.Variants {
		if strings.HasPrefix(v, string(inventory.Bucketed)) {
			bucketed++
		}
	}
	gated := 2 // gated-single and gated-single-kill: split when armed
	if bucketed != 4 || split != (bucketed+gated)*len(cfg.Concurrency) {
		t.Errorf("%d split SKUs for %d bucketed and %d gated variants, want %d", split, bucketed, gated, (bucketed+gated)*len(cfg.Concurrency))
	}
	// The sold-out phase of a cached variant is served from the cache; the
	// others never touch one.
	for _, s := range samples {
		cached := s.Variant != RawUpdate && s.Variant != RawForUpdate &&
			!strings.HasSuffix(s.Variant, suffixGo) && !strings.HasSuffix(s.Variant, suffixNoCache) &&
			!strings.Contains(s.Variant, suffixSingle)
		if cached != (s.CacheHits > 0) {
			t.Errorf("%s c=%d: %d cache hits", s.Variant, s.Clients, s.CacheHits)
		}
	}
	sum := Summarize(samples, cfg.Variants, cfg.Concurrency)
	if len(sum) != len(samples) {
		t.Fatalf("%d summary rows", len(sum))
	}
	for _, s := range sum {
		if s.Variant == RawUpdate && s.SaleRatio != 1 {
			t.Errorf("raw update ratio to itself %v", s.SaleRatio)
		}
		if s.SaleRatio <= 0 || s.RejectRatio <= 0 {
			t.Errorf("%s c=%d: ratios missing %+v", s.Variant, s.Clients, s)
		}
	}
	g := goals(sum, 4)
	if len(g) != 5 || !g[4].Met {
		t.Errorf("goals %+v", g)
	}
	gg := gateGoals(sum, 4)
	if len(gg) != 5 || !gg[3].Met || !gg[4].Met {
		t.Errorf("gate goals %+v", gg)
	}
}

func TestStoreVariant(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in             string
		strategy       inventory.Strategy
		clientSide, ok bool
		cache          bool
	}{
		{"bucketed", inventory.Bucketed, false, true, true},
		{"bucketed-go", inventory.Bucketed, true, true, false},
		{"conditional-nocache", inventory.Conditional, false, true, false},
		{"bucketed-single", inventory.Bucketed, false, true, false},
		{"gated-single", inventory.Gated, false, true, false},
		{"gated-single-kill", inventory.Gated, false, true, false},
		{"bucketed-single-kill", "", false, false, false},
		{"nope", "", false, false, false},
		{"-go", "", false, false, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			o, kill, err := storeVariant(tc.in)
			if kill != strings.HasSuffix(tc.in, suffixKill) && tc.ok {
				t.Errorf("kill = %v", kill)
			}
			if (err == nil) != tc.ok {
				t.Fatalf("err %v", err)
			}
			if tc.ok && (o.Strategy != tc.strategy || o.ClientSideReserve != tc.clientSide || o.SoldOutCache != tc.cache) {
				t.Errorf("%+v", o)
			}
		})
	}
}

// TestAccountFlagsOversellAndUndersell: the checks are not vacuous.
func TestAccountFlagsOversellAndUndersell(t *testing.T) {
	for _, tc := range []struct {
		name                    string
		successes, final, stock int
		over, under             int
	}{
		{"exact", 10, 10, 10, 0, 0},
		{"oversold", 11, 11, 10, 1, 0},
		{"undersold", 9, 9, 10, 0, 1},
		{"counted sale but row shows less", 10, 9, 10, 0, 1},
		{"inconsistent rows", 10, -1, 10, 0, 11},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Sample{Successes: tc.successes, FinalSold: tc.final, Stock: tc.stock}
			account(&s)
			if s.Oversell != tc.over || s.Undersell != tc.under {
				t.Errorf("oversell %d undersell %d, want %d %d", s.Oversell, s.Undersell, tc.over, tc.under)
			}
		})
	}
}

// TestRunWritesReports: the program end to end with -quick-like settings on
// the test cluster (DATABASE_URL form): terminal table, JSON and Markdown.
func TestRunWritesReports(t *testing.T) {
	dsn := pgtest.NewDB(t)
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	// scratchDatabase creates its own database next to this one.
	out := t.TempDir()
	var stdout strings.Builder
	err = run([]string{"-c", "2", "-runs", "1", "-stock", "20", "-soldout", "100ms", "-buckets", "2",
		"-variants", "raw-update,raw-for-update,bucketed,pessimistic", "-db", cfg.ConnString(), "-out", out}, &stdout)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"raw-update", "bucketed", "goal:", "sold-out/s"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("terminal output lacks %q:\n%s", want, stdout.String())
		}
	}
	var rep Report
	b, err := os.ReadFile(filepath.Join(out, "inventory.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Summary) != 4 || rep.Machine.Postgres == "" || rep.Machine.DefaultStrat != string(inventory.DefaultStrategy) {
		t.Errorf("report %+v", rep)
	}
	md, err := os.ReadFile(filepath.Join(out, "inventory.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "| bucketed | 2 |") {
		t.Errorf("markdown lacks the bucketed row:\n%s", md)
	}
}
