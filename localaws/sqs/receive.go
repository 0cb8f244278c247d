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
	groupID       *string
	dedupID       *string
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
	attempt := ""
	if q.fifo() && in.ReceiveRequestAttemptId != "" { // "applies only to FIFO queues"
		if err := validateToken("ReceiveRequestAttemptId", in.ReceiveRequestAttemptId); err != nil {
			return nil, err
		}
		attempt = in.ReceiveRequestAttemptId
		rows, err := s.retryAttempt(r.ctx, q, attempt, vt)
		if err != nil {
			return nil, err
		}
		if len(rows) > 0 {
			return s.receiveOutput(q, rows, in), nil
		}
	}
	deadline := time.Now().Add(time.Duration(wait) * time.Second)
	for {
		woken := s.wake.wait(q.name)
		rows, err := s.receiveOnce(r.ctx, q, n, vt, attempt)
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
	m.sent_at, m.receive_count, m.first_received_at, m.receipt, m.group_id, m.dedup_id`

// claimSet is the SET list of a receive's UPDATE ($3 now, $6 the new
// visible_at, $8 the ReceiveRequestAttemptId or NULL).
const claimSet = `SET receive_count = m.receive_count + 1, visible_at = $6, receipt = gen_random_uuid(),
		    first_received_at = coalesce(m.first_received_at, $3), received_at = $3,
		    attempt_id = $8, attempt_at = CASE WHEN $8::text IS NULL THEN NULL ELSE $3::timestamptz END`

// fairShare: a tenant of a fair queue is a noisy neighbour when it holds at
// least fairMinInFlight in-flight messages and more than 1/fairShare of all
// in-flight messages of the queue (SQS Developer Guide, "How Amazon SQS fair
// queues work": "The tenant has more than 10% of the in-flight messages in
// the queue and at least 30 of its own messages in flight").
const (
	fairShare       = 10
	fairMinInFlight = 30
)

// receiveOnce moves exhausted messages to the dead-letter queue, then
// claims up to n visible messages: on a standard queue in one statement (on
// a fair queue, quiet tenants first), on a FIFO queue in group order (see
// claimFIFO). attempt is the ReceiveRequestAttemptId of a FIFO receive.
func (s *Server) receiveOnce(ctx context.Context, q *queue, n, vt int, attempt string) ([]row, error) {
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
	var attemptArg *string
	if attempt != "" {
		attemptArg = &attempt
	}
	args := []any{s.acct, q.name, now, cutoff, n, now.Add(time.Duration(vt) * time.Second), maxCount, attemptArg}
	if q.fifo() {
		return s.claimFIFO(ctx, args)
	}
	// The candidates are a MATERIALIZED CTE: evaluated exactly once, so
	// LIMIT holds under any plan. As a subquery in FROM, a planner that
	// believed the table nearly empty made it the re-scanned inner side of
	// a nested loop, and every rescan (skipping the rows this statement had
	// just updated) claimed one more message: one receive took them all.
	candidates := `SELECT id FROM localaws.sqs_messages
			WHERE account_id = $1 AND queue = $2 AND visible_at <= $3 AND sent_at > $4 AND receive_count < $7
			ORDER BY visible_at, id LIMIT $5 FOR UPDATE SKIP LOCKED`
	if q.fair {
		// Fair queue: "Once a tenant is detected as a noisy neighbor,
		// Amazon SQS prioritizes delivering messages from quiet tenants ...
		// If multiple tenants are detected as noisy neighbors at the same
		// time, consumer instances first receive messages from the noisy
		// tenant with the fewest in-flight messages." A message without a
		// MessageGroupId is a tenant of its own, never noisy. (The
		// processing-time share is not modelled.)
		candidates = `WITH g AS (
				SELECT group_id, count(*) AS n FROM localaws.sqs_messages
				WHERE account_id = $1 AND queue = $2 AND visible_at > $3 AND receive_count > 0 AND sent_at > $4
				GROUP BY group_id),
			noisy AS (
				SELECT group_id, n FROM g
				WHERE group_id IS NOT NULL AND n >= ` + fmt.Sprint(fairMinInFlight) + ` AND n * ` + fmt.Sprint(fairShare) + ` > (SELECT sum(n) FROM g))
			SELECT m.id FROM localaws.sqs_messages m LEFT JOIN noisy ON noisy.group_id = m.group_id
			WHERE m.account_id = $1 AND m.queue = $2 AND m.visible_at <= $3 AND m.sent_at > $4 AND m.receive_count < $7
			ORDER BY noisy.n NULLS FIRST, m.visible_at, m.id LIMIT $5 FOR UPDATE OF m SKIP LOCKED`
	}
	return collectClaimed(s.bk.Query(ctx, `WITH c AS MATERIALIZED (`+candidates+`)
		UPDATE localaws.sqs_messages m `+claimSet+`
		FROM c WHERE m.id = c.id
		RETURNING `+rowColumns, args...))
}

// claimFIFO claims up to n messages of a FIFO queue, serialised per queue by
// an advisory lock: the oldest visible messages of every message group that
// has no message in flight, in sequence order. ReceiveMessage: "While
// messages with a particular MessageGroupId are invisible, no more messages
// belonging to the same MessageGroupId are returned until the visibility
// timeout expires"; SendMessage: "For each MessageGroupId, the messages are
// sorted by time sent." A message is held back while an earlier message of
// its group is not deliverable yet (delayed, or exhausted and waiting for
// the move to the dead-letter queue).
func (s *Server) claimFIFO(ctx context.Context, args []any) ([]row, error) {
	var out []row
	err := pgx.BeginFunc(ctx, s.bk, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, 0))`, args[0], args[1]); err != nil {
			return err
		}
		var err error
		out, err = collectClaimed(tx.Query(ctx, `WITH c AS MATERIALIZED (
				SELECT m.id FROM localaws.sqs_messages m
				WHERE m.account_id = $1 AND m.queue = $2 AND m.visible_at <= $3 AND m.sent_at > $4 AND m.receive_count < $7
				  AND NOT EXISTS (SELECT 1 FROM localaws.sqs_messages o
					WHERE o.account_id = m.account_id AND o.queue = m.queue AND o.group_id = m.group_id
					  AND o.id <> m.id AND o.sent_at > $4
					  AND ((o.visible_at > $3 AND (o.receive_count > 0 OR o.id < m.id)) OR (o.id < m.id AND o.receive_count >= $7)))
				ORDER BY m.id LIMIT $5 FOR UPDATE)
			UPDATE localaws.sqs_messages m `+claimSet+`
			FROM c WHERE m.id = c.id
			RETURNING `+rowColumns, args...))
		return err
	})
	return out, err
}

// retryAttempt answers a FIFO receive that repeats a ReceiveRequestAttemptId
// of the last 5 minutes with the messages it handed out, if none of them was
// deleted or had its visibility changed since, with the same receipt
// handles and their visibility timeout reset (ReceiveMessage,
// ReceiveRequestAttemptId: "During a visibility timeout, subsequent calls
// with the same ReceiveRequestAttemptId return the same messages and receipt
// handles. If a retry occurs within the deduplication interval, it resets
// the visibility timeout."). Nothing (nil) when there is no such receive.
func (s *Server) retryAttempt(ctx context.Context, q *queue, attempt string, vt int) ([]row, error) {
	now := s.now()
	return collectClaimed(s.bk.Query(ctx, `UPDATE localaws.sqs_messages m SET visible_at = $5
		WHERE account_id = $1 AND queue = $2 AND attempt_id = $3 AND attempt_at > $4::timestamptz - $6::interval AND receive_count > 0
		RETURNING `+rowColumns, s.acct, q.name, attempt, now, now.Add(time.Duration(vt)*time.Second), dedupInterval))
}

// collectClaimed reads the rows a claim returned, in sequence order.
func collectClaimed(rows pgx.Rows, err error) ([]row, error) {
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
		&m.sentAt, &m.receiveCount, &m.firstReceived, &m.receipt, &m.groupID, &m.dedupID)
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
	tag, err := s.bk.Exec(ctx, `WITH c AS MATERIALIZED (
			SELECT id FROM localaws.sqs_messages
			WHERE account_id = $1 AND queue = $2 AND visible_at <= $3 AND sent_at > $4 AND receive_count >= $5
			ORDER BY visible_at, id LIMIT 100 FOR UPDATE SKIP LOCKED),
		moved AS (
			DELETE FROM localaws.sqs_messages m USING c WHERE m.id = c.id
			RETURNING m.*)
		INSERT INTO localaws.sqs_messages (account_id, queue, message_id, body, attributes, md5_body, md5_attributes,
			sender_id, trace_header, source_arn, sent_at, visible_at, group_id, dedup_id)
		SELECT account_id, $6, gen_random_uuid(), body, attributes, md5_body, md5_attributes,
			sender_id, trace_header, $7, sent_at, $3, group_id, dedup_id FROM moved ORDER BY id`,
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
	"AWSTraceHeader", "DeadLetterQueueSourceArn", "MessageGroupId", "MessageDeduplicationId", "SequenceNumber",
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
		if m.groupID != nil {
			put("MessageGroupId", *m.groupID)
		}
		if q.fifo() {
			if m.dedupID != nil {
				put("MessageDeduplicationId", *m.dedupID)
			}
			put("SequenceNumber", sequenceNumber(m.id))
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
