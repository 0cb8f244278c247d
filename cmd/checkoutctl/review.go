package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/spf13/cobra"
)

// reviewView is a manual-review message for people and scripts.
type reviewView struct {
	messageView
	Type        string `json:"type"`
	CheckoutID  string `json:"checkout_id"`
	ExecutionID string `json:"execution_id"`
	FailedState string `json:"failed_state,omitempty"`
	Summary     string `json:"summary"`
}

func reviewOf(m types.Message) reviewView {
	v := reviewView{messageView: viewOf(m)}
	if r, ok := parseReview(aws.ToString(m.Body)); ok {
		v.Type, v.CheckoutID, v.ExecutionID, v.FailedState, v.Summary = r.Type, r.CheckoutID, r.ExecutionID, r.FailedState, r.summary()
	} else {
		v.Type, v.Summary = "unknown", "not a manual-review message"
	}
	return v
}

func (e *env) reviewQueue(cmd *cobra.Command) (queue, error) {
	name, _ := cmd.Flags().GetString("queue")
	return e.resolveQueue(cmd.Context(), name)
}

func newReviewList(e *env) *cobra.Command {
	var limit int
	c := &cobra.Command{
		Use:   "list",
		Short: "List the checkouts waiting for a person",
		Long: `List up to --limit messages of the manual-review queue: compensations that
kept failing (compensation_failed), order events that could not be queued
(publish_failed), orders whose payment could not be captured (capture_failed),
and reconciliation's findings (refund_failed, dispute_opened,
amount_mismatch). Messages are peeked, not removed.`,
		Example: `  checkoutctl review list
  checkoutctl review list --limit 200 --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			q, err := e.reviewQueue(cmd)
			if err != nil {
				return err
			}
			msgs, err := e.peek(ctx, q, limit)
			if err != nil {
				return err
			}
			views := make([]reviewView, 0, len(msgs))
			for _, m := range msgs {
				views = append(views, reviewOf(m))
			}
			if e.opts.jsonOut {
				return writeJSON(e.stdout, views)
			}
			if len(views) == 0 {
				fmt.Fprintf(e.stdout, "%s is empty: nothing to review\n", q.Name)
				return nil
			}
			now := time.Now()
			var rows [][]string
			for _, v := range views {
				rows = append(rows, []string{v.ID, v.Type, v.CheckoutID, v.FailedState, age(v.SentAt, now), strconv.Itoa(v.ReceiveCount), v.Summary})
			}
			return table(e.stdout, []string{"ID", "TYPE", "CHECKOUT", "FAILED STATE", "AGE", "RECEIVES", "REASON"}, rows)
		},
	}
	c.Flags().IntVar(&limit, "limit", 100, "maximum number of messages to list")
	return c
}

// findReview scans the queue for message id. The message is returned still
// hidden (for visibility seconds); every other message is visible again.
func (e *env) findReview(ctx context.Context, q queue, id string, visibility int32) (*types.Message, error) {
	var found *types.Message
	held, err := e.scan(ctx, q, visibility, func(m types.Message) (bool, bool) {
		if aws.ToString(m.MessageId) == id {
			found = &m
			return true, true
		}
		return false, false
	})
	if rerr := e.release(ctx, q, held); err == nil {
		err = rerr
	}
	if err != nil {
		if found != nil {
			_ = e.release(ctx, q, []types.Message{*found})
		}
		return nil, err
	}
	if found == nil {
		return nil, fmt.Errorf("no message %s in %s (it may be in flight; `checkoutctl review list` shows the visible ones)", id, q.Name)
	}
	return found, nil
}

func newReviewShow(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show one manual-review message in full",
		Example: `  checkoutctl review show 3c1e0c2a-...
  checkoutctl review show 3c1e0c2a-... --json`,
		Args: exactArgs(1, "a message ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			q, err := e.reviewQueue(cmd)
			if err != nil {
				return err
			}
			m, err := e.findReview(ctx, q, args[0], peekVisibility)
			if err != nil {
				return err
			}
			if err := e.release(ctx, q, []types.Message{*m}); err != nil {
				return err
			}
			v := reviewOf(*m)
			if e.opts.jsonOut {
				return writeJSON(e.stdout, v)
			}
			fmt.Fprintf(e.stdout, "Type      %s\nCheckout  %s\nExecution %s\n", v.Type, v.CheckoutID, v.ExecutionID)
			if v.FailedState != "" {
				fmt.Fprintf(e.stdout, "State     %s\n", v.FailedState)
			}
			fmt.Fprintf(e.stdout, "Summary   %s\n\n", v.Summary)
			printMessage(e, v.messageView, time.Now())
			return nil
		},
	}
}

func newReviewResolve(e *env) *cobra.Command {
	var note string
	c := &cobra.Command{
		Use:   "resolve ID --note TEXT",
		Short: "Record how a review was resolved, then remove it from the queue",
		Long: `Record the resolution (who, when, --note, the message) in ops_audit, then
delete the message from the manual-review queue. Nothing is deleted if the
resolution cannot be recorded.`,
		Example: `  checkoutctl review resolve 3c1e0c2a-... --note "refund re_123 issued by hand" --actor alice`,
		Args:    exactArgs(1, "a message ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if strings.TrimSpace(note) == "" {
				return usagef("--note is required: say how the checkout was resolved")
			}
			q, err := e.reviewQueue(cmd)
			if err != nil {
				return err
			}
			pool, err := e.auditDB(ctx, "resolve a review")
			if err != nil {
				return err
			}
			m, err := e.findReview(ctx, q, args[0], 120)
			if err != nil {
				return err
			}
			v := reviewOf(*m)
			detail := map[string]any{"type": v.Type, "checkout_id": v.CheckoutID, "execution_id": v.ExecutionID,
				"summary": v.Summary, "body": json.RawMessage(aws.ToString(m.Body))}
			if !json.Valid([]byte(aws.ToString(m.Body))) {
				detail["body"] = aws.ToString(m.Body)
			}
			a, err := startAudit(ctx, pool, e.actor(ctx), "review.resolve", q.Name, note, detail)
			if err != nil {
				_ = e.release(ctx, q, []types.Message{*m})
				return err
			}
			if err := a.addIDs(ctx, []string{v.ID}); err != nil {
				_ = e.release(ctx, q, []types.Message{*m})
				_ = a.finish(ctx, "failed", map[string]any{"error": err.Error()})
				return err
			}
			dctx, cancel := bg(ctx)
			defer cancel()
			if _, err := e.sqs.DeleteMessage(dctx, &awssqs.DeleteMessageInput{QueueUrl: aws.String(q.URL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				_ = e.release(ctx, q, []types.Message{*m})
				_ = a.finish(ctx, "failed", map[string]any{"error": err.Error()})
				return fmt.Errorf("delete %s: %w", v.ID, err)
			}
			if err := a.finish(ctx, "ok", nil); err != nil {
				return err
			}
			if e.opts.jsonOut {
				return writeJSON(e.stdout, map[string]any{"message_id": v.ID, "checkout_id": v.CheckoutID, "audit_id": a.ID, "resolved": true})
			}
			fmt.Fprintf(e.stdout, "resolved %s (checkout %s); audit #%d\n", v.ID, v.CheckoutID, a.ID)
			return nil
		},
	}
	c.Flags().StringVar(&note, "note", "", "how the checkout was resolved (required)")
	return c
}
