package sqs

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

type receiveInput struct {
	QueueUrl                    string
	AttributeNames              []string
	MessageSystemAttributeNames []string
	MessageAttributeNames       []string
	MaxNumberOfMessages         *int
	VisibilityTimeout           *int
	WaitTimeSeconds             *int
	ReceiveRequestAttemptId     string
}

type messageOut struct {
	MessageId              string
	ReceiptHandle          string
	MD5OfBody              string
	Body                   string
	Attributes             map[string]string    `json:",omitempty"`
	MD5OfMessageAttributes string               `json:",omitempty"`
	MessageAttributes      map[string]attrValue `json:",omitempty"`
}

// row is a received message as stored.
type row struct {
	id            int64
	messageID     uuid.UUID
	body          string
	attrs         map[string]attrValue
	md5Body       string
	sender        string
	trace         *string
	sourceARN     *string
	sentAt        time.Time
	receiveCount  int
	firstReceived *time.Time
	receipt       uuid.UUID
}

// receiveMessage hands out up to MaxNumberOfMessages visible messages, each
// hidden for the visibility timeout (the call's, else the queue's) and with
// its receive count incremented. With WaitTimeSeconds (the call's, else the
// queue's ReceiveMessageWaitTimeSeconds) > 0 it waits until at least one
// message is available, woken at once by a send on this server and polling
// the database every PollInterval. A message whose receive count already
// reached its queue's RedrivePolicy maxReceiveCount moves to the dead-letter
// queue instead of being delivered.
func (s *Server) receiveMessage(r *request) (any, error) {
	var in receiveInput
	q, err := s.decodeQueue(r, &in, &in.QueueUrl)
	if err != nil {
		return nil, err
	}
	n := 1
	if in.MaxNumberOfMessages != nil {
		n = *in.MaxNumberOfMessages
		if n < 1 || n > 10 {
			return nil, errInvalidParameterValue("Value %d for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.", n)
		}
	}
	vt := q.intAttr("VisibilityTimeout")
	if in.VisibilityTimeout != nil {
		vt = *in.VisibilityTimeout
		if vt < 0 || vt > 43200 {
			return nil, errInvalidParameterValue("Value %d for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200, if provided.", vt)
		}
	}
	wait := q.intAttr("ReceiveMessageWaitTimeSeconds")
	if in.WaitTimeSeconds != nil {
		wait = *in.WaitTimeSeconds
		if wait < 0 || wait > 20 {
			return nil, errInvalidParameterValue("Value %d for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.", wait)
		}
	}
	deadline := time.Now().Add(time.Duration(wait) * time.Second)
	for {
		woken := s.wake.wait(q.name)
		rows, err := s.receiveOnce(r.ctx, q, n, vt)
		if err != nil {
			return nil, err
		}
		if len(rows) > 0 {
			return s.receiveOutput(q, rows, in), nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return struct{}{}, nil
		}
		t := time.NewTimer(min(left, s.poll))
		select {
		case <-woken:
		case <-t.C:
		case <-r.ctx.Done():
			t.Stop()
			return nil, r.ctx.Err()
		case <-s.ctx.Done():
			t.Stop()
			return struct{}{}, nil
		}
		t.Stop()
		// The queue may have been changed or deleted meanwhile.
		if q, err = s.loadQueue(r.ctx, q.name); err != nil {
			return nil, err
		}
	}
}

const rowColumns = `m.id, m.message_id, m.body, m.attributes, m.md5_body, m.sender_id, m.trace_header, m.source_arn,
	m.sent_at, m.receive_count, m.first_received_at, m.receipt`

// receiveOnce moves exhausted messages to the dead-letter queue, then
// claims up to n visible messages in one statement.
func (s *Server) receiveOnce(ctx context.Context, q *queue, n, vt int) ([]row, error) {
	now := s.now()
	cutoff := retentionCutoff(q, now)
	maxCount := 1<<31 - 1
	if p, ok := q.redrive(); ok {
		active, err := s.redriveExhausted(ctx, q, p, now, cutoff)
		if err != nil {
			return nil, err
		}
		if active {
			maxCount = p.MaxReceiveCount
		}
	}
	// The candidates are a MATERIALIZED CTE: evaluated exactly once, so
	// LIMIT holds under any plan. As a subquery in FROM, a planner that
	// believed the table nearly empty made it the re-scanned inner side of
	// a nested loop, and every rescan (skipping the rows this statement had
	// just updated) claimed one more message: one receive took them all.
	rows, err := s.pool.Query(ctx, `WITH c AS MATERIALIZED (
			SELECT id FROM localaws.sqs_messages
			WHERE account_id = $1 AND queue = $2 AND visible_at <= $3 AND sent_at > $4 AND receive_count < $7
			ORDER BY visible_at, id LIMIT $5 FOR UPDATE SKIP LOCKED)
		UPDATE localaws.sqs_messages m
		SET receive_count = m.receive_count + 1, visible_at = $6, receipt = gen_random_uuid(),
		    first_received_at = coalesce(m.first_received_at, $3), received_at = $3
		FROM c WHERE m.id = c.id
		RETURNING `+rowColumns,
		s.acct, q.name, now, cutoff, n, now.Add(time.Duration(vt)*time.Second), maxCount)
	if err != nil {
		return nil, fmt.Errorf("receive: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanRow)
	if err != nil {
		return nil, fmt.Errorf("receive: %w", err)
	}
	slices.SortFunc(out, func(a, b row) int { return int(a.id - b.id) })
	return out, nil
}

func scanRow(rs pgx.CollectableRow) (row, error) {
	var m row
	err := rs.Scan(&m.id, &m.messageID, &m.body, &m.attrs, &m.md5Body, &m.sender, &m.trace, &m.sourceARN,
		&m.sentAt, &m.receiveCount, &m.firstReceived, &m.receipt)
	return m, err
}

// redriveExhausted moves the visible messages of q that were already
// received maxReceiveCount times to the dead-letter queue, keeping body,
// attributes, sender and the original SentTimestamp (AWS: "the enqueue
// timestamp is unchanged" when a message moves to a DLQ, so retention still
// counts from the original send), with a new MessageId, a receive count of
// zero and DeadLetterQueueSourceArn set. When the dead-letter queue is gone
// or its RedriveAllowPolicy no longer allows q, nothing moves and the
// messages stay deliverable. It reports whether redrive is active, that is
// whether exhausted messages must not be delivered.
func (s *Server) redriveExhausted(ctx context.Context, q *queue, p redrivePolicy, now, cutoff time.Time) (bool, error) {
	dlqName, ok := s.queueNameFromARN(p.DeadLetterTargetArn)
	if !ok || dlqName == q.name {
		return false, nil
	}
	// Exhausted messages stay undeliverable while another receive moves them.
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM localaws.sqs_messages
			WHERE account_id = $1 AND queue = $2 AND visible_at <= $3 AND sent_at > $4 AND receive_count >= $5)`,
		s.acct, q.name, now, cutoff, p.MaxReceiveCount).Scan(&exists); err != nil {
		return false, fmt.Errorf("redrive check: %w", err)
	}
	if !exists {
		return true, nil
	}
	dlq, err := s.findQueue(ctx, dlqName)
	if err != nil {
		return false, err
	}
	if dlq == nil || !dlq.allowsSource(s.queueARN(q.name)) {
		return false, nil
	}
	// The candidates are materialized for the same reason as in receiveOnce.
	tag, err := s.pool.Exec(ctx, `WITH c AS MATERIALIZED (
			SELECT id FROM localaws.sqs_messages
			WHERE account_id = $1 AND queue = $2 AND visible_at <= $3 AND sent_at > $4 AND receive_count >= $5
			ORDER BY visible_at, id LIMIT 100 FOR UPDATE SKIP LOCKED),
		moved AS (
			DELETE FROM localaws.sqs_messages m USING c WHERE m.id = c.id
			RETURNING m.*)
		INSERT INTO localaws.sqs_messages (account_id, queue, message_id, body, attributes, md5_body, md5_attributes,
			sender_id, trace_header, source_arn, sent_at, visible_at)
		SELECT account_id, $6, gen_random_uuid(), body, attributes, md5_body, md5_attributes,
			sender_id, trace_header, $7, sent_at, $3 FROM moved ORDER BY id`,
		s.acct, q.name, now, cutoff, p.MaxReceiveCount, dlqName, s.queueARN(q.name))
	if err != nil {
		return false, fmt.Errorf("move to dead-letter queue: %w", err)
	}
	if tag.RowsAffected() > 0 {
		s.wake.notify(dlqName)
	}
	return true, nil
}

var systemAttrNames = []string{
	"SenderId", "SentTimestamp", "ApproximateReceiveCount", "ApproximateFirstReceiveTimestamp",
	"AWSTraceHeader", "DeadLetterQueueSourceArn",
}

func (s *Server) receiveOutput(q *queue, rows []row, in receiveInput) any {
	wantSys := map[string]bool{}
	for _, n := range slices.Concat(in.AttributeNames, in.MessageSystemAttributeNames) {
		if n == "All" {
			for _, a := range systemAttrNames {
				wantSys[a] = true
			}
		}
		wantSys[n] = true
	}
	msgs := make([]messageOut, 0, len(rows))
	for _, m := range rows {
		out := messageOut{
			MessageId:     m.messageID.String(),
			ReceiptHandle: receipt{queue: q.name, id: m.id, token: m.receipt}.String(),
			MD5OfBody:     m.md5Body,
			Body:          m.body,
		}
		sys := map[string]string{}
		put := func(k, v string) {
			if wantSys[k] {
				sys[k] = v
			}
		}
		put("SenderId", m.sender)
		put("SentTimestamp", strconv.FormatInt(m.sentAt.UnixMilli(), 10))
		put("ApproximateReceiveCount", strconv.Itoa(m.receiveCount))
		if m.firstReceived != nil {
			put("ApproximateFirstReceiveTimestamp", strconv.FormatInt(m.firstReceived.UnixMilli(), 10))
		}
		if m.trace != nil {
			put("AWSTraceHeader", *m.trace)
		}
		if m.sourceARN != nil {
			put("DeadLetterQueueSourceArn", *m.sourceARN)
		}
		if len(sys) > 0 {
			out.Attributes = sys
		}
		if attrs := filterAttrs(m.attrs, in.MessageAttributeNames); len(attrs) > 0 {
			out.MessageAttributes = attrs
			out.MD5OfMessageAttributes = md5OfAttributes(attrs)
		}
		msgs = append(msgs, out)
	}
	return struct{ Messages []messageOut }{msgs}
}

// filterAttrs keeps the attributes named by names: "All" or ".*" keeps all,
// "prefix.*" keeps names starting with "prefix.", others match exactly.
func filterAttrs(attrs map[string]attrValue, names []string) map[string]attrValue {
	out := map[string]attrValue{}
	for k, v := range attrs {
		for _, n := range names {
			if n == "All" || n == ".*" || n == k ||
				(strings.HasSuffix(n, ".*") && strings.HasPrefix(k, strings.TrimSuffix(n, "*"))) {
				out[k] = v
				break
			}
		}
	}
	return out
}
