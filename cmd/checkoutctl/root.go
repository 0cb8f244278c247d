package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// run executes checkoutctl with args and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runEnv(ctx, args, stdout, stderr, os.Getenv)
}

// runEnv is run with the environment lookup of $DATABASE_URL, $USER and the
// endpoints-file variables given (tests).
func runEnv(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	e := &env{stdout: stdout, stderr: stderr, getenv: getenv}
	defer e.close()
	root := newRoot(e)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	_, err := root.ExecuteContextC(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "checkoutctl: %v\n", err)
		if exitCode(err) == exitUsage {
			fmt.Fprintln(stderr, "Run `checkoutctl --help` (or COMMAND --help) for usage.")
		}
	}
	return exitCode(err)
}

func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "checkoutctl",
		Short: "Inspect and replay the checkout backend's dead-letter and manual-review queues",
		Long: `checkoutctl is the finance/operations tool of the checkout backend.

It works against AWS (standard AWS configuration: --profile, --region, the
deployed stack from --stack) or a local stack (--endpoint-url, or found
automatically in .data/endpoints.json while ` + "`make dev`" + ` runs).
Replays, purges and review resolutions are recorded in the ops_audit table of
the database in --database-url, $DATABASE_URL or the local stack; without one
they are refused.

Exit codes: 0 success, 1 failure, 2 usage error.`,
		Example: `  checkoutctl dlq list
  checkoutctl dlq show notification-dlq --limit 5
  checkoutctl dlq replay notification-dlq --all --rate 50
  checkoutctl review list --json
  checkoutctl --profile prod --region eu-west-1 --stack checkout-prod dlq list`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(c *cobra.Command, _ []string) {
			e.opts.stackSet = c.Flags().Changed("stack")
		},
	}
	root.CompletionOptions.DisableDefaultCmd = true
	f := root.PersistentFlags()
	f.StringVar(&e.opts.profile, "profile", "", "AWS shared-config profile (default: $AWS_PROFILE or default)")
	f.StringVar(&e.opts.region, "region", "", "AWS region (default: $AWS_REGION or the profile's)")
	f.StringVar(&e.opts.endpointURL, "endpoint-url", "", "SQS endpoint of a local stack, e.g. http://127.0.0.1:9324")
	f.StringVar(&e.opts.stack, "stack", "checkout-dev", "CloudFormation stack whose queues to use (local: the running stack's)")
	f.StringVar(&e.opts.endpointsFile, "endpoints-file", "", "local stack endpoints file (default: .data/endpoints.json in this or a parent folder)")
	f.BoolVar(&e.opts.noLocal, "no-local", false, "ignore .data/endpoints.json and use AWS")
	f.StringVar(&e.opts.databaseURL, "database-url", "", "PostgreSQL for the audit trail (default: $DATABASE_URL or the local stack's)")
	f.StringVar(&e.opts.actor, "actor", "", "who is acting, for the audit trail (default: $USER)")
	f.BoolVar(&e.opts.jsonOut, "json", false, "print JSON instead of tables")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return &usageError{msg: err.Error()} })

	dlq := &cobra.Command{
		Use:   "dlq",
		Short: "Dead-letter queues: list, show, replay, purge",
		Example: `  checkoutctl dlq list
  checkoutctl dlq show shipping-dlq
  checkoutctl dlq replay shipping-dlq --all`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	dlq.AddCommand(newDLQList(e), newDLQShow(e), newDLQReplay(e), newDLQPurge(e))
	review := &cobra.Command{
		Use:   "review",
		Short: "The manual-review queue: checkouts a person must finish",
		Example: `  checkoutctl review list
  checkoutctl review show 5f0c...
  checkoutctl review resolve 5f0c... --note "refunded by hand in the Stripe dashboard"`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	review.PersistentFlags().String("queue", "manual-review", "the manual-review queue (name, stack-relative name or URL)")
	review.AddCommand(newReviewList(e), newReviewShow(e), newReviewResolve(e))
	root.AddCommand(dlq, review, newInvariants(e), newReconcile(e), newTrace(e), newOrders(e), newPartitions(e))
	return root
}

func noArgs(c *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unknown command %q for %q", args[0], c.CommandPath())
	}
	return nil
}

func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s needs %s (got %d arguments)", c.CommandPath(), what, len(args))
		}
		return nil
	}
}
