package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/checkout-dev/checkout/internal/partition"
)

func newPartitions(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "partitions",
		Short: "The monthly partitions of orders, order_items and audit_log: list them, archive old months of audit_log",
		Long: `List the partitions of orders, order_items and audit_log (one per UTC month)
with the planner's estimate of their rows, and how many months after the
current one every table has (the sweeper keeps 3; PartitionsRunningOutAlarm
fires below 2). Read only.

detach-audit archives the months of audit_log older than the retention
(docs/partitions.md).`,
		Example: `  checkoutctl partitions
  checkoutctl partitions --json | jq .months_ahead
  checkoutctl partitions detach-audit --keep-months 13`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			pool, err := e.auditDB(ctx, "list the partitions")
			if err != nil {
				return err
			}
			parts, err := partition.List(ctx, pool)
			if err != nil {
				return err
			}
			ahead := partition.Ahead(parts, time.Now())
			out := cmd.OutOrStdout()
			if e.opts.jsonOut {
				return writeJSON(out, map[string]any{"partitions": parts, "months_ahead": ahead})
			}
			rows := make([][]string, len(parts))
			for i, p := range parts {
				n := "not analyzed"
				if p.Rows >= 0 {
					n = strconv.FormatInt(p.Rows, 10)
				}
				rows[i] = []string{p.Table, p.Name, p.From.UTC().Format(time.DateOnly), p.To.UTC().Format(time.DateOnly), n}
			}
			if err := table(out, []string{"TABLE", "PARTITION", "FROM", "TO (EXCLUDED)", "ROWS (ESTIMATE)"}, rows); err != nil {
				return err
			}
			fmt.Fprintf(out, "\nmonths ahead: %d (the sweeper keeps %d)\n", ahead, partition.DefaultMonthsAhead)
			return nil
		},
	}
	c.AddCommand(newDetachAudit(e))
	return c
}

func newDetachAudit(e *env) *cobra.Command {
	var keep int
	var apply bool
	c := &cobra.Command{
		Use:   "detach-audit",
		Short: "Archive the months of audit_log older than the retention (a dry run without --apply)",
		Long: `Detach from audit_log every month older than the current one and the
--keep-months before it, and move each into schema archive, append-only
still and out of the application role's reach; an audit row records each
one. Nothing is dropped: export each archived table (pg_dump -t
archive.audit_log_YYYY_MM, then S3), check the export, then drop it by hand
(docs/partitions.md).

Without --apply it only lists the months it would archive. With --apply it
must connect as the owner of the tables (the migration's login, not
checkout_app); the detach (DETACH PARTITION ... CONCURRENTLY) does not block
the audit writes. An interrupted run is finished by the next.`,
		Example: `  checkoutctl partitions detach-audit                   # what a retention of 13 months archives
  checkoutctl --database-url "$OWNER_DATABASE_URL" partitions detach-audit --keep-months 13 --apply`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if keep < partition.MinAuditMonths {
				return usagef("--keep-months must be at least %d", partition.MinAuditMonths)
			}
			ctx := cmd.Context()
			pool, err := e.auditDB(ctx, "archive audit_log partitions")
			if err != nil {
				return err
			}
			var names []string
			if apply {
				names, err = partition.DetachAuditLog(ctx, pool, time.Now(), keep, "checkoutctl:"+e.actor(ctx))
			} else {
				names, err = partition.AuditToDetach(ctx, pool, time.Now(), keep)
			}
			out := cmd.OutOrStdout()
			if e.opts.jsonOut {
				if jerr := writeJSON(out, map[string]any{"applied": apply, "partitions": names, "schema": partition.ArchiveSchema}); jerr != nil {
					return jerr
				}
				return err
			}
			switch {
			case len(names) == 0 && err == nil:
				fmt.Fprintf(out, "nothing to archive: audit_log holds no month before the last %d\n", keep)
			case !apply:
				fmt.Fprintf(out, "would archive (run again with --apply):\n")
			default:
				fmt.Fprintf(out, "archived into schema %s (export each, then drop it; docs/partitions.md):\n", partition.ArchiveSchema)
			}
			for _, n := range names {
				fmt.Fprintf(out, "  %s\n", n)
			}
			return err
		},
	}
	c.Flags().IntVar(&keep, "keep-months", partition.DefaultAuditMonths, "whole months before the current one to keep in audit_log")
	c.Flags().BoolVar(&apply, "apply", false, "archive them (without it, only list them)")
	return c
}
