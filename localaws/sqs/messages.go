package sqs

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// sendEntry is one message of SendMessage or SendMessageBatch.
type sendEntry struct {
	Id                      string
	MessageBody             *string
	DelaySeconds            *int
	MessageAttributes       map[string]attrValue
	MessageSystemAttributes map[string]attrValue
	MessageDeduplicationId  *string
	MessageGroupId          *string
}

// prepared is a validated message ready to insert.
type prepared struct {
	id          uuid.UUID
	body        string
	attrs       map[string]attrValue
	md5Body     string
	md5Attrs    string
	md5SysAttrs string
	traceHeader *string
	delay       int
	groupID     *string // MessageGroupId (FIFO and fair queues)
	dedupID     *string // MessageDeduplicationId, given or content-based (FIFO)
	seq         int64   // FIFO: the stored row's id, set by insert
}

type sendResult struct {
	MD5OfMessageBody             string
	MD5OfMessageAttributes       string `json:",omitempty"`
	MD5OfMessageSystemAttributes string `json:",omitempty"`
	MessageId                    string
	SequenceNumber               string `json:",omitempty"`
}

// result is the send response for p once it is stored.
func (p prepared) result() sendResult {
	r := sendResult{MD5OfMessageBody: p.md5Body, MD5OfMessageAttributes: p.md5Attrs,
		MD5OfMessageSystemAttributes: p.md5SysAttrs, MessageId: p.id.String()}
	if p.seq > 0 {
		r.SequenceNumber = sequenceNumber(p.seq)
	}
	return r
}

// sequenceNumber is the SequenceNumber of a FIFO message: "a large,
// non-consecutive number that Amazon SQS assigns to each message", here
// derived from the row id so that it grows with every send of the queue.
func sequenceNumber(id int64) string {
	return strconv.FormatUint(1e19+uint64(id), 10)
}

// fifoTokenRE is the form of MessageGroupId, MessageDeduplicationId and
// ReceiveRequestAttemptId: "up to 128 characters ... alphanumeric characters
// and punctuation (!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~)".
var fifoTokenRE = regexp.MustCompile("^[A-Za-z0-9!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~]{1,128}$")

func validateToken(param, v string) error {
	if !fifoTokenRE.MatchString(v) {
		return errInvalidParameterValue("Value %s for parameter %s is invalid. Reason: %s can only include alphanumeric and punctuation characters. 1 to 128 in length.", v, param, param)
	}
	return nil
}

// prepare validates e against q the way SendMessage documents it.
func prepare(q *queue, e sendEntry) (prepared, error) {
	if e.MessageBody == nil || *e.MessageBody == "" {
		return prepared{}, errMissingParameter("MessageBody")
	}
	body := *e.MessageBody
	if !validBody(body) {
		return prepared{}, errInvalidMessageContents()
	}
	var groupID, dedupID *string
	if e.MessageGroupId != nil {
		if err := validateToken("MessageGroupId", *e.MessageGroupId); err != nil {
			return prepared{}, err
		}
		groupID = e.MessageGroupId
	}
	if q.fifo() {
		// SendMessage, MessageGroupId: "If you do not provide a
		// MessageGroupId when sending a message to a FIFO queue, the action
		// fails." MessageDeduplicationId: "If you don't provide a
		// MessageDeduplicationId and the queue doesn't have
		// ContentBasedDeduplication set, the action fails with an error."
		if groupID == nil {
			return prepared{}, errMissingParameter("MessageGroupId")
		}
		switch {
		case e.MessageDeduplicationId != nil:
			if err := validateToken("MessageDeduplicationId", *e.MessageDeduplicationId); err != nil {
				return prepared{}, err
			}
			dedupID = e.MessageDeduplicationId
		case q.attrs["ContentBasedDeduplication"] == "true":
			sum := sha256.Sum256([]byte(body)) // "using the body of the message (but not the attributes)"
			h := hex.EncodeToString(sum[:])
			dedupID = &h
		default:
			return prepared{}, errInvalidParameterValue("The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")
		}
		// DelaySeconds: "When you set FifoQueue, you can't set DelaySeconds
		// per message. You can set this parameter only on a queue level."
		if e.DelaySeconds != nil && *e.DelaySeconds != 0 {
			return prepared{}, errInvalidParameterValue("Value %d for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type.", *e.DelaySeconds)
		}
	} else if e.MessageDeduplicationId != nil {
		// "MessageDeduplicationId ... applies only to FIFO queues"; a
		// MessageGroupId on a standard queue makes it a fair queue.
		return prepared{}, errInvalidParameterValue("The request includes a parameter (MessageDeduplicationId) that is not valid for this queue type (standard).")
	}
	delay := q.intAttr("DelaySeconds")
	if e.DelaySeconds != nil && !q.fifo() {
		if *e.DelaySeconds < 0 || *e.DelaySeconds > 900 {
			return prepared{}, errInvalidParameterValue("Value %d for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900.", *e.DelaySeconds)
		}
		delay = *e.DelaySeconds
	}
	attrSize, err := validateMessageAttrs(e.MessageAttributes)
	if err != nil {
		return prepared{}, err
	}
	if max := q.intAttr("MaximumMessageSize"); len(body)+attrSize > max {
		return prepared{}, errInvalidParameterValue("One or more parameters are invalid. Reason: Message must be shorter than %d bytes.", max)
	}
	p := prepared{id: uuid.New(), body: body, attrs: e.MessageAttributes, md5Body: md5Hex([]byte(body)),
		md5Attrs: md5OfAttributes(e.MessageAttributes), delay: delay, groupID: groupID, dedupID: dedupID}
	for name, a := range e.MessageSystemAttributes {
		if name != "AWSTraceHeader" || baseType(a.DataType) != "String" || a.StringValue == nil || *a.StringValue == "" {
			return prepared{}, errInvalidParameterValue("Message system attribute '%s' is invalid: only AWSTraceHeader of type String is supported.", name)
		}
		p.traceHeader = a.StringValue
		p.md5SysAttrs = md5OfAttributes(e.MessageSystemAttributes)
	}
	if p.attrs == nil {
		p.attrs = map[string]attrValue{}
	}
	return p, nil
}

const insertMessageSQL = `INSERT INTO localaws.sqs_messages (account_id, queue, message_id, body, attributes, md5_body, md5_attributes,
		sender_id, trace_header, sent_at, visible_at, group_id, dedup_id)
	VALUES ($1, $2, $3, $4, $5, $6, NULLIF($7, ''), $8, $9, $10, $11, $12, $13)`

// insert stores the prepared messages of one queue, standard ones in one
// round trip. On a FIFO queue it deduplicates (see insertFIFO) and sets
// every message's sequence number; a duplicate gets the id and sequence
// number of the message it repeats.
func (s *Server) insert(ctx context.Context, q *queue, sender string, msgs []prepared) error {
	now := s.now()
	var err error
	if q.fifo() {
		err = s.insertFIFO(ctx, q, sender, msgs, now)
	} else {
		b := &pgx.Batch{}
		grouped := false
		for _, m := range msgs {
			b.Queue(insertMessageSQL, s.acct, q.name, m.id, m.body, m.attrs, m.md5Body, m.md5Attrs, sender, m.traceHeader, now,
				now.Add(time.Duration(m.delay)*time.Second), m.groupID, m.dedupID)
			grouped = grouped || m.groupID != nil
		}
		if grouped && !q.fair {
			b.Queue(`UPDATE localaws.sqs_queues SET fair = true WHERE account_id = $1 AND name = $2`, s.acct, q.name)
			defer s.queues.forget(q.name)
		}
		err = s.pool.SendBatch(ctx, b).Close()
	}
	if err != nil {
		if strings.Contains(err.Error(), "account_id_queue_fkey") {
			return errQueueDoesNotExist()
		}
		return fmt.Errorf("insert messages: %w", err)
	}
	s.wake.notify(q.name)
	return nil
}

// dedupInterval is the FIFO deduplication interval.
const dedupInterval = 5 * time.Minute

// insertFIFO stores FIFO messages in order in one transaction. SendMessage,
// MessageDeduplicationId: "If a message with a particular
// MessageDeduplicationId is sent successfully, any messages sent with the
// same MessageDeduplicationId are accepted successfully but aren't
// delivered during the 5-minute deduplication interval." With
// DeduplicationScope messageGroup the id is scoped to the message group.
func (s *Server) insertFIFO(ctx context.Context, q *queue, sender string, msgs []prepared, now time.Time) error {
	perGroup := q.attrs["DeduplicationScope"] == "messageGroup"
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for i := range msgs {
			m := &msgs[i]
			scope := ""
			if perGroup {
				scope = *m.groupID
			}
			var fresh bool
			err := tx.QueryRow(ctx, `INSERT INTO localaws.sqs_dedup AS d (account_id, queue, scope, dedup_id, message_id, sent_at)
				VALUES ($1, $2, $3, $4, $5, $6)
				ON CONFLICT (account_id, queue, scope, dedup_id) DO UPDATE
				SET message_id = EXCLUDED.message_id, sent_at = EXCLUDED.sent_at, seq = NULL
				WHERE d.sent_at <= $6::timestamptz - $7::interval
				RETURNING true`, s.acct, q.name, scope, *m.dedupID, m.id, now, dedupInterval).Scan(&fresh)
			if errors.Is(err, pgx.ErrNoRows) { // a duplicate: answer with the original
				var seq *int64
				if err := tx.QueryRow(ctx, `SELECT message_id, seq FROM localaws.sqs_dedup
					WHERE account_id = $1 AND queue = $2 AND scope = $3 AND dedup_id = $4`,
					s.acct, q.name, scope, *m.dedupID).Scan(&m.id, &seq); err != nil {
					return err
				}
				if seq != nil {
					m.seq = *seq
				}
				continue
			}
			if err != nil {
				return err
			}
			if err := tx.QueryRow(ctx, insertMessageSQL+` RETURNING id`, s.acct, q.name, m.id, m.body, m.attrs, m.md5Body, m.md5Attrs,
				sender, m.traceHeader, now, now.Add(time.Duration(m.delay)*time.Second), m.groupID, m.dedupID).Scan(&m.seq); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE localaws.sqs_dedup SET seq = $5
				WHERE account_id = $1 AND queue = $2 AND scope = $3 AND dedup_id = $4`, s.acct, q.name, scope, *m.dedupID, m.seq); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Server) sendMessage(r *request) (any, error) {
	var in struct {
		QueueUrl string
		sendEntry
	}
	q, err := s.decodeQueue(r, &in, &in.QueueUrl)
	if err != nil {
		return nil, err
	}
	p, err := prepare(q, in.sendEntry)
	if err != nil {
		return nil, err
	}
	msgs := []prepared{p}
	if err := s.insert(r.ctx, q, r.sender, msgs); err != nil {
		return nil, err
	}
	return msgs[0].result(), nil
}

// batchError is one entry of a batch response's Failed list.
type batchError struct {
	Id          string
	SenderFault bool
	Code        string
	Message     string
}

func entryError(id string, err error) (batchError, bool) {
	ae, ok := err.(*apiError)
	if !ok {
		return batchError{}, false
	}
	return batchError{Id: id, SenderFault: ae.sender, Code: ae.typ, Message: ae.msg}, true
}

// maxBatchBytes is the limit on the sum of a batch's message sizes.
const maxBatchBytes = 1048576

func (s *Server) sendMessageBatch(r *request) (any, error) {
	var in struct {
		QueueUrl string
		Entries  []sendEntry
	}
	q, err := s.decodeQueue(r, &in, &in.QueueUrl)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(in.Entries))
	total := 0
	for i, e := range in.Entries {
		ids[i] = e.Id
		if e.MessageBody != nil {
			total += len(*e.MessageBody)
		}
		for n, a := range e.MessageAttributes {
			total += len(n) + len(a.DataType) + len(a.BinaryValue)
			if a.StringValue != nil {
				total += len(*a.StringValue)
			}
		}
	}
	if err := validateBatchIDs(ids); err != nil {
		return nil, err
	}
	if total > maxBatchBytes {
		return nil, errBatchRequestTooLong(total)
	}
	type okEntry struct {
		Id string
		sendResult
	}
	out := struct {
		Successful []okEntry
		Failed     []batchError
	}{Successful: []okEntry{}, Failed: []batchError{}}
	var msgs []prepared
	var msgIDs []string
	for _, e := range in.Entries {
		p, err := prepare(q, e)
		if err != nil {
			be, ok := entryError(e.Id, err)
			if !ok {
				return nil, err
			}
			out.Failed = append(out.Failed, be)
			continue
		}
		msgs = append(msgs, p)
		msgIDs = append(msgIDs, e.Id)
	}
	if len(msgs) > 0 {
		if err := s.insert(r.ctx, q, r.sender, msgs); err != nil {
			return nil, err
		}
	}
	for i, p := range msgs { // insert set the sequence numbers (FIFO)
		out.Successful = append(out.Successful, okEntry{Id: msgIDs[i], sendResult: p.result()})
	}
	return out, nil
}

// receipt is a decoded receipt handle: it names the queue, the message row
// and the receive it came from (a new token on every receive).
type receipt struct {
	queue string
	id    int64
	token uuid.UUID
}

func (rc receipt) String() string {
	return base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("%s/%d/%s", rc.queue, rc.id, rc.token)))
}

func parseReceipt(h, queue string) (receipt, error) {
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return receipt{}, errReceiptHandleIsInvalid(h)
	}
	parts := strings.Split(string(b), "/")
	if len(parts) != 3 || parts[0] != queue {
		return receipt{}, errReceiptHandleIsInvalid(h)
	}
	id, err1 := strconv.ParseInt(parts[1], 10, 64)
	tok, err2 := uuid.Parse(parts[2])
	if err1 != nil || err2 != nil {
		return receipt{}, errReceiptHandleIsInvalid(h)
	}
	return receipt{queue: queue, id: id, token: tok}, nil
}

// deleteMessage deletes the message if rh is its latest receipt handle.
// As documented by AWS, an older receipt handle (or an already deleted
// message) succeeds without deleting anything; a malformed handle, or one
// of another queue, is ReceiptHandleIsInvalid.
func (s *Server) deleteMessage(r *request) (any, error) {
	var in struct {
		QueueUrl      string
		ReceiptHandle string
	}
	q, err := s.decodeQueue(r, &in, &in.QueueUrl)
	if err != nil {
		return nil, err
	}
	return nil, s.deleteOne(r.ctx, q, in.ReceiptHandle)
}

func (s *Server) deleteOne(ctx context.Context, q *queue, handle string) error {
	if handle == "" {
		return errMissingParameter("ReceiptHandle")
	}
	rc, err := parseReceipt(handle, q.name)
	if err != nil {
		return err
	}
	if _, err := s.bk.Exec(ctx, `DELETE FROM localaws.sqs_messages WHERE id = $1 AND account_id = $2 AND queue = $3 AND receipt = $4`,
		rc.id, s.acct, q.name, rc.token); err != nil {
		return fmt.Errorf("delete message: %w", err)
	}
	return nil
}

type batchHandleEntry struct {
	Id                string
	ReceiptHandle     string
	VisibilityTimeout *int
}

type idEntry struct{ Id string }

type batchHandleOutput struct {
	Successful []idEntry
	Failed     []batchError
}

func (s *Server) runHandleBatch(r *request, op func(ctx context.Context, q *queue, e batchHandleEntry) error) (any, error) {
	var in struct {
		QueueUrl string
		Entries  []batchHandleEntry
	}
	q, err := s.decodeQueue(r, &in, &in.QueueUrl)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(in.Entries))
	for i, e := range in.Entries {
		ids[i] = e.Id
	}
	if err := validateBatchIDs(ids); err != nil {
		return nil, err
	}
	out := batchHandleOutput{Successful: []idEntry{}, Failed: []batchError{}}
	for _, e := range in.Entries {
		if err := op(r.ctx, q, e); err != nil {
			be, ok := entryError(e.Id, err)
			if !ok {
				return nil, err
			}
			out.Failed = append(out.Failed, be)
			continue
		}
		out.Successful = append(out.Successful, idEntry{Id: e.Id})
	}
	return out, nil
}

// deleteMessageBatch checks every entry's receipt handle, then deletes the
// messages of all the valid ones in one statement (entries whose message
// is gone or was received again succeed too, as DeleteMessage does).
func (s *Server) deleteMessageBatch(r *request) (any, error) {
	var in struct {
		QueueUrl string
		Entries  []batchHandleEntry
	}
	q, err := s.decodeQueue(r, &in, &in.QueueUrl)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(in.Entries))
	for i, e := range in.Entries {
		ids[i] = e.Id
	}
	if err := validateBatchIDs(ids); err != nil {
		return nil, err
	}
	out := batchHandleOutput{Successful: []idEntry{}, Failed: []batchError{}}
	var rows []int64
	var tokens []uuid.UUID
	for _, e := range in.Entries {
		var err error
		var rc receipt
		if e.ReceiptHandle == "" {
			err = errMissingParameter("ReceiptHandle")
		} else {
			rc, err = parseReceipt(e.ReceiptHandle, q.name)
		}
		if err != nil {
			be, _ := entryError(e.Id, err)
			out.Failed = append(out.Failed, be)
			continue
		}
		rows, tokens = append(rows, rc.id), append(tokens, rc.token)
		out.Successful = append(out.Successful, idEntry{Id: e.Id})
	}
	if len(rows) > 0 {
		if _, err := s.bk.Exec(r.ctx, `DELETE FROM localaws.sqs_messages m USING unnest($3::bigint[], $4::uuid[]) AS d(id, receipt)
			WHERE m.id = d.id AND m.receipt = d.receipt AND m.account_id = $1 AND m.queue = $2`, s.acct, q.name, rows, tokens); err != nil {
			return nil, fmt.Errorf("delete messages: %w", err)
		}
	}
	return out, nil
}

func (s *Server) changeMessageVisibility(r *request) (any, error) {
	var in struct {
		QueueUrl string
		batchHandleEntry
	}
	q, err := s.decodeQueue(r, &in, &in.QueueUrl)
	if err != nil {
		return nil, err
	}
	return nil, s.changeOne(r.ctx, q, in.batchHandleEntry)
}

func (s *Server) changeMessageVisibilityBatch(r *request) (any, error) {
	return s.runHandleBatch(r, s.changeOne)
}

// maxVisibility is the longest a message may stay in flight after a receive,
// counting every ChangeMessageVisibility (12 hours).
const maxVisibility = 43200 * time.Second

// changeOne makes the in-flight message of e.ReceiptHandle visible again
// after e.VisibilityTimeout seconds from now (0 = at once). The message must
// be in flight under that very receipt handle, else MessageNotInflight; a
// message that no longer exists is ReceiptHandleIsInvalid. The time since
// the receive plus the new timeout may not exceed 12 hours (SQS API
// Reference, ChangeMessageVisibility: "If you try to extend the visibility
// timeout beyond 12 hours, your request is rejected").
func (s *Server) changeOne(ctx context.Context, q *queue, e batchHandleEntry) error {
	if e.ReceiptHandle == "" {
		return errMissingParameter("ReceiptHandle")
	}
	if e.VisibilityTimeout == nil {
		return errMissingParameter("VisibilityTimeout")
	}
	if *e.VisibilityTimeout < 0 || *e.VisibilityTimeout > 43200 {
		return errInvalidParameterValue("Value %d for parameter VisibilityTimeout is invalid. Reason: VisibilityTimeout must be an integer between 0 and 43200.", *e.VisibilityTimeout)
	}
	rc, err := parseReceipt(e.ReceiptHandle, q.name)
	if err != nil {
		return err
	}
	now := s.now()
	until := now.Add(time.Duration(*e.VisibilityTimeout) * time.Second)
	var token *uuid.UUID
	var visibleAt time.Time
	var receivedAt *time.Time
	err = s.bk.QueryRow(ctx, `WITH cur AS (
			SELECT id, receipt, visible_at, received_at FROM localaws.sqs_messages
			WHERE id = $1 AND account_id = $2 AND queue = $3 AND sent_at > $6 FOR UPDATE),
		upd AS (
			UPDATE localaws.sqs_messages m SET visible_at = $5, attempt_id = NULL FROM cur
			WHERE m.id = cur.id AND cur.receipt = $4 AND cur.visible_at > $7
			  AND (cur.received_at IS NULL OR $5 <= cur.received_at + $8::interval) RETURNING m.id)
		SELECT cur.receipt, cur.visible_at, cur.received_at FROM cur`,
		rc.id, s.acct, q.name, rc.token, until, retentionCutoff(q, now), now, maxVisibility).Scan(&token, &visibleAt, &receivedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return errReceiptHandleIsInvalid(e.ReceiptHandle)
	}
	if err != nil {
		return fmt.Errorf("change visibility: %w", err)
	}
	if token == nil || *token != rc.token || !visibleAt.After(now) {
		return errMessageNotInflight()
	}
	if receivedAt != nil && until.Sub(*receivedAt) > maxVisibility {
		return errInvalidParameterValue("Value %d for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for the message is beyond the limit [43200 seconds]", *e.VisibilityTimeout)
	}
	if *e.VisibilityTimeout == 0 {
		s.wake.notify(q.name)
	}
	return nil
}
