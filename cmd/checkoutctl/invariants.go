package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/spf13/cobra"

	"github.com/checkout-dev/checkout/internal/invariants"
	"github.com/checkout-dev/checkout/internal/payment"
)

// errViolations makes `checkoutctl invariants` exit 1 after its report.
var errViolations = errors.New("invariants violated")

func newInvariants(e *env) *cobra.Command {
	var stripeURL, stripeKey, since, inFlight string
	var noGateway, noQueue bool
	var maxShown int
	c := &cobra.Command{
		Use:   "invariants",
		Short: "Prove the checkout's promises from the database and the gateway's books (read only)",
		Long: `Check, in one read-only snapshot of the database and against the payment
gateway's own list of PaymentIntents and refunds, that:

  - no SKU was oversold, reserved stock equals the open holds, the units sold
    equal the units in orders, and no hold outlived its checkout;
  - every checkout is final (or younger than --in-flight);
  - a completed checkout has exactly one order; the ledger's money matches;
  - no checkout has two intents that took money; every charge the gateway
    took ends in exactly one order or in a refund in full; every refund
    refunds a charge of ours; the ledger says what the gateway says;
  - every needs_review checkout, review request and manual-review message
    names a problem the ledger shows.

It prints a table of counts and checks and exits 1 when any promise is
broken. Nothing is written: against a live deployment give it a read-only
database role (--database-url) and a restricted Stripe key that may read
PaymentIntents and Refunds (--stripe-key or $STRIPE_SECRET_KEY), and
--in-flight so that running checkouts are not counted. Reading the
manual-review queue counts as a receive of each message (use --no-queue to
skip it).`,
		Example: `  checkoutctl invariants                                  # the running make dev stack
  checkoutctl invariants --json > report.json
  checkoutctl invariants --database-url "$RO_DATABASE_URL" --stripe-key "$STRIPE_RK" \
    --since 72h --in-flight 30m --no-local --no-queue`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			pool, err := e.auditDB(ctx, "check the invariants")
			if err != nil {
				return err
			}
			o := invariants.Options{Pool: pool}
			now := time.Now()
			if inFlight != "" {
				d, err := time.ParseDuration(inFlight)
				if err != nil || d < 0 {
					return usagef("--in-flight %q: want a duration such as 30m", inFlight)
				}
				o.InFlightAfter = now.Add(-d)
			}
			if o.Since, err = parseSince(since, now); err != nil {
				return err
			}
			if o.Since.IsZero() {
				if err := pool.QueryRow(ctx, `SELECT coalesce(min(created_at), now()) - interval '1 minute' FROM checkouts`).Scan(&o.Since); err != nil {
					return fmt.Errorf("first checkout: %w", err)
				}
			}
			if !noGateway {
				gw, err := e.gateway(stripeURL, stripeKey)
				if err != nil {
					return err
				}
				o.Gateway = gw
			}
			if !noQueue {
				if o.Reviews, err = e.reviewBodies(ctx); err != nil {
					return err
				}
			}
			rep, err := invariants.Check(ctx, o)
			if err != nil {
				return err
			}
			if e.opts.jsonOut {
				if err := writeJSON(e.stdout, rep); err != nil {
					return err
				}
			} else if err := rep.WriteTable(e.stdout, maxShown); err != nil {
				return err
			}
			if !rep.OK() {
				return fmt.Errorf("%w: %d", errViolations, len(rep.Violations))
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&stripeURL, "stripe-url", "", "Stripe-compatible API (default: $STRIPE_API_URL, the local stack's fake, else api.stripe.com)")
	f.StringVar(&stripeKey, "stripe-key", "", "secret or restricted key that can read PaymentIntents and Refunds (default: $STRIPE_SECRET_KEY)")
	f.BoolVar(&noGateway, "no-gateway", false, "check the database only")
	f.BoolVar(&noQueue, "no-queue", false, "do not read the manual-review queue")
	f.StringVar(&since, "since", "", "list the gateway's payments created since (duration like 72h, or RFC 3339; default: the first checkout)")
	f.StringVar(&inFlight, "in-flight", "", "checkouts younger than this may still be running (default: every checkout must be final)")
	f.IntVar(&maxShown, "max", 50, "violations printed in the table (0: all)")
	return c
}

func parseSince(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, usagef("--since %q: want a duration such as 72h or an RFC 3339 time", v)
	}
	return t, nil
}

// gateway returns the Stripe ledger reader: --stripe-url, $STRIPE_API_URL,
// the local stack's fake, else Stripe itself.
func (e *env) gateway(url, key string) (*payment.Stripe, error) {
	if url == "" {
		url = e.getenv("STRIPE_API_URL")
	}
	if url == "" {
		_ = e.loadEndpoints()
		if e.endpoints != nil {
			url = e.endpoints.Stripe
		}
	}
	if key == "" {
		key = e.getenv("STRIPE_SECRET_KEY")
	}
	if key == "" && url != "" && !strings.Contains(url, "api.stripe.com") {
		key = "sk_test_local" // the local fake accepts any test key
	}
	if key == "" {
		return nil, usagef("no Stripe key: pass --stripe-key or set STRIPE_SECRET_KEY (a restricted key that can read PaymentIntents and Refunds), or --no-gateway")
	}
	return payment.NewStripe(payment.StripeConfig{SecretKey: key, URL: url, Timeout: 30 * time.Second}), nil
}

// reviewBodies peeks at every message of the manual-review queue.
func (e *env) reviewBodies(ctx context.Context) ([]string, error) {
	q, err := e.resolveQueue(ctx, "manual-review")
	if err != nil {
		return nil, fmt.Errorf("manual-review queue (--no-queue to skip): %w", err)
	}
	msgs, err := e.peek(ctx, q, 100000)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = aws.ToString(m.Body)
	}
	return out, nil
}
