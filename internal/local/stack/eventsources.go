package stack

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/checkout-dev/checkout/internal/backoff"
	"github.com/checkout-dev/checkout/internal/events/analytics"
	"github.com/checkout-dev/checkout/internal/events/shipping"
	"github.com/checkout-dev/checkout/internal/execution"
	"github.com/checkout-dev/checkout/internal/notify"
	"github.com/checkout-dev/checkout/internal/reconcile"
	"github.com/checkout-dev/checkout/internal/startqueue"
	"github.com/checkout-dev/checkout/localaws/sam"
)

// SQSHandler is an SQS-triggered function.
type SQSHandler func(ctx context.Context, ev lambdaevents.SQSEvent) (lambdaevents.SQSEventResponse, error)

// startEventSources runs, for every function with an SQS event, a poller
// that behaves like Lambda's event source mapping: receive up to BatchSize
// messages, invoke the function with an events.SQSEvent, delete what it
// processed. With ReportBatchItemFailures only the reported messages stay
// (they come back after the visibility timeout and, past maxReceiveCount,
// go to the DLQ); without it, an error keeps the whole batch.
func (s *Stack) startEventSources(ctx context.Context) error {
	consumers := map[string]func(fn *sam.Function) (SQSHandler, error){
		"notification": func(*sam.Function) (SQSHandler, error) {
			return notify.NewConsumer(s.db.Pool, &notify.Notifier{Sender: notify.Outbox{}, From: "orders@checkout.local"},
				s.log.With("function", "notification")).Handle, nil
		},
		"shipping": func(*sam.Function) (SQSHandler, error) {
			return shipping.NewConsumer(s.db.Pool, s.log.With("function", "shipping")).Handle, nil
		},
		"analytics": func(*sam.Function) (SQSHandler, error) {
			return analytics.NewConsumer(s.db.Pool, filepath.Join(s.opts.DataDir, "analytics"), s.log.With("function", "analytics")).Handle, nil
		},
		"starter": func(fn *sam.Function) (SQSHandler, error) {
			url, err := s.envQueueURL(fn, "START_QUEUE_URL")
			if err != nil {
				return nil, err
			}
			c := &startqueue.Consumer{Checkouts: s.core.Checkouts,
				Starter: s.core.Starter(execution.SFN{Client: s.sfnClient(), StateMachineARN: s.StateMachineARN}, nil),
				Log:     s.log.With("function", "starter"), Queue: s.sqsCli, QueueURL: url}
			return c.Handle, nil
		},
		"payment-reconciler": func(fn *sam.Function) (SQSHandler, error) {
			url, err := s.envQueueURL(fn, "MANUAL_REVIEW_QUEUE_URL")
			if err != nil {
				return nil, err
			}
			events, err := s.envQueueURL(fn, "PAYMENT_EVENTS_QUEUE_URL")
			if err != nil {
				return nil, err
			}
			rec := s.core.Reconciler(reconcile.SQSReviewer{Client: s.sqsCli, QueueURL: url}, s.log.With("function", "payment-reconciler"))
			rec.Requeue = reconcile.SQSRequeuer{Client: s.sqsCli, QueueURL: events}
			return rec.Handle, nil
		},
	}
	for _, fn := range s.tpl.Functions {
		for _, ev := range fn.Events {
			if ev.SQS == nil || !ev.SQS.Enabled {
				continue
			}
			build := consumers[fn.Name]
			if build == nil {
				return fmt.Errorf("function %s (%s) has an SQS event but no local handler", fn.LogicalID, fn.CodeURI)
			}
			h, err := build(fn)
			if err != nil {
				return err
			}
			url := s.queueURL[ev.SQS.Queue]
			if url == "" {
				return fmt.Errorf("function %s: no queue %s", fn.LogicalID, ev.SQS.Queue)
			}
			src := &eventSource{stack: s, fn: fn, ev: ev.SQS, url: url, arn: queueARN(s.tpl.Queues[ev.SQS.Queue].Name), handle: h}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				src.run(ctx)
			}()
		}
	}
	return nil
}

type eventSource struct {
	stack    *Stack
	fn       *sam.Function
	ev       *sam.SQSEvent
	url, arn string
	handle   SQSHandler
}

func (e *eventSource) run(ctx context.Context) {
	batch := e.ev.BatchSize
	if batch <= 0 || batch > 10 {
		batch = 10
	}
	for ctx.Err() == nil {
		out, err := e.stack.sqsCli.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{
			QueueUrl: aws.String(e.url), MaxNumberOfMessages: int32(batch), WaitTimeSeconds: 2,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
			MessageAttributeNames:       []string{"All"},
		})
		if err != nil {
			if ctx.Err() == nil {
				e.stack.log.Error("event source: receive", "function", e.fn.LogicalID, "err", err)
				_ = backoff.Sleep(ctx, time.Second)
			}
			continue
		}
		// Lambda hands a function at most BatchSize messages per
		// invocation, whatever a receive returned.
		for msgs := out.Messages; len(msgs) > 0; {
			n := min(len(msgs), batch)
			e.invoke(ctx, msgs[:n])
			msgs = msgs[n:]
		}
	}
}

func (e *eventSource) invoke(ctx context.Context, msgs []types.Message) {
	ev := lambdaevents.SQSEvent{}
	for _, m := range msgs {
		r := lambdaevents.SQSMessage{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle),
			Body: aws.ToString(m.Body), Md5OfBody: aws.ToString(m.MD5OfBody), EventSource: "aws:sqs",
			EventSourceARN: e.arn, AWSRegion: Region, Attributes: map[string]string{},
			MessageAttributes: map[string]lambdaevents.SQSMessageAttribute{}}
		for k, v := range m.Attributes {
			r.Attributes[k] = v
		}
		for k, v := range m.MessageAttributes {
			r.MessageAttributes[k] = lambdaevents.SQSMessageAttribute{DataType: aws.ToString(v.DataType), StringValue: v.StringValue, BinaryValue: v.BinaryValue}
		}
		ev.Records = append(ev.Records, r)
	}
	timeout := e.fn.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	callCtx, cancel := context.WithTimeout(ctx, timeout)
	resp, err := e.handle(callCtx, ev)
	cancel()
	if err != nil {
		e.stack.log.Warn("event source: batch failed; messages return after the visibility timeout", "function", e.fn.LogicalID, "messages", len(msgs), "err", err)
		return
	}
	failed := map[string]bool{}
	if e.ev.ReportsBatchItemFailures() {
		for _, f := range resp.BatchItemFailures {
			failed[f.ItemIdentifier] = true
		}
	}
	var entries []types.DeleteMessageBatchRequestEntry
	for i, m := range msgs {
		if !failed[aws.ToString(m.MessageId)] {
			entries = append(entries, types.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: m.ReceiptHandle})
		}
	}
	if len(failed) > 0 {
		e.stack.log.Warn("event source: partial batch failure", "function", e.fn.LogicalID, "failed", len(failed), "of", len(msgs))
	}
	if len(entries) == 0 {
		return
	}
	if _, err := e.stack.sqsCli.DeleteMessageBatch(ctx, &awssqs.DeleteMessageBatchInput{QueueUrl: aws.String(e.url), Entries: entries}); err != nil && ctx.Err() == nil {
		e.stack.log.Error("event source: delete", "function", e.fn.LogicalID, "err", err)
	}
}
