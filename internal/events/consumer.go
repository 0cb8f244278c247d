package events

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/checkout-dev/checkout/internal/tracing"
)

// Delivery is one validated event as received from SQS.
type Delivery struct {
	MessageID    string
	ReceiveCount int // ApproximateReceiveCount, 0 when SQS did not say
	Event        OrderEvent
	Body         string // the message body as received
	// TraceHeader is the message's AWSTraceHeader (X-Ray form): the
	// checkout's trace, which the consumer's span continues.
	TraceHeader string
}

// Work performs a consumer's side effect for one event inside tx, the
// transaction that also claims the event id. If Work returns an error the
// transaction (claim included) is rolled back and the message is reported
// as failed, so SQS delivers it again (and after maxReceiveCount moves it to
// the dead-letter queue). Work may return a *SkipError for a condition no
// retry can fix: the claim is then committed with outcome "skipped".
type Work func(ctx context.Context, tx pgx.Tx, d Delivery) error

// BatchWork performs the side effect for every new (not yet processed)
// event of a batch in one transaction; see Work. It is not called when a
// batch has no new event.
type BatchWork func(ctx context.Context, tx pgx.Tx, ds []Delivery) error

// SkipError marks an event that is acknowledged without its side effect.
type SkipError struct{ Reason string }

func (e *SkipError) Error() string { return "skipped: " + e.Reason }

// Consumer turns an SQS batch into exactly-once side effects keyed by the
// event id: a processed_messages row (Name, event_id) is inserted in the same
// transaction as the work, so a duplicate or replayed message (new SQS
// MessageId, same event id) is acknowledged without a second side effect.
// Concurrent deliveries of one event serialise on that row's primary key.
//
// Exactly one of Work (one transaction per message) and BatchWork (one
// transaction for the batch) must be set.
type Consumer struct {
	Name      string
	Pool      *pgxpool.Pool
	Work      Work
	BatchWork BatchWork
	Log       *slog.Logger
	// Fault, when set, runs before the work of each valid event; an error
	// fails that message as if the work had failed (a test and dev hook,
	// see FailFirst).
	Fault func(d Delivery) error
}

// Handle is the Lambda handler (SQS event source with
// ReportBatchItemFailures). It never returns an error, so one message never
// fails its batch: every message that was not processed (invalid body, work
// error, fault, deadline reached) is listed in BatchItemFailures by
// MessageId; the others, duplicates included, are acknowledged. Reasons are
// logged with the message id and stored in consumer_failures.
func (c *Consumer) Handle(ctx context.Context, in lambdaevents.SQSEvent) (lambdaevents.SQSEventResponse, error) {
	var resp lambdaevents.SQSEventResponse
	fail := func(id string) {
		resp.BatchItemFailures = append(resp.BatchItemFailures, lambdaevents.SQSBatchItemFailure{ItemIdentifier: id})
	}
	var valid []Delivery
	for _, m := range in.Records {
		ev, err := Decode([]byte(m.Body))
		if err != nil {
			c.failed(ctx, m.MessageId, "", m.Body, err)
			fail(m.MessageId)
			continue
		}
		rc, _ := strconv.Atoi(m.Attributes["ApproximateReceiveCount"])
		valid = append(valid, Delivery{MessageID: m.MessageId, ReceiveCount: rc, Event: ev, Body: m.Body,
			TraceHeader: m.Attributes["AWSTraceHeader"]})
	}
	if c.BatchWork != nil {
		spans := make(map[string]trace.Span, len(valid))
		for _, d := range valid {
			_, spans[d.MessageID] = c.span(ctx, d)
		}
		failed := c.processBatch(ctx, valid)
		for _, id := range failed {
			fail(id)
			spans[id].SetStatus(codes.Error, "not processed")
		}
		for _, sp := range spans {
			sp.End()
		}
		return resp, nil
	}
	for _, d := range valid {
		sctx, span := c.span(ctx, d)
		err := c.processOne(sctx, d)
		if err != nil {
			c.failed(ctx, d.MessageID, d.Event.EventID, d.Body, err)
			fail(d.MessageID)
		}
		tracing.End(span, err)
	}
	return resp, nil
}

// span starts the span of one delivery, continuing the checkout's trace
// from the message's AWSTraceHeader.
func (c *Consumer) span(ctx context.Context, d Delivery) (context.Context, trace.Span) {
	ctx = tracing.WithXRayHeader(ctx, d.TraceHeader)
	return tracing.Tracer().Start(ctx, "consume "+c.Name, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(tracing.AttrService.String("consumer:"+c.Name), tracing.AttrCheckoutID.String(d.Event.Order.CheckoutID),
			attribute.String("messaging.message.id", d.MessageID), attribute.String("checkout.event_id", d.Event.EventID)))
}

func (c *Consumer) logger() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.Default()
}

// processOne claims and works one event in its own transaction. A nil
// return means the message can be deleted.
func (c *Consumer) processOne(ctx context.Context, d Delivery) error {
	fresh := false
	err := c.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if fresh, err = claim(ctx, tx, c.Name, d); err != nil {
			return err
		}
		if !fresh {
			c.logger().InfoContext(ctx, "duplicate event acknowledged", "consumer", c.Name,
				"message_id", d.MessageID, "event_id", d.Event.EventID)
			return nil
		}
		if c.Fault != nil {
			if err := c.Fault(d); err != nil {
				return err
			}
		}
		err = c.Work(ctx, tx, d)
		var skip *SkipError
		if err == nil || !errors.As(err, &skip) {
			return err
		}
		c.logger().WarnContext(ctx, "event skipped", "consumer", c.Name, "message_id", d.MessageID,
			"event_id", d.Event.EventID, "reason", skip.Reason)
		if _, err := tx.Exec(ctx, `UPDATE processed_messages SET outcome = 'skipped' WHERE consumer = $1 AND event_id = $2`,
			c.Name, d.Event.EventID); err != nil {
			return fmt.Errorf("mark skipped: %w", err)
		}
		return nil
	})
	if err == nil && fresh {
		c.logger().InfoContext(ctx, "event processed", "consumer", c.Name, "message_id", d.MessageID,
			"event_id", d.Event.EventID, "order_id", d.Event.Order.OrderID)
	}
	return err
}

// processBatch claims every event of ds in one transaction and runs
// BatchWork on the new ones. It returns the message ids that failed.
func (c *Consumer) processBatch(ctx context.Context, ds []Delivery) (failed []string) {
	if len(ds) == 0 {
		return nil
	}
	var ok []Delivery
	for _, d := range ds {
		if c.Fault != nil {
			if err := c.Fault(d); err != nil {
				c.failed(ctx, d.MessageID, d.Event.EventID, d.Body, err)
				failed = append(failed, d.MessageID)
				continue
			}
		}
		ok = append(ok, d)
	}
	if len(ok) == 0 {
		return failed
	}
	var fresh []Delivery
	err := c.inTx(ctx, func(tx pgx.Tx) error {
		for _, d := range ok {
			isNew, err := claim(ctx, tx, c.Name, d)
			if err != nil {
				return err
			}
			if isNew {
				fresh = append(fresh, d)
			} else {
				c.logger().InfoContext(ctx, "duplicate event acknowledged", "consumer", c.Name,
					"message_id", d.MessageID, "event_id", d.Event.EventID)
			}
		}
		if len(fresh) > 0 {
			return c.BatchWork(ctx, tx, fresh)
		}
		return nil
	})
	if err != nil {
		for _, d := range ok {
			c.failed(ctx, d.MessageID, d.Event.EventID, d.Body, err)
			failed = append(failed, d.MessageID)
		}
		return failed
	}
	c.logger().InfoContext(ctx, "batch processed", "consumer", c.Name, "events", len(fresh),
		"duplicates", len(ok)-len(fresh))
	return failed
}

// inTx runs fn in one transaction and commits when it returns nil. It does
// not start once ctx is done; a panic in fn becomes an error; the rollback
// of a failed attempt runs even when ctx is cancelled, so the connection
// goes back to the pool clean.
func (c *Consumer) inTx(ctx context.Context, fn func(tx pgx.Tx) error) (err error) {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("not attempted: %w", err)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic in %s consumer: %v", c.Name, r)
		}
	}()
	tx, err := c.Pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// claim inserts the (consumer, event) row; false means the event was
// processed before (or by a concurrent transaction that committed first).
func claim(ctx context.Context, tx pgx.Tx, consumer string, d Delivery) (bool, error) {
	tag, err := tx.Exec(ctx, `INSERT INTO processed_messages (consumer, event_id, message_id)
		VALUES ($1, $2, $3) ON CONFLICT (consumer, event_id) DO NOTHING`, consumer, d.Event.EventID, d.MessageID)
	if err != nil {
		return false, fmt.Errorf("claim event %s: %w", d.Event.EventID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// failed logs why a message was not processed and records it in
// consumer_failures with its body's SHA-256 and whether it can never
// succeed (an invalid event: permanent). Best effort: a database outage only
// loses the note.
func (c *Consumer) failed(ctx context.Context, messageID, eventID, body string, reason error) {
	c.logger().WarnContext(ctx, "message not processed", "consumer", c.Name, "message_id", messageID,
		"event_id", eventID, "reason", reason.Error(), "invalid", IsValidationError(reason))
	if c.Pool == nil {
		return
	}
	var ev any
	if eventID != "" {
		ev = eventID
	}
	sum := sha256.Sum256([]byte(body))
	_, err := c.Pool.Exec(context.WithoutCancel(ctx), `INSERT INTO consumer_failures (consumer, message_id, event_id, reason, body_sha256, permanent)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (consumer, message_id) DO UPDATE
		SET reason = EXCLUDED.reason, event_id = COALESCE(EXCLUDED.event_id, consumer_failures.event_id),
		    body_sha256 = EXCLUDED.body_sha256, permanent = EXCLUDED.permanent,
		    attempts = consumer_failures.attempts + 1, last_at = now()`,
		c.Name, messageID, ev, truncate(reason.Error(), 2000), hex.EncodeToString(sum[:]), IsValidationError(reason))
	if err != nil {
		c.logger().ErrorContext(ctx, "record consumer failure", "consumer", c.Name, "message_id", messageID, "err", err)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
