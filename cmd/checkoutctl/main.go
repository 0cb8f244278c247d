// Command checkoutctl is the finance/operations tool of the checkout
// backend: it inspects, replays and purges the dead-letter queues of the
// post-order consumers and works the manual-review queue, writing every
// change to the ops_audit table.
//
// It talks to AWS (standard AWS configuration: --profile, --region; queue
// URLs from the stack, --stack checkout-dev) or to a local stack
// (--endpoint-url, or found automatically in .data/endpoints.json while
// `make dev` runs). Exit codes: 0 success, 1 failure, 2 usage error.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
