// Package startqueue levels the load a flash sale puts on Step Functions'
// StartExecution quota (a token bucket per account and region). When a
// start is throttled, checkout.Starter defers it here: the checkout stays
// pending, the buyer gets 202 and polls as usual, and a start message goes
// to an SQS queue that the starter function drains (a few concurrent
// invocations: it starts at the rate the quota allows, and a start still
// throttled goes back to the queue for a later try). The execution's name
// is the checkout id, so a start that happens twice is harmless.
package startqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/checkout"
)

// Message is the body of a start message.
type Message struct {
	CheckoutID string `json:"checkout_id"`
}

// Sender is the part of the SQS client SQS uses.
type Sender interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// SQS defers starts to the start queue (a checkout.Deferrer).
type SQS struct {
	Client   Sender
	QueueURL string
}

// Defer implements checkout.Deferrer: one message naming the checkout.
func (q SQS) Defer(ctx context.Context, checkoutID uuid.UUID) error {
	body, _ := json.Marshal(Message{CheckoutID: checkoutID.String()})
	if _, err := q.Client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q.QueueURL), MessageBody: aws.String(string(body))}); err != nil {
		return fmt.Errorf("startqueue: send %s: %w", checkoutID, err)
	}
	return nil
}

// Consumer drains the start queue: it starts each message's checkout with
// its Starter (which also ends it out_of_stock when the stock is gone by
// then, and does nothing for one already started or final).
type Consumer struct {
	Checkouts *checkout.Store
	// Starter starts the checkouts; it must have no Deferred, or a start
	// still throttled would be queued again instead of retried.
	Starter *checkout.Starter
	Log     *slog.Logger
	// Queue, when set, brings a message whose start failed back after
	// RetryAfter (ChangeMessageVisibility) instead of the queue's whole
	// visibility timeout: the quota refills within seconds.
	Queue      VisibilityChanger
	QueueURL   string
	RetryAfter time.Duration // default 2 s
}

// VisibilityChanger is the part of the SQS client Consumer uses to retry
// a message sooner.
type VisibilityChanger interface {
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

// Handle serves one batch (SQS event source with ReportBatchItemFailures).
// A message that names no checkout is dropped (logged: it can never
// succeed); one whose start failed, throttled or not, is reported so SQS
// redelivers it after its visibility timeout. It never returns an error.
func (c *Consumer) Handle(ctx context.Context, ev lambdaevents.SQSEvent) (lambdaevents.SQSEventResponse, error) {
	var resp lambdaevents.SQSEventResponse
	for _, rec := range ev.Records {
		if err := c.start(ctx, rec.Body); err != nil {
			var bad *badMessage
			if errors.As(err, &bad) {
				c.Log.ErrorContext(ctx, "start queue: dropping a message that names no checkout", "message_id", rec.MessageId, "err", err)
				continue
			}
			c.Log.WarnContext(ctx, "start queue: not started yet; SQS will redeliver", "message_id", rec.MessageId, "err", err)
			c.retrySoon(ctx, rec.ReceiptHandle)
			resp.BatchItemFailures = append(resp.BatchItemFailures, lambdaevents.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
		}
	}
	return resp, nil
}

// retrySoon makes a failed message visible again after RetryAfter (best
// effort: without it, the queue's visibility timeout applies).
func (c *Consumer) retrySoon(ctx context.Context, receipt string) {
	if c.Queue == nil || c.QueueURL == "" || receipt == "" {
		return
	}
	after := c.RetryAfter
	if after <= 0 {
		after = 2 * time.Second
	}
	if _, err := c.Queue.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(c.QueueURL),
		ReceiptHandle: aws.String(receipt), VisibilityTimeout: int32(after / time.Second)}); err != nil {
		c.Log.WarnContext(ctx, "start queue: could not shorten the retry; the visibility timeout applies", "err", err)
	}
}

type badMessage struct{ err error }

func (b *badMessage) Error() string { return b.err.Error() }

func (c *Consumer) start(ctx context.Context, body string) error {
	var m Message
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		return &badMessage{err}
	}
	id, err := uuid.Parse(m.CheckoutID)
	if err != nil {
		return &badMessage{fmt.Errorf("checkout_id %q: %w", m.CheckoutID, err)}
	}
	co, err := c.Checkouts.Get(ctx, id)
	if apperr.KindOf(err) == apperr.NotFound {
		return &badMessage{err}
	}
	if err != nil {
		return err
	}
	co, err = c.Starter.Start(ctx, co)
	if err != nil {
		return err
	}
	c.Log.InfoContext(ctx, "start queue: started", "checkout_id", co.ID, "status", co.Status, "execution", co.ExecutionID)
	return nil
}
