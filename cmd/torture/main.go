// Command torture is `make torture`: many concurrent checkouts through the
// local stack (its own process) while Stripe, its webhooks and the Lambda
// runtime fail at random and the stack is killed with SIGKILL and
// restarted; then `checkoutctl invariants` must find no broken promise.
// Exit status 0: no violation; 1: violations (the report lists them);
// 2: the run could not be carried out.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/checkout-dev/checkout/internal/torture"
)

func main() {
	var cfg torture.Config
	flag.IntVar(&cfg.Checkouts, "n", 2000, "checkouts (one buyer each)")
	flag.IntVar(&cfg.Concurrency, "c", 64, "buyers at a time")
	flag.Float64Var(&cfg.FaultRate, "fault-rate", 0.3, "share of Stripe API requests that get a fault")
	flag.Float64Var(&cfg.WebhookFaultRate, "webhook-fault-rate", 0.3, "share of webhook deliveries duplicated, delayed, reordered or dropped")
	flag.Float64Var(&cfg.LambdaFaultRate, "lambda-fault-rate", 0.1, "share of saga step invocations whose Lambda dies or loses its answer")
	flag.IntVar(&cfg.Kills, "kills", 2, "times the stack is killed with SIGKILL and restarted during the run")
	flag.Int64Var(&cfg.Seed, "seed", 0, "random seed (0: from the clock; printed)")
	flag.StringVar(&cfg.WorkDir, "dir", "", "work folder (default: a temporary one, removed unless -keep)")
	flag.BoolVar(&cfg.Keep, "keep", false, "keep the work folder (stack log, data, fake log)")
	flag.DurationVar(&cfg.Timeout, "timeout", 30*time.Minute, "give up after")
	flag.Parse()
	cfg.DatabaseURL = os.Getenv("TORTURE_DATABASE_URL")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := torture.Run(ctx, cfg)
	if werr := res.Write(os.Stdout); werr != nil && err == nil {
		err = werr
	}
	switch {
	case errors.Is(err, torture.ErrViolations):
		os.Exit(1)
	case err != nil:
		fmt.Fprintln(os.Stderr, "torture:", err)
		os.Exit(2)
	}
}
