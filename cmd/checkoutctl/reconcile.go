package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssfn "github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/spf13/cobra"

	"github.com/checkout-dev/checkout/internal/app"
	"github.com/checkout-dev/checkout/internal/execution"
	"github.com/checkout-dev/checkout/internal/reconcile"
)

// errFindings makes `checkoutctl reconcile` exit 1 after its report.
var errFindings = errors.New("reconciliation found work")

// reconcileReport is what `checkoutctl reconcile` prints (and --json).
type reconcileReport struct {
	Applied       bool                    `json:"applied"`
	StuckAfter    string                  `json:"stuck_after"`
	Findings      []reconcile.Finding     `json:"findings"`
	Since         *time.Time              `json:"since,omitempty"`
	Until         *time.Time              `json:"until,omitempty"`
	Discrepancies []reconcile.Discrepancy `json:"discrepancies"`
	AuditID       int64                   `json:"audit_id,omitempty"`
}

func newReconcile(e *env) *cobra.Command {
	var stripeURL, stripeKey, sfnURL, since, until string
	var stuckAfter time.Duration
	var limit int
	var apply, noCompare bool
	c := &cobra.Command{
		Use:   "reconcile",
		Short: "Drive stuck payments and checkouts to their end, and compare the ledger with the gateway's books",
		Long: `Do on demand what the scheduled reconciliation does: find the checkouts whose
payment or status has not moved for --stuck-after while not final, read each
one's PaymentIntent, and say what drives it to its end: resume the execution
waiting for an authentication the gateway decided, capture an order's
authorization, void or refund what a checkout without an order holds, record
what the ledger missed, or undo a checkout whose saga ended without finishing
it. A dry run by default; --apply acts (audit rows name you, and the run is
recorded in ops_audit).

Then it compares our ledger with the gateway's list of PaymentIntents and
refunds created between --since and --until (matched by the metadata
checkout_id) and prints every discrepancy.

Exit code 1 when there is something to do (a dry run with actions, an action
that failed, or any discrepancy), 2 on bad flags.`,
		Example: `  checkoutctl reconcile                          # the running make dev stack, dry run
  checkoutctl reconcile --apply --stuck-after 5m
  checkoutctl reconcile --since 72h --json > books.json
  checkoutctl reconcile --no-local --region eu-west-1 --database-url "$DATABASE_URL" \
    --stripe-key "$STRIPE_RK" --apply`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if stuckAfter <= 0 {
				return usagef("--stuck-after %s: want a positive duration such as 15m", stuckAfter)
			}
			if limit <= 0 {
				return usagef("--limit %d: want at least 1", limit)
			}
			now := time.Now()
			from, err := parseSince(since, now)
			if err != nil {
				return err
			}
			to := now
			if until != "" {
				if to, err = parseSince(until, now); err != nil {
					return usagef("--until %q: want a duration ago such as 1h or an RFC 3339 time", until)
				}
			}
			if !from.Before(to) {
				return usagef("--since must be before --until")
			}
			pool, err := e.auditDB(ctx, "reconcile")
			if err != nil {
				return err
			}
			gw, err := e.gateway(stripeURL, stripeKey)
			if err != nil {
				return err
			}
			review, err := e.resolveQueue(ctx, "manual-review")
			if err != nil {
				return fmt.Errorf("manual-review queue: %w", err)
			}
			sqsClient, err := e.SQS(ctx)
			if err != nil {
				return err
			}
			sfnClient, err := e.stepFunctions(ctx, sfnURL)
			if err != nil {
				return err
			}
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			core := app.NewCore(pool, gw, app.Config{}, log)
			exec := execution.SFN{Client: sfnClient}
			core.Steps.Resumer = exec
			rec := core.Reconciler(reconcile.SQSReviewer{Client: sqsClient, QueueURL: review.URL}, log)
			rec.Executions = exec
			rec.Actor = "checkoutctl:" + e.actor(ctx)

			rep := reconcileReport{Applied: apply, StuckAfter: stuckAfter.String(), Discrepancies: []reconcile.Discrepancy{}}
			var a *audit
			if apply {
				if a, err = startAudit(ctx, pool, e.actor(ctx), "reconcile", review.Name, "",
					map[string]any{"stuck_after": stuckAfter.String(), "limit": limit}); err != nil {
					return err
				}
				rep.AuditID = a.ID
			}
			rep.Findings, err = rec.Sweep(ctx, reconcile.SweepOptions{StuckAfter: stuckAfter, Limit: limit, Apply: apply})
			if err == nil && !noCompare {
				if from.IsZero() {
					from = to.Add(-24 * time.Hour)
				}
				rep.Since, rep.Until = &from, &to
				var ds []reconcile.Discrepancy
				if ds, err = rec.Compare(ctx, gw, from, to); ds != nil {
					rep.Discrepancies = ds
				}
			}
			actions, failed := 0, 0
			for _, f := range rep.Findings {
				if f.Action != reconcile.SweepNone && f.Action != reconcile.SweepWait {
					actions++
				}
				if f.Error != "" {
					failed++
				}
			}
			if a != nil {
				outcome := "ok"
				if err != nil || failed > 0 {
					outcome = "partial"
				}
				if aerr := a.finish(ctx, outcome, map[string]any{"findings": len(rep.Findings), "actions": actions,
					"failed": failed, "discrepancies": len(rep.Discrepancies)}); aerr != nil && err == nil {
					err = aerr
				}
			}
			if err != nil {
				return err
			}
			if e.opts.jsonOut {
				if err := writeJSON(e.stdout, rep); err != nil {
					return err
				}
			} else {
				printReconcile(e.stdout, rep)
			}
			switch {
			case failed > 0:
				return fmt.Errorf("%w: %d actions failed", errFindings, failed)
			case !apply && actions > 0:
				return fmt.Errorf("%w: %d checkouts to act on (run with --apply)", errFindings, actions)
			case len(rep.Discrepancies) > 0:
				return fmt.Errorf("%w: %d discrepancies between the ledger and the gateway", errFindings, len(rep.Discrepancies))
			}
			return nil
		},
	}
	f := c.Flags()
	f.BoolVar(&apply, "apply", false, "act on what is found (default: a dry run that changes nothing)")
	f.DurationVar(&stuckAfter, "stuck-after", 15*time.Minute, "look at checkouts and payments unchanged for this long")
	f.IntVar(&limit, "limit", 100, "at most this many stuck checkouts per run")
	f.StringVar(&since, "since", "", "compare the gateway's payments created since (duration like 72h, or RFC 3339; default 24h)")
	f.StringVar(&until, "until", "", "... and until (duration ago, or RFC 3339; default now)")
	f.BoolVar(&noCompare, "no-compare", false, "skip the comparison with the gateway's books")
	f.StringVar(&stripeURL, "stripe-url", "", "Stripe-compatible API (default: $STRIPE_API_URL, the local stack's fake, else api.stripe.com)")
	f.StringVar(&stripeKey, "stripe-key", "", "Stripe secret key (default: $STRIPE_SECRET_KEY)")
	f.StringVar(&sfnURL, "sfn-endpoint-url", "", "Step Functions endpoint (default: the local stack's, else AWS)")
	return c
}

// stepFunctions returns a Step Functions client: url, the local stack's,
// else AWS with the command's profile and region.
func (e *env) stepFunctions(ctx context.Context, url string) (*awssfn.Client, error) {
	if url == "" {
		if err := e.loadEndpoints(); err != nil {
			return nil, err
		}
		if e.endpoints != nil {
			url = e.endpoints.SFN
		}
	}
	cfg, err := e.loadAWS(ctx, url != "")
	if err != nil {
		return nil, err
	}
	return awssfn.NewFromConfig(cfg, func(o *awssfn.Options) {
		if url != "" {
			o.BaseEndpoint = aws.String(url)
		}
	}), nil
}

func printReconcile(w io.Writer, rep reconcileReport) {
	verb := "would do"
	if rep.Applied {
		verb = "did"
	}
	fmt.Fprintf(w, "%d checkouts stuck for more than %s\n", len(rep.Findings), rep.StuckAfter)
	if len(rep.Findings) > 0 {
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "CHECKOUT\tSTATUS\tCHARGE\tINTENT\tACTION (%s)\tRESULT\n", verb)
		for _, f := range rep.Findings {
			result := f.Reason
			if f.Result != "" {
				result = f.Result
			}
			if f.Error != "" {
				result = "ERROR: " + f.Error
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", f.CheckoutID, f.Checkout, orDash(string(f.Charge)), orDash(f.Intent), f.Action, result)
		}
		_ = tw.Flush()
	}
	if rep.Since != nil {
		fmt.Fprintf(w, "%d discrepancies between the ledger and the gateway (%s to %s)\n", len(rep.Discrepancies),
			rep.Since.Format(time.RFC3339), rep.Until.Format(time.RFC3339))
		for _, d := range rep.Discrepancies {
			fmt.Fprintf(w, "  checkout %s intent %s refund %s: gateway %s, ledger %s: %s\n",
				orDash(d.CheckoutID), orDash(d.IntentID), orDash(d.RefundID), d.Gateway, d.Ledger, d.Detail)
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
