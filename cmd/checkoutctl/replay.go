package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/spf13/cobra"
)

// replayVisibility hides a message being replayed long enough for its send
// and delete; if checkoutctl dies, the message reappears in the DLQ.
const replayVisibility = 120

type replayOpts struct {
	ids        []string
	all        bool
	dryRun     bool
	rate       float64
	to         string
	noMoveTask bool
	force      bool
	poll       time.Duration
}

// replayResult is the summary of a replay (printed, and --json).
type replayResult struct {
	Queue       string   `json:"queue"`
	Destination string   `json:"destination"`
	Mode        string   `json:"mode"` // "move-task" or "receive-send-delete"
	DryRun      bool     `json:"dry_run"`
	Replayed    int      `json:"replayed"`
	Failed      int      `json:"failed"`
	Errors      []string `json:"errors,omitempty"`
	MessageIDs  []string `json:"message_ids"`
	NotFound    []string `json:"not_found,omitempty"`
	// SkippedPermanent are the messages left in the DLQ because they cannot
	// succeed on retry (--force replays them too).
	SkippedPermanent []string `json:"skipped_permanent,omitempty"`
	TaskHandle       string   `json:"task_handle,omitempty"`
	Interrupted      bool     `json:"interrupted,omitempty"`
	AuditID          int64    `json:"audit_id,omitempty"`
}

func newDLQReplay(e *env) *cobra.Command {
	o := replayOpts{poll: time.Second}
	c := &cobra.Command{
		Use:   "replay QUEUE (--all | --id ID ...)",
		Short: "Send dead-lettered messages back to their source queue (audited)",
		Long: `Move messages of the dead-letter queue QUEUE back to its source queue
(ListDeadLetterSourceQueues; --to when there are several).

checkoutctl receives each message, sends a copy (body and attributes) to the
source queue and deletes the original only after the send is confirmed: a
crash may duplicate a message, never lose it (the consumers are idempotent on
the event id). A message that cannot succeed on retry (its body is not a
valid event; "Permanent" in dlq show) stays in the DLQ unless --force. With
--all --force and a server that supports it, SQS moves every message itself
(StartMessageMoveTask, followed until it completes). The operation, its
message ids and its outcome are recorded in ops_audit. Exit code 1 if any
message failed or an --id was not found.`,
		Example: `  checkoutctl dlq replay notification-dlq --all
  checkoutctl dlq replay shipping-dlq --id 0f8e... --id 77ab... --actor alice
  checkoutctl dlq replay analytics-dlq --all --dry-run
  checkoutctl dlq replay analytics-dlq --all --rate 20`,
		Args: exactArgs(1, "a QUEUE (name or URL)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.all == (len(o.ids) > 0) {
				return usagef("say which messages to replay: --all, or one or more --id")
			}
			if o.rate < 0 {
				return usagef("--rate must be positive")
			}
			res, err := e.replay(cmd.Context(), args[0], o)
			if res != nil {
				if e.opts.jsonOut {
					if werr := writeJSON(e.stdout, res); werr != nil && err == nil {
						err = werr
					}
				} else {
					printReplay(e, res)
				}
			}
			return err
		},
	}
	f := c.Flags()
	f.StringSliceVar(&o.ids, "id", nil, "message id to replay (repeatable)")
	f.BoolVar(&o.all, "all", false, "replay every message")
	f.BoolVar(&o.dryRun, "dry-run", false, "list what would be replayed, change nothing")
	f.Float64Var(&o.rate, "rate", 0, "at most N messages per second (0: no limit)")
	f.StringVar(&o.to, "to", "", "destination queue when the DLQ has several sources")
	f.BoolVar(&o.noMoveTask, "no-move-task", false, "always receive/send/delete, even where StartMessageMoveTask exists")
	f.BoolVar(&o.force, "force", false, "replay messages that cannot succeed on retry too (and, with --all, let SQS move everything)")
	return c
}

func printReplay(e *env, r *replayResult) {
	verb := "replayed"
	if r.DryRun {
		verb = "would replay"
	}
	fmt.Fprintf(e.stdout, "%s %d messages from %s to %s (%s)", verb, r.Replayed, r.Queue, r.Destination, r.Mode)
	if r.Failed > 0 {
		fmt.Fprintf(e.stdout, ", %d failed", r.Failed)
	}
	if r.AuditID != 0 {
		fmt.Fprintf(e.stdout, "; audit #%d", r.AuditID)
	}
	fmt.Fprintln(e.stdout)
	if r.DryRun {
		for _, id := range r.MessageIDs {
			fmt.Fprintf(e.stdout, "  %s\n", id)
		}
	}
	for _, s := range r.Errors {
		fmt.Fprintf(e.stdout, "  error: %s\n", s)
	}
	if len(r.NotFound) > 0 {
		fmt.Fprintf(e.stdout, "  not found: %s\n", strings.Join(r.NotFound, ", "))
	}
	if n := len(r.SkippedPermanent); n > 0 {
		fmt.Fprintf(e.stdout, "  left in the DLQ: %d messages that cannot succeed on retry (%s); --force replays them anyway\n",
			n, strings.Join(r.SkippedPermanent, ", "))
	}
	if r.Interrupted {
		fmt.Fprintln(e.stdout, "  interrupted: the messages not yet replayed are still in the dead-letter queue")
	}
}

// replay runs `dlq replay`. It returns a result whenever the replay
// started, even with an error.
func (e *env) replay(ctx context.Context, arg string, o replayOpts) (*replayResult, error) {
	dlq, err := e.resolveQueue(ctx, arg)
	if err != nil {
		return nil, err
	}
	dest, err := e.replayDestination(ctx, dlq, o.to)
	if err != nil {
		return nil, err
	}
	res := &replayResult{Queue: dlq.Name, Destination: dest.Name, DryRun: o.dryRun, MessageIDs: []string{}}
	var a *audit
	if !o.dryRun {
		pool, err := e.auditDB(ctx, "replay "+dlq.Name)
		if err != nil {
			return nil, err
		}
		detail := map[string]any{"destination": dest.Name, "requested_ids": o.ids, "all": o.all}
		if a, err = startAudit(ctx, pool, e.actor(ctx), "dlq.replay", dlq.Name, "", detail); err != nil {
			return nil, err
		}
		res.AuditID = a.ID
	}
	total := dlq.intAttr("ApproximateNumberOfMessages")
	if len(o.ids) > 0 {
		total = len(o.ids)
	}
	prog := newProgress(e.stderr, total, "replay "+dlq.Name)
	// A move task moves everything: only with --force, which also sends
	// back the messages that cannot succeed.
	if o.all && !o.dryRun && !o.noMoveTask && o.force {
		res.Mode = "move-task"
		err = e.moveTask(ctx, dlq, dest, o, res, prog)
		if err != nil && errors.Is(err, errMoveTaskUnsupported) {
			fmt.Fprintf(e.stderr, "checkoutctl: the server does not support StartMessageMoveTask; moving messages one by one\n")
			err = nil
			res.Mode = ""
		}
	}
	if res.Mode == "" {
		res.Mode = "receive-send-delete"
		err = e.replayByCopy(ctx, dlq, dest, o, res, a, prog)
	}
	prog.Finish()
	if ctx.Err() != nil {
		res.Interrupted = true
	}
	if a != nil {
		outcome := "ok"
		switch {
		case res.Interrupted:
			outcome = "interrupted"
		case err != nil && res.Replayed == 0:
			outcome = "failed"
		case err != nil || res.Failed > 0 || len(res.NotFound) > 0:
			outcome = "partial"
		}
		detail := map[string]any{"mode": res.Mode, "replayed": res.Replayed, "failed": res.Failed,
			"not_found": res.NotFound, "errors": res.Errors, "skipped_permanent": res.SkippedPermanent, "force": o.force}
		if res.TaskHandle != "" {
			detail["task_handle"] = res.TaskHandle
		}
		if aerr := a.finish(ctx, outcome, detail); aerr != nil && err == nil {
			err = aerr
		}
	}
	switch {
	case err != nil:
		return res, err
	case res.Interrupted:
		return res, errors.New("interrupted")
	case res.Failed > 0:
		return res, fmt.Errorf("%d messages could not be replayed", res.Failed)
	case len(res.NotFound) > 0:
		return res, fmt.Errorf("%d message ids not found in %s", len(res.NotFound), dlq.Name)
	}
	return res, nil
}

// replayDestination picks the queue messages go back to.
func (e *env) replayDestination(ctx context.Context, dlq queue, to string) (queue, error) {
	if to != "" {
		return e.resolveQueue(ctx, to)
	}
	srcs, err := e.sources(ctx, dlq)
	if err != nil {
		return queue{}, err
	}
	switch len(srcs) {
	case 0:
		return queue{}, fmt.Errorf("no queue dead-letters into %s; pass --to QUEUE", dlq.Name)
	case 1:
		return srcs[0], nil
	}
	var names []string
	for _, s := range srcs {
		names = append(names, s.Name)
	}
	return queue{}, usagef("%s has several source queues (%s): pass --to QUEUE", dlq.Name, strings.Join(names, ", "))
}

// limiter spaces sends to at most rate messages per second.
type limiter struct {
	rate  float64
	start time.Time
	sent  int
}

func (l *limiter) wait(ctx context.Context, n int) error {
	if l.rate <= 0 {
		return nil
	}
	if l.start.IsZero() {
		l.start = time.Now()
	}
	due := l.start.Add(time.Duration(float64(l.sent) / l.rate * float64(time.Second)))
	l.sent += n
	if d := time.Until(due); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// replayByCopy moves messages by receive → send → delete. The delete runs
// only for messages whose send SQS confirmed; a cancelled context stops
// receiving, but a confirmed send is still followed by its delete.
func (e *env) replayByCopy(ctx context.Context, dlq, dest queue, o replayOpts, res *replayResult, a *audit, prog progress) error {
	want := map[string]bool{}
	for _, id := range o.ids {
		want[id] = true
	}
	found := map[string]bool{}
	lim := &limiter{rate: o.rate}
	batchSize := 10
	if o.rate > 0 && o.rate < 10 {
		batchSize = max(1, int(o.rate))
	}
	var held []types.Message
	defer func() {
		if err := e.release(ctx, dlq, held); err != nil {
			res.Errors = append(res.Errors, err.Error())
		}
	}()
	seen := map[string]bool{}
	emptyRetries := 0
	for {
		if ctx.Err() != nil {
			return nil
		}
		if len(want) > 0 && len(found) == len(want) {
			break
		}
		msgs, err := e.receive(ctx, dlq, int32(batchSize), replayVisibility)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if len(msgs) == 0 && len(want) == 0 && emptyRetries < 5 && e.stillVisible(ctx, dlq) {
			// A receive can come back empty while messages are visible
			// (SQS says so for short polls; a loaded server, too): the
			// queue's own count decides, a few times.
			emptyRetries++
			continue
		}
		if len(msgs) == 0 {
			break
		}
		var take []types.Message
		fresh := 0
		for _, m := range msgs {
			id := aws.ToString(m.MessageId)
			if !seen[id] {
				fresh++
			}
			seen[id] = true
			if (len(want) > 0 && !want[id]) || (len(want) > 0 && found[id]) {
				held = append(held, m)
				continue
			}
			found[id] = true
			take = append(take, m)
		}
		if !o.force {
			var skip []types.Message
			take, skip = e.splitPermanent(ctx, take)
			held = append(held, skip...)
			for _, m := range skip {
				res.SkippedPermanent = append(res.SkippedPermanent, aws.ToString(m.MessageId))
			}
		}
		if o.dryRun {
			held = append(held, take...)
			for _, m := range take {
				res.MessageIDs = append(res.MessageIDs, aws.ToString(m.MessageId))
			}
			res.Replayed += len(take)
			prog.Set(res.Replayed)
			if fresh == 0 {
				break
			}
			continue
		}
		if len(take) > 0 {
			if err := lim.wait(ctx, len(take)); err != nil {
				held = append(held, take...)
				return nil
			}
			held = append(held, e.copyBatch(ctx, dlq, dest, take, res, a)...)
			prog.Set(res.Replayed)
		}
		if fresh == 0 {
			break // everything visible was seen: the rest is held or gone
		}
	}
	for id := range want {
		if !found[id] {
			res.NotFound = append(res.NotFound, id)
		}
	}
	sort.Strings(res.NotFound)
	return nil
}

// stillVisible reports whether q's ApproximateNumberOfMessages is above
// zero (false when it cannot be read).
func (e *env) stillVisible(ctx context.Context, q queue) bool {
	d, err := e.describe(ctx, q.URL)
	return err == nil && d.intAttr("ApproximateNumberOfMessages") > 0
}

// splitPermanent separates the messages that cannot succeed on retry (the
// body is not a valid event, or a consumer recorded its failure as
// permanent) from the rest.
func (e *env) splitPermanent(ctx context.Context, msgs []types.Message) (retry, permanent []types.Message) {
	views := make([]messageView, len(msgs))
	for i, m := range msgs {
		views[i] = viewOf(m)
	}
	e.withReasons(ctx, views)
	for i, m := range msgs {
		if views[i].Permanent {
			permanent = append(permanent, m)
		} else {
			retry = append(retry, m)
		}
	}
	return retry, permanent
}

// copyBatch sends msgs to dest and deletes from dlq those whose send
// succeeded. It returns the messages to make visible again in the DLQ.
func (e *env) copyBatch(ctx context.Context, dlq, dest queue, msgs []types.Message, res *replayResult, a *audit) (keep []types.Message) {
	entries := make([]types.SendMessageBatchRequestEntry, len(msgs))
	for i, m := range msgs {
		attrs := map[string]types.MessageAttributeValue{}
		for k, v := range m.MessageAttributes {
			attrs[k] = types.MessageAttributeValue{DataType: v.DataType, StringValue: v.StringValue, BinaryValue: v.BinaryValue}
		}
		if _, ok := attrs["replayed_from"]; !ok && len(attrs) < 10 {
			attrs["replayed_from"] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(dlq.Name)}
		}
		entries[i] = types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: m.Body, MessageAttributes: attrs}
	}
	out, err := e.sqs.SendMessageBatch(ctx, &awssqs.SendMessageBatchInput{QueueUrl: aws.String(dest.URL), Entries: entries})
	if err != nil {
		// Unknown whether anything was sent: keep every original (a
		// later replay may duplicate, nothing is lost).
		res.Failed += len(msgs)
		res.Errors = append(res.Errors, fmt.Sprintf("send to %s: %v", dest.Name, err))
		return msgs
	}
	var sent []types.Message
	var sentIDs []string
	for _, s := range out.Successful {
		i, _ := strconv.Atoi(aws.ToString(s.Id))
		sent = append(sent, msgs[i])
		sentIDs = append(sentIDs, aws.ToString(msgs[i].MessageId))
	}
	for _, f := range out.Failed {
		i, _ := strconv.Atoi(aws.ToString(f.Id))
		keep = append(keep, msgs[i])
		res.Failed++
		res.Errors = append(res.Errors, fmt.Sprintf("send %s: %s %s", aws.ToString(msgs[i].MessageId), aws.ToString(f.Code), aws.ToString(f.Message)))
	}
	if a != nil {
		if err := a.addIDs(ctx, sentIDs); err != nil {
			res.Errors = append(res.Errors, err.Error())
		}
	}
	res.MessageIDs = append(res.MessageIDs, sentIDs...)
	res.Replayed += len(sent)
	if len(sent) == 0 {
		return keep
	}
	// The copies are safely in dest: delete the originals even if the
	// command is being cancelled, so a stop does not leave duplicates.
	dctx, cancel := bg(ctx)
	defer cancel()
	del := make([]types.DeleteMessageBatchRequestEntry, len(sent))
	for i, m := range sent {
		del[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle}
	}
	dout, err := e.sqs.DeleteMessageBatch(dctx, &awssqs.DeleteMessageBatchInput{QueueUrl: aws.String(dlq.URL), Entries: del})
	if err != nil {
		res.Errors = append(res.Errors, fmt.Sprintf("delete from %s (the copies were sent; originals reappear and may be replayed twice): %v", dlq.Name, err))
		return keep
	}
	for _, f := range dout.Failed {
		res.Errors = append(res.Errors, fmt.Sprintf("delete %s: %s", aws.ToString(f.Id), aws.ToString(f.Message)))
	}
	return keep
}

var errMoveTaskUnsupported = errors.New("StartMessageMoveTask unsupported")

// moveTask lets SQS move every message (StartMessageMoveTask) and follows
// the task until it ends. On cancellation the task keeps running on the
// server.
func (e *env) moveTask(ctx context.Context, dlq, dest queue, o replayOpts, res *replayResult, prog progress) error {
	in := &awssqs.StartMessageMoveTaskInput{SourceArn: aws.String(dlq.ARN), DestinationArn: aws.String(dest.ARN)}
	if o.rate > 0 {
		in.MaxNumberOfMessagesPerSecond = aws.Int32(int32(max(1, o.rate)))
	}
	out, err := e.sqs.StartMessageMoveTask(ctx, in)
	if err != nil {
		if isUnsupported(err) {
			return errMoveTaskUnsupported
		}
		return fmt.Errorf("start message move task: %w", err)
	}
	res.TaskHandle = aws.ToString(out.TaskHandle)
	t := time.NewTicker(o.poll)
	defer t.Stop()
	for {
		lt, err := e.sqs.ListMessageMoveTasks(ctx, &awssqs.ListMessageMoveTasksInput{SourceArn: aws.String(dlq.ARN), MaxResults: aws.Int32(10)})
		if err != nil {
			if ctx.Err() != nil {
				fmt.Fprintf(e.stderr, "checkoutctl: the move task %s continues on the server\n", res.TaskHandle)
				return nil
			}
			return fmt.Errorf("list message move tasks: %w", err)
		}
		var task *types.ListMessageMoveTasksResultEntry
		for i := range lt.Results {
			if aws.ToString(lt.Results[i].TaskHandle) == res.TaskHandle || (task == nil && i == 0) {
				task = &lt.Results[i]
			}
		}
		if task != nil {
			res.Replayed = int(task.ApproximateNumberOfMessagesMoved)
			prog.Set(res.Replayed)
			switch aws.ToString(task.Status) {
			case "COMPLETED":
				return nil
			case "FAILED", "CANCELLED", "CANCELLING":
				return fmt.Errorf("move task %s: %s %s", res.TaskHandle, aws.ToString(task.Status), aws.ToString(task.FailureReason))
			}
		}
		select {
		case <-ctx.Done():
			fmt.Fprintf(e.stderr, "checkoutctl: the move task %s continues on the server\n", res.TaskHandle)
			return nil
		case <-t.C:
		}
	}
}
