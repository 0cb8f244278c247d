package sqs

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
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
}

type sendResult struct {
	MD5OfMessageBody             string
	MD5OfMessageAttributes       string `json:",omitempty"`
	MD5OfMessageSystemAttributes string `json:",omitempty"`
	MessageId                    string
}

// result is the send response for p once it is stored.
func (p prepared) result() sendResult {
	return sendResult{MD5OfMessageBody: p.md5Body, MD5OfMessageAttributes: p.md5Attrs,
		MD5OfMessageSystemAttributes: p.md5SysAttrs, MessageId: p.id.String()}
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
	if e.MessageGroupId != nil || e.MessageDeduplicationId != nil {
		return prepared{}, errInvalidParameterValue("The request includes a parameter (MessageGroupId or MessageDeduplicationId) that is not valid for this queue type (standard).")
	}
	delay := q.intAttr("DelaySeconds")
	if e.DelaySeconds != nil {
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
		md5Attrs: md5OfAttributes(e.MessageAttributes), delay: delay}
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

// insert stores the prepared messages of one queue in one round trip.
func (s *Server) insert(ctx context.Context, q *queue, sender string, msgs []prepared) error {
	now := s.now()
	b := &pgx.Batch{}
	for _, m := range msgs {
		b.Queue(`INSERT INTO localaws.sqs_messages (account_id, queue, message_id, body, attributes, md5_body, md5_attributes,
				sender_id, trace_header, sent_at, visible_at)
			VALUES ($1, $2, $3, $4, $5, $6, NULLIF($7, ''), $8, $9, $10, $11)`,
			s.acct, q.name, m.id, m.body, m.attrs, m.md5Body, m.md5Attrs, sender, m.traceHeader, now,
			now.Add(time.Duration(m.delay)*time.Second))
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		if strings.Contains(err.Error(), "sqs_messages_account_id_queue_fkey") {
			return errQueueDoesNotExist()
		}
		return fmt.Errorf("insert messages: %w", err)
	}
	s.wake.notify(q.name)
	return nil
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
	if err := s.insert(r.ctx, q, r.sender, []prepared{p}); err != nil {
		return nil, err
	}
	return p.result(), nil
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
	for i, p := range msgs {
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
	if _, err := s.pool.Exec(ctx, `DELETE FROM localaws.sqs_messages WHERE id = $1 AND account_id = $2 AND queue = $3 AND receipt = $4`,
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

func (s *Server) deleteMessageBatch(r *request) (any, error) {
	return s.runHandleBatch(r, func(ctx context.Context, q *queue, e batchHandleEntry) error {
		return s.deleteOne(ctx, q, e.ReceiptHandle)
	})
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
	err = s.pool.QueryRow(ctx, `WITH cur AS (
			SELECT id, receipt, visible_at, received_at FROM localaws.sqs_messages
			WHERE id = $1 AND account_id = $2 AND queue = $3 AND sent_at > $6 FOR UPDATE),
		upd AS (
			UPDATE localaws.sqs_messages m SET visible_at = $5 FROM cur
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
