package main

import (
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/checkout-dev/checkout/internal/order"
)

func newOrders(e *env) *cobra.Command {
	var limit int
	var after string
	c := &cobra.Command{
		Use:   "orders USER_ID",
		Short: "List a customer's orders, newest first (read only)",
		Long: `List the orders of one customer (the user id of their tokens), newest
first: id, checkout, status, amount and when it was made. It reads the
orders' index by user in each monthly partition, newest month first, and
stops once --limit orders are found. --after ORDER_ID lists the orders
older than that one (the next page; the table ends with the command).`,
		Example: `  checkoutctl orders alice@example.com
  checkoutctl orders alice@example.com --limit 5 --json
  checkoutctl orders alice@example.com --limit 5 --after 01a24018-f477-7fa3-b920-09e5914279a3`,
		Args: exactArgs(1, "a user id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 1 || limit > order.MaxPage {
				return usagef("--limit must be between 1 and %d", order.MaxPage)
			}
			ctx := cmd.Context()
			pool, err := e.auditDB(ctx, "list orders")
			if err != nil {
				return err
			}
			svc := order.NewService(pool, nil)
			var from order.Cursor
			if after != "" {
				id, err := uuid.Parse(after)
				if err != nil {
					return usagef("--after must be an order id (a UUID), not %q", after)
				}
				o, err := svc.GetForUser(ctx, id, args[0])
				if err != nil {
					return err
				}
				from = order.Cursor{CreatedAt: o.CreatedAt, ID: o.ID}
			}
			list, err := svc.ListForUser(ctx, args[0], from, limit)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if e.opts.jsonOut {
				return writeJSON(out, map[string]any{"user_id": args[0], "orders": list})
			}
			if len(list) == 0 {
				fmt.Fprintf(out, "no orders for %s\n", args[0])
				return nil
			}
			rows := make([][]string, len(list))
			for i, o := range list {
				rows[i] = []string{o.ID.String(), o.CheckoutID.String(), string(o.Status), fmt.Sprintf("%d %s", o.Amount, o.Currency),
					o.CreatedAt.UTC().Format(time.RFC3339)}
			}
			if err := table(out, []string{"ORDER", "CHECKOUT", "STATUS", "AMOUNT (MINOR UNITS)", "CREATED"}, rows); err != nil {
				return err
			}
			if len(list) == limit {
				fmt.Fprintf(out, "next page: checkoutctl orders %s --limit %d --after %s\n", args[0], limit, order.Next(list).ID)
			}
			return nil
		},
	}
	c.Flags().IntVar(&limit, "limit", 20, "how many orders at most")
	c.Flags().StringVar(&after, "after", "", "list the orders older than this order id (the next page)")
	return c
}
