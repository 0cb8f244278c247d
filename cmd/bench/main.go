// Command bench measures the inventory strategies side by side on one hot
// SKU, in one run against one PostgreSQL, next to the physical limit of a
// single row (a raw conditional UPDATE) and the seed design's SELECT … FOR
// UPDATE pattern on a scratch table. `make bench` runs it.
//
//	bench [-c 1,8,32,64] [-runs 3] [-stock 2000] [-soldout 1.5s] [-buckets 16] [-out bench-results] [-quick]
//	bench -e2e -url http://127.0.0.1:3000 -api-key KEY -jwt-secret SECRET [-c 8,32,64] [-duration 10s]
//	bench -e2e -start-stack [-cpuprofile cpu.pprof]
//
// Without DATABASE_URL it starts its own cluster with PostgreSQL's default
// durability (fsync and synchronous_commit on: every commit waits for its WAL
// flush, as in production); with DATABASE_URL it creates a scratch database
// there and drops it afterwards.
//
// For every strategy and concurrency it reports reservations per second while
// stock lasts, latency percentiles of successful reservations, sold-out
// rejections per second once the stock is gone, and the oversell/undersell
// checks (demand always exceeds stock, so every unit must be sold exactly
// once). Figures are medians over the runs; ratios are to the raw UPDATE at
// the same concurrency in the same run. Results go to the terminal and to
// OUT/inventory.json and OUT/inventory.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"
)

var quietLogger = slog.New(slog.DiscardHandler)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	conc := fs.String("c", "", "client counts, comma-separated (default 1,8,32,64; e2e 8,32,64)")
	runs := fs.Int("runs", 3, "repetitions (medians are reported)")
	stock := fs.Int("stock", 2000, "units per measurement at 8+ clients (scaled down below 8)")
	soldOut := fs.Duration("soldout", 1500*time.Millisecond, "length of the sold-out phase of each measurement")
	buckets := fs.Int("buckets", 16, "buckets of the hot SKU for the bucketed strategy")
	variants := fs.String("variants", "", "comma-separated: raw-update, raw-for-update, strategy names, and strategy names with -nocache (sold-out cache off) or -go (several statements from Go, no cache) (default: all of them, -nocache and -go for the default strategy)")
	out := fs.String("out", "bench-results", "folder for the JSON and Markdown results")
	quick := fs.Bool("quick", false, "smoke run: 1 run, 8 clients, small stock, short phases")
	e2e := fs.Bool("e2e", false, "drive a running local stack over HTTP instead (see -url)")
	url := fs.String("url", "http://127.0.0.1:3000", "e2e: base URL of the stack")
	apiKey := fs.String("api-key", os.Getenv("CHECKOUT_API_KEY"), "e2e: usage-plan API key")
	jwtSecret := fs.String("jwt-secret", os.Getenv("CHECKOUT_JWT_SECRET"), "e2e: HS256 secret of the local authorizer")
	duration := fs.Duration("duration", 10*time.Second, "e2e: load duration per concurrency")
	e2eBuckets := fs.Int("e2e-buckets", 0, "e2e: split the SKU's stock over this many inventory buckets (0: one row, locked by every checkout)")
	noTracing := fs.Bool("no-tracing", false, "e2e with -start-stack: OpenTelemetry off (to measure what tracing costs)")
	startStack := fs.Bool("start-stack", false, "e2e: start the local stack in process on free ports (temporary data dir, own durable PostgreSQL, request limits lifted), stop it afterwards")
	dbURL := fs.String("db", os.Getenv("DATABASE_URL"), "e2e: the stack's PostgreSQL (for commit and transition counts); bench: the server to use")
	flash := fs.Bool("flash", false, "a flash sale on the local stack it starts: -buyers released at once on -units, Step Functions' default quotas")
	buyers := fs.Int("buyers", 5000, "flash: buyers")
	units := fs.Int("units", 200, "flash: units on sale")
	startBurst := fs.Int("start-burst", 0, "flash: StartExecution bucket (0: AWS's 1,300)")
	startRate := fs.Float64("start-rate", 0, "flash: StartExecution refill per second (0: AWS's 300)")
	transitionBurst := fs.Int("transition-burst", 0, "flash: StateTransition bucket (0: AWS's 5,000)")
	transitionRate := fs.Float64("transition-rate", 0, "flash: StateTransition refill per second (0: AWS's 5,000)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of this process (with -start-stack: the whole local stack and the load) to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if *flash {
		return runFlash(ctx, FlashConfig{Buyers: *buyers, Units: *units, Out: *out, StartBurst: *startBurst, StartRate: *startRate,
			TransitionBurst: *transitionBurst, TransitionRate: *transitionRate}, stdout)
	}
	if *e2e {
		cs, err := parseInts(*conc, []int{8, 32, 64})
		if err != nil {
			return err
		}
		if *quick {
			cs, *duration, *runs = []int{8}, 3*time.Second, 1
		}
		return runE2E(ctx, E2EConfig{URL: strings.TrimRight(*url, "/"), APIKey: *apiKey, JWTSecret: *jwtSecret,
			Concurrency: cs, Duration: *duration, Runs: *runs, DatabaseURL: *dbURL, Out: *out, StartStack: *startStack, NoTracing: *noTracing, Buckets: *e2eBuckets}, stdout)
	}
	cs, err := parseInts(*conc, []int{1, 8, 32, 64})
	if err != nil {
		return err
	}
	cfg := Config{Concurrency: cs, Runs: *runs, Stock: *stock, SoldOut: *soldOut, Buckets: *buckets,
		Variants: defaultVariants()}
	if *variants != "" {
		cfg.Variants = strings.Split(*variants, ",")
	}
	if *quick {
		cfg.Concurrency, cfg.Runs, cfg.Stock, cfg.SoldOut = []int{8}, 1, 200, 300*time.Millisecond
	}
	if cfg.Runs < 1 {
		return fmt.Errorf("-runs must be at least 1")
	}
	cfg.Progress = func(s string) { fmt.Fprintln(stdout, s) }
	return benchInventory(ctx, cfg, *dbURL, *out, stdout)
}

func parseInts(s string, def []int) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return def, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad client count %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}
