// Command checkout-local is what `make dev` runs: the whole checkout stack
// on one machine, with no Docker and no AWS account.
//
//	checkout-local              run the stack (Ctrl-C stops it; a restart loses nothing)
//	checkout-local jwt --sub alice [--admin] [--ttl 24h]
//	                            print a dev JWT the local authorizer accepts
//	checkout-local demo         run two scripted checkouts through the saga's
//	                            step handlers in process, printing each step
//
// Knobs (environment): CHECKOUT_ADDR (default 127.0.0.1:3000), DATABASE_URL,
// CHECKOUT_API_KEY, CHECKOUT_JWT_SECRET, STRIPE_SECRET_KEY (Stripe test mode
// instead of the embedded fake), CHECKOUT_SQS_ADDR, CHECKOUT_SFN_ADDR,
// CHECKOUT_STRIPE_ADDR, CHECKOUT_DATA_DIR (default .data), LOG_LEVEL,
// CHECKOUT_PARAMETER_OVERRIDES (template parameters, as sam deploy
// --parameter-overrides: "WafIpRateLimit=100000000 ThrottleRateLimit=5000"),
// CHECKOUT_LAMBDA_FAULT_RATE (torture runs: saga steps fail like a dying
// Lambda at this rate), CHECKOUT_SFN_START_BURST and CHECKOUT_SFN_START_RATE
// (the local Step Functions' StartExecution quota; default AWS's 1300 and
// 300/s), CHECKOUT_SFN_TRANSITION_BURST and CHECKOUT_SFN_TRANSITION_RATE
// (its StateTransition bucket; default AWS's 5000 and 5000/s; 0 or off in
// any of the four turns that throttling off), REDIS_URL (a Redis of your
// own instead of a redis-server under CHECKOUT_DATA_DIR/redis),
// CHECKOUT_REDIS_ADDR (that redis-server's address).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/checkout-dev/checkout/internal/auth"
	"github.com/checkout-dev/checkout/internal/local/stack"
)

const usage = `usage:
  checkout-local                       run the whole stack (make dev)
  checkout-local jwt --sub USER [--admin] [--ttl 24h]
                                       print a dev JWT for the local authorizer
  checkout-local demo                  scripted checkouts through the step handlers
`

func main() {
	var err error
	args := os.Args[1:]
	cmd := ""
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "", "run":
		err = runStack()
	case "jwt":
		err = mintJWT(args)
	case "demo":
		err = runDemo()
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "checkout-local: unknown command %q\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "checkout-local:", err)
		os.Exit(1)
	}
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func mintJWT(args []string) error {
	fs := flag.NewFlagSet("jwt", flag.ContinueOnError)
	sub := fs.String("sub", "", "the user id (required)")
	admin := fs.Bool("admin", false, "add scope admin (admin routes)")
	ttl := fs.Duration("ttl", 24*time.Hour, "validity")
	if err := fs.Parse(args); err != nil {
		os.Exit(2)
	}
	if *sub == "" {
		fmt.Fprintln(os.Stderr, "checkout-local jwt: --sub USER is required, e.g. checkout-local jwt --sub alice")
		os.Exit(2)
	}
	tok, err := auth.Mint([]byte(envOr("CHECKOUT_JWT_SECRET", stack.DefaultJWTSecret)), auth.MintOptions{Subject: *sub, Admin: *admin, TTL: *ttl})
	if err != nil {
		return err
	}
	fmt.Println(tok)
	return nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
