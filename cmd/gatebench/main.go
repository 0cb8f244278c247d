// Command gatebench measures the Redis stock gate one call per reservation
// (the Lambda shape: every buyer on a connection of its own) on one hot
// SKU, at several client counts, and prints the medians as a table. See
// internal/stockgate/gatebench.
//
//	gatebench [-c 8,32,64] [-runs 3] [-stock 20000] [-soldout 1.5s] [-shared] [-out bench-results]
//
// It starts a throwaway redis-server (REDIS_URL: measure that server
// instead; its other keys are left alone) and writes OUT/gate.json and
// OUT/gate.md.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/checkout-dev/checkout/internal/redistest"
	"github.com/checkout-dev/checkout/internal/stockgate/gatebench"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gatebench:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("gatebench", flag.ContinueOnError)
	conc := fs.String("c", "8,32,64", "client counts, comma-separated")
	runs := fs.Int("runs", 3, "repetitions (medians are reported)")
	stock := fs.Int("stock", 20000, "units per measurement")
	soldOut := fs.Duration("soldout", 1500*time.Millisecond, "length of the sold-out phase")
	shared := fs.Bool("shared", false, "also measure one shared client (a long-lived process) beside one connection per buyer")
	out := fs.String("out", "bench-results", "folder for gate.json and gate.md (empty: none)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var cs []int
	for _, f := range strings.Split(*conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return fmt.Errorf("-c: %q is not a client count", f)
		}
		cs = append(cs, n)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	srv, err := redistest.Start(ctx, redistest.Options{})
	if err != nil {
		return err
	}
	defer srv.Stop()
	if n := srv.Notice(); n != "" {
		fmt.Fprintln(stdout, n)
	}
	modes := []string{gatebench.PerBuyer}
	if *shared {
		modes = append(modes, gatebench.Shared)
	}
	fmt.Fprintf(stdout, "stock gate on %s (%s), one call per reservation, %d units, %d run(s), GOMAXPROCS %d\n",
		srv.URL(), srv.Kind(), *stock, *runs, runtime.GOMAXPROCS(0))
	samples, err := gatebench.Measure(ctx, gatebench.Config{URL: srv.URL(), Concurrency: cs, Runs: *runs,
		Stock: *stock, SoldOut: *soldOut, Modes: modes,
		Progress: func(s string) { fmt.Fprintln(stdout, s) }})
	if err != nil {
		return err
	}
	table := gatebench.Table(gatebench.Medians(samples))
	fmt.Fprintf(stdout, "\nmedians of %d run(s):\n\n%s", *runs, table)
	if *out == "" {
		return nil
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	js, _ := json.MarshalIndent(samples, "", "  ")
	if err := os.WriteFile(filepath.Join(*out, "gate.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(*out, "gate.md"), []byte(table), 0o644)
}
