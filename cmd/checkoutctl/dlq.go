package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/spf13/cobra"
)

type dlqInfo struct {
	Name          string     `json:"name"`
	URL           string     `json:"url"`
	Visible       int        `json:"messages"`
	InFlight      int        `json:"in_flight"`
	OldestSentAt  *time.Time `json:"oldest_sent_at,omitempty"`
	OldestAge     string     `json:"oldest_age,omitempty"`
	SourceQueues  []string   `json:"source_queues"`
	SampledForAge int        `json:"sampled_for_age"`
}

func newDLQList(e *env) *cobra.Command {
	var sample int
	c := &cobra.Command{
		Use:   "list",
		Short: "List the dead-letter queues with their depth, oldest message and source queues",
		Long: `List every dead-letter queue (a queue some RedrivePolicy points at, or named
*-dlq) with its depth, the age of its oldest message and its source queues
(ListDeadLetterSourceQueues).

SQS has no "oldest message" attribute: the age is the oldest of up to
--sample messages peeked (received, then made visible again at once).`,
		Example: `  checkoutctl dlq list
  checkoutctl dlq list --json
  checkoutctl --endpoint-url http://127.0.0.1:9324 dlq list`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			all, err := e.allQueues(ctx)
			if err != nil {
				return err
			}
			now := time.Now()
			var out []dlqInfo
			for _, q := range all {
				if !isDLQ(q, all) {
					continue
				}
				info := dlqInfo{Name: q.Name, URL: q.URL, Visible: q.intAttr("ApproximateNumberOfMessages"),
					InFlight: q.intAttr("ApproximateNumberOfMessagesNotVisible"), SourceQueues: []string{}}
				srcs, err := e.sources(ctx, q)
				if err != nil {
					return err
				}
				for _, s := range srcs {
					info.SourceQueues = append(info.SourceQueues, s.Name)
				}
				if info.Visible > 0 && sample > 0 {
					msgs, err := e.peek(ctx, q, sample)
					if err != nil {
						return err
					}
					info.SampledForAge = len(msgs)
					for _, m := range msgs {
						if v := viewOf(m); v.SentAt != nil && (info.OldestSentAt == nil || v.SentAt.Before(*info.OldestSentAt)) {
							info.OldestSentAt = v.SentAt
						}
					}
					if info.OldestSentAt != nil {
						info.OldestAge = age(info.OldestSentAt, now)
					}
				}
				out = append(out, info)
			}
			if e.opts.jsonOut {
				if out == nil {
					out = []dlqInfo{}
				}
				return writeJSON(e.stdout, out)
			}
			if len(out) == 0 {
				fmt.Fprintln(e.stdout, "no dead-letter queues found")
				return nil
			}
			var rows [][]string
			for _, d := range out {
				oldest := "-"
				if d.OldestAge != "" {
					oldest = d.OldestAge
				}
				rows = append(rows, []string{d.Name, strconv.Itoa(d.Visible), strconv.Itoa(d.InFlight), oldest, strings.Join(d.SourceQueues, ",")})
			}
			return table(e.stdout, []string{"DLQ", "MESSAGES", "IN FLIGHT", "OLDEST", "SOURCE QUEUES"}, rows)
		},
	}
	c.Flags().IntVar(&sample, "sample", 10, "messages to peek per queue to find the oldest (0: do not peek)")
	return c
}

func newDLQShow(e *env) *cobra.Command {
	var limit int
	c := &cobra.Command{
		Use:   "show QUEUE",
		Short: "Peek at a dead-letter queue's messages without removing them",
		Long: `Show up to --limit messages of QUEUE: decoded body, attributes, receive count
and the failure reason (from the message's attributes, the consumers' failure
records in the database, or the event schema).

Messages are received with a short visibility timeout and made visible again
at once: nothing is deleted. The receive count of each shown message goes up
by one.`,
		Example: `  checkoutctl dlq show notification-dlq
  checkoutctl dlq show checkout-dev-shipping-dlq --limit 50 --json`,
		Args: exactArgs(1, "a QUEUE (name or URL)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 1 {
				return usagef("--limit must be at least 1")
			}
			ctx := cmd.Context()
			q, err := e.resolveQueue(ctx, args[0])
			if err != nil {
				return err
			}
			msgs, err := e.peek(ctx, q, limit)
			if err != nil {
				return err
			}
			views := make([]messageView, 0, len(msgs))
			for _, m := range msgs {
				views = append(views, viewOf(m))
			}
			e.withReasons(ctx, views)
			if e.opts.jsonOut {
				return writeJSON(e.stdout, map[string]any{"queue": q.Name, "messages": views})
			}
			if len(views) == 0 {
				fmt.Fprintf(e.stdout, "%s has no visible messages\n", q.Name)
				return nil
			}
			now := time.Now()
			for i, v := range views {
				if i > 0 {
					fmt.Fprintln(e.stdout)
				}
				printMessage(e, v, now)
			}
			return nil
		},
	}
	c.Flags().IntVar(&limit, "limit", 10, "maximum number of messages to show")
	return c
}

func printMessage(e *env, v messageView, now time.Time) {
	w := e.stdout
	fmt.Fprintf(w, "Message  %s\n", v.ID)
	if v.SentAt != nil {
		fmt.Fprintf(w, "Sent     %s (%s ago)\n", v.SentAt.Format(time.RFC3339), age(v.SentAt, now))
	}
	fmt.Fprintf(w, "Receives %d\n", v.ReceiveCount)
	if v.Reason != "" {
		fmt.Fprintf(w, "Reason   %s [%s]\n", v.Reason, v.ReasonSource)
	}
	if v.Permanent {
		fmt.Fprintf(w, "Permanent  cannot succeed on retry; `dlq replay` leaves it unless --force\n")
	}
	if src := v.Attributes["DeadLetterQueueSourceArn"]; src != "" {
		fmt.Fprintf(w, "From     %s\n", src)
	}
	for k, a := range v.MessageAttributes {
		fmt.Fprintf(w, "Attr     %s=%s\n", k, a)
	}
	fmt.Fprintln(w, "Body")
	if v.Body != nil {
		_ = writeJSON(indentWriter{w}, v.Body)
	} else {
		fmt.Fprintf(w, "  %s\n", v.BodyText)
	}
}

type indentWriter struct {
	w interface{ Write([]byte) (int, error) }
}

func (i indentWriter) Write(p []byte) (int, error) {
	s := "  " + strings.ReplaceAll(strings.TrimSuffix(string(p), "\n"), "\n", "\n  ") + "\n"
	if _, err := i.w.Write([]byte(s)); err != nil {
		return 0, err
	}
	return len(p), nil
}

func newDLQPurge(e *env) *cobra.Command {
	var yes bool
	c := &cobra.Command{
		Use:   "purge QUEUE --yes",
		Short: "Delete every message of a dead-letter queue (audited)",
		Long: `Delete every message of the dead-letter queue QUEUE (SQS PurgeQueue). This
cannot be undone, so it needs --yes. The purge is recorded in ops_audit with
the number of messages the queue held.`,
		Example: `  checkoutctl dlq purge analytics-dlq --yes --actor alice`,
		Args:    exactArgs(1, "a QUEUE (name or URL)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if !yes {
				return usagef("refusing to purge %s without --yes: it deletes every message in it permanently "+
					"(`checkoutctl dlq show %s` first)", args[0], args[0])
			}
			q, err := e.resolveQueue(ctx, args[0])
			if err != nil {
				return err
			}
			all, err := e.allQueues(ctx)
			if err != nil {
				return err
			}
			if !isDLQ(q, all) {
				return fmt.Errorf("refusing to purge %s: it is not a dead-letter queue", q.Name)
			}
			pool, err := e.auditDB(ctx, "purge "+q.Name)
			if err != nil {
				return err
			}
			n := q.intAttr("ApproximateNumberOfMessages") + q.intAttr("ApproximateNumberOfMessagesNotVisible")
			a, err := startAudit(ctx, pool, e.actor(ctx), "dlq.purge", q.Name, "", map[string]any{"approximate_messages": n, "url": q.URL})
			if err != nil {
				return err
			}
			_, err = e.sqs.PurgeQueue(ctx, &awssqs.PurgeQueueInput{QueueUrl: aws.String(q.URL)})
			if err != nil {
				_ = a.finish(ctx, "failed", map[string]any{"error": err.Error()})
				return fmt.Errorf("purge %s: %w", q.Name, err)
			}
			if err := a.finish(ctx, "ok", nil); err != nil {
				return err
			}
			if e.opts.jsonOut {
				return writeJSON(e.stdout, map[string]any{"queue": q.Name, "purged_approximately": n, "audit_id": a.ID})
			}
			fmt.Fprintf(e.stdout, "purged %s (about %d messages); audit #%d\n", q.Name, n, a.ID)
			return nil
		},
	}
	c.Flags().BoolVar(&yes, "yes", false, "confirm that every message is deleted")
	return c
}
