package sqs

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// queue is one row of localaws.sqs_queues.
type queue struct {
	name     string
	attrs    map[string]string
	tags     map[string]string
	created  time.Time
	modified time.Time
	fair     bool // a standard queue that has seen a MessageGroupId
}

// fifo reports whether q is a FIFO queue.
func (q *queue) fifo() bool { return q.attrs["FifoQueue"] == "true" }

var (
	standardNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)
	fifoNameRE     = regexp.MustCompile(`^[A-Za-z0-9_-]{1,75}\.fifo$`)
)

// validQueueName reports whether name is a standard or a FIFO queue name.
func validQueueName(name string) bool {
	return standardNameRE.MatchString(name) || fifoNameRE.MatchString(name)
}

// validateQueueName checks the QueueName of CreateQueue (SQS API Reference,
// CreateQueue, QueueName: "A queue name can have up to 80 characters. Valid
// values: alphanumeric characters, hyphens (-), and underscores (_). A FIFO
// queue name must end with the .fifo suffix."): a FIFO queue (FifoQueue
// true) needs the suffix, a standard queue may not have it.
func validateQueueName(name string, fifo bool) error {
	if name == "" {
		return errMissingParameter("QueueName")
	}
	if fifo && !fifoNameRE.MatchString(name) {
		return errInvalidParameterValue("The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.")
	}
	if !fifo && !standardNameRE.MatchString(name) {
		return errInvalidParameterValue("Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length")
	}
	return nil
}

func (s *Server) queueARN(name string) string {
	return fmt.Sprintf("arn:aws:sqs:%s:%s:%s", s.region, s.acct, name)
}

func (s *Server) queueNameFromARN(arn string) (string, bool) {
	name, ok := strings.CutPrefix(arn, fmt.Sprintf("arn:aws:sqs:%s:%s:", s.region, s.acct))
	if !ok || !validQueueName(name) {
		return "", false
	}
	return name, true
}

func (s *Server) queueURL(r *request, name string) string {
	return fmt.Sprintf("%s://%s/%s/%s", r.scheme, r.host, s.acct, name)
}

// queueNameFromURL accepts any host: only the /<account>/<name> path counts.
func (s *Server) queueNameFromURL(raw string) (string, error) {
	if raw == "" {
		return "", errMissingParameter("QueueUrl")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", errQueueDoesNotExist()
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) != 2 || parts[0] != s.acct || !validQueueName(parts[1]) {
		return "", errQueueDoesNotExist()
	}
	return parts[1], nil
}

// loadQueue returns the queue or QueueDoesNotExist, from the cache when it
// is fresh. The attribute maps of the result are shared: read them only.
func (s *Server) loadQueue(ctx context.Context, name string) (*queue, error) {
	if q, ok := s.queues.get(name); ok {
		return q, nil
	}
	q := &queue{name: name}
	err := s.pool.QueryRow(ctx, `SELECT attributes, tags, created_at, modified_at, fair FROM localaws.sqs_queues
		WHERE account_id = $1 AND name = $2`, s.acct, name).Scan(&q.attrs, &q.tags, &q.created, &q.modified, &q.fair)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errQueueDoesNotExist()
	}
	if err != nil {
		return nil, fmt.Errorf("load queue %s: %w", name, err)
	}
	s.queues.put(q)
	return q, nil
}

// findQueue is loadQueue with a missing queue reported as nil, nil.
func (s *Server) findQueue(ctx context.Context, name string) (*queue, error) {
	q, err := s.loadQueue(ctx, name)
	if isAPIError(err, "QueueDoesNotExist") {
		return nil, nil
	}
	return q, err
}

// decodeQueue decodes the request into in and loads the queue named by
// *queueURL, a field of in: MissingParameter, QueueDoesNotExist.
func (s *Server) decodeQueue(r *request, in any, queueURL *string) (*queue, error) {
	if err := r.decode(in); err != nil {
		return nil, err
	}
	name, err := s.queueNameFromURL(*queueURL)
	if err != nil {
		return nil, err
	}
	return s.loadQueue(r.ctx, name)
}

// execOnQueue runs sql, whose $1 and $2 are the account and the queue name,
// and reports QueueDoesNotExist when it changed no row.
func (s *Server) execOnQueue(ctx context.Context, what, name, sql string, args ...any) error {
	defer s.queues.forget(name)
	tag, err := s.pool.Exec(ctx, sql, append([]any{s.acct, name}, args...)...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if tag.RowsAffected() == 0 {
		return errQueueDoesNotExist()
	}
	return nil
}

func isAPIError(err error, typ string) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.typ == typ
}

type createQueueInput struct {
	QueueName  string
	Attributes map[string]string
	Tags       map[string]string `json:"tags"`
}

type queueURLOutput struct {
	QueueUrl string
}

// createQueue is idempotent as on AWS: an existing queue whose attributes
// equal every attribute given is returned; any difference is QueueNameExists.
// A name deleted less than 60 seconds ago is QueueDeletedRecently (SQS API
// Reference, CreateQueue: "After you delete a queue, you must wait at least 60
// seconds before creating a queue with the same name").
func (s *Server) createQueue(r *request) (any, error) {
	var in createQueueInput
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	fifo := false
	if v, ok := in.Attributes["FifoQueue"]; ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, errInvalidAttributeValue("Invalid value for the parameter FifoQueue.")
		}
		fifo = b
	}
	if err := validateQueueName(in.QueueName, fifo); err != nil {
		return nil, err
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	attrs, err := s.normalizeAttrs(r.ctx, &queue{name: in.QueueName, attrs: map[string]string{"FifoQueue": strconv.FormatBool(fifo)}}, in.Attributes, true)
	if err != nil {
		return nil, err
	}
	stored := maps.Clone(attrDefaults)
	if fifo {
		maps.Copy(stored, fifoDefaults)
	} else {
		delete(attrs, "FifoQueue") // "false": a standard queue, which has no such attribute
	}
	if _, ok := attrs["KmsMasterKeyId"]; ok {
		stored["SqsManagedSseEnabled"] = "false"
	}
	for k, v := range attrs {
		if v == "" {
			delete(stored, k)
		} else {
			stored[k] = v
		}
	}
	if in.Tags == nil {
		in.Tags = map[string]string{}
	}
	now := s.now()
	var recent bool
	if err := s.pool.QueryRow(r.ctx, `SELECT EXISTS (SELECT 1 FROM localaws.sqs_deleted_queues
		WHERE account_id = $1 AND name = $2 AND deleted_at > $3::timestamptz - $4::interval)`,
		s.acct, in.QueueName, now, purgeWindow).Scan(&recent); err != nil {
		return nil, fmt.Errorf("create queue: %w", err)
	}
	if recent {
		return nil, errQueueDeletedRecently()
	}
	s.queues.forget(in.QueueName)
	tag, err := s.pool.Exec(r.ctx, `INSERT INTO localaws.sqs_queues (account_id, name, attributes, tags, created_at, modified_at)
		VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT DO NOTHING`, s.acct, in.QueueName, stored, in.Tags, now)
	if err != nil {
		return nil, fmt.Errorf("create queue: %w", err)
	}
	if tag.RowsAffected() == 0 {
		existing, err := s.loadQueue(r.ctx, in.QueueName)
		if err != nil {
			return nil, err
		}
		if existing.fifo() != fifo {
			return nil, errQueueNameExists(in.QueueName)
		}
		for k, v := range attrs {
			cur, ok := existing.attrs[k]
			if !ok {
				cur = attrDefaults[k]
			}
			if cur != v {
				return nil, errQueueNameExists(in.QueueName)
			}
		}
	}
	return queueURLOutput{QueueUrl: s.queueURL(r, in.QueueName)}, nil
}

func (s *Server) getQueueURL(r *request) (any, error) {
	var in struct {
		QueueName              string
		QueueOwnerAWSAccountId string
	}
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	if in.QueueName == "" {
		return nil, errMissingParameter("QueueName")
	}
	if in.QueueOwnerAWSAccountId != "" && in.QueueOwnerAWSAccountId != s.acct {
		return nil, errQueueDoesNotExist()
	}
	if _, err := s.loadQueue(r.ctx, in.QueueName); err != nil {
		return nil, err
	}
	return queueURLOutput{QueueUrl: s.queueURL(r, in.QueueName)}, nil
}

type listQueuesOutput struct {
	QueueUrls []string `json:"QueueUrls,omitempty"`
	NextToken string   `json:"NextToken,omitempty"`
}

// listQueues returns queue URLs in name order. Without MaxResults it returns
// up to 1000 and no NextToken, as AWS does; NextToken is opaque.
func (s *Server) listQueues(r *request) (any, error) {
	var in struct {
		QueueNamePrefix string
		NextToken       string
		MaxResults      *int
	}
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	limit, after, err := queuePage(in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(r.ctx, `SELECT name FROM localaws.sqs_queues
		WHERE account_id = $1 AND starts_with(name, $2) AND name > $3 ORDER BY name LIMIT $4`,
		s.acct, in.QueueNamePrefix, after, limit+1)
	if err != nil {
		return nil, fmt.Errorf("list queues: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list queues: %w", err)
	}
	var out listQueuesOutput
	if len(names) > limit {
		names = names[:limit]
		if in.MaxResults != nil {
			out.NextToken = encodeToken(names[len(names)-1])
		}
	}
	for _, n := range names {
		out.QueueUrls = append(out.QueueUrls, s.queueURL(r, n))
	}
	return out, nil
}

// queuePage parses the MaxResults (1–1000, default 1000) and NextToken of a
// queue listing: at most limit names greater than after.
func queuePage(maxResults *int, nextToken string) (limit int, after string, err error) {
	limit = 1000
	if maxResults != nil {
		if *maxResults < 1 || *maxResults > 1000 {
			return 0, "", errInvalidParameterValue("Value %d for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and 1000.", *maxResults)
		}
		limit = *maxResults
	}
	after, err = decodeToken(nextToken)
	return limit, after, err
}

func encodeToken(after string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("after:" + after))
}

func decodeToken(tok string) (string, error) {
	if tok == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	after, ok := strings.CutPrefix(string(b), "after:")
	if err != nil || !ok {
		return "", errInvalidParameterValue("Invalid NextToken value.")
	}
	return after, nil
}

type queueURLInput struct {
	QueueUrl string
}

// deleteQueue removes the queue and its messages at once, and remembers the
// name for 60 seconds (see createQueue).
func (s *Server) deleteQueue(r *request) (any, error) {
	var in queueURLInput
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	name, err := s.queueNameFromURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if err := s.execOnQueue(r.ctx, "delete queue", name, `WITH d AS (
			DELETE FROM localaws.sqs_queues WHERE account_id = $1 AND name = $2 RETURNING name)
		INSERT INTO localaws.sqs_deleted_queues (account_id, name, deleted_at) SELECT $1, name, $3 FROM d
		ON CONFLICT (account_id, name) DO UPDATE SET deleted_at = EXCLUDED.deleted_at`, s.now()); err != nil {
		return nil, err
	}
	s.wake.notify(name)
	return nil, nil
}

func (s *Server) getQueueAttributes(r *request) (any, error) {
	var in struct {
		QueueUrl       string
		AttributeNames []string
	}
	q, err := s.decodeQueue(r, &in, &in.QueueUrl)
	if err != nil {
		return nil, err
	}
	all := slices.Contains(in.AttributeNames, "All")
	want := map[string]bool{}
	for _, n := range in.AttributeNames {
		if n == "All" {
			continue
		}
		if !slices.Contains(settableAttrs, n) && !slices.Contains(readOnlyAttrs, n) && !slices.Contains(fifoAttrs, n) && n != "FifoQueue" {
			return nil, errInvalidAttributeName(n)
		}
		want[n] = true
	}
	out := map[string]string{}
	add := func(k, v string) {
		if all || want[k] {
			out[k] = v
		}
	}
	for k, v := range q.attrs {
		add(k, v)
	}
	add("QueueArn", s.queueARN(q.name))
	add("CreatedTimestamp", strconv.FormatInt(q.created.Unix(), 10))
	add("LastModifiedTimestamp", strconv.FormatInt(q.modified.Unix(), 10))
	if all || want["ApproximateNumberOfMessages"] || want["ApproximateNumberOfMessagesNotVisible"] || want["ApproximateNumberOfMessagesDelayed"] {
		c, err := s.countMessages(r.ctx, q)
		if err != nil {
			return nil, err
		}
		add("ApproximateNumberOfMessages", strconv.FormatInt(c.visible, 10))
		add("ApproximateNumberOfMessagesNotVisible", strconv.FormatInt(c.inFlight, 10))
		add("ApproximateNumberOfMessagesDelayed", strconv.FormatInt(c.delayed, 10))
	}
	if len(out) == 0 {
		return struct{}{}, nil
	}
	return map[string]any{"Attributes": out}, nil
}

type messageCounts struct{ visible, inFlight, delayed int64 }

func (s *Server) countMessages(ctx context.Context, q *queue) (messageCounts, error) {
	now := s.now()
	var c messageCounts
	err := s.pool.QueryRow(ctx, `SELECT
			count(*) FILTER (WHERE visible_at <= $3),
			count(*) FILTER (WHERE visible_at > $3 AND receive_count > 0),
			count(*) FILTER (WHERE visible_at > $3 AND receive_count = 0)
		FROM localaws.sqs_messages WHERE account_id = $1 AND queue = $2 AND sent_at > $4`,
		s.acct, q.name, now, retentionCutoff(q, now)).Scan(&c.visible, &c.inFlight, &c.delayed)
	if err != nil {
		return c, fmt.Errorf("count messages: %w", err)
	}
	return c, nil
}

// retentionCutoff is the send time at or before which q's messages expired.
func retentionCutoff(q *queue, now time.Time) time.Time {
	return now.Add(-time.Duration(q.intAttr("MessageRetentionPeriod")) * time.Second)
}

func (s *Server) setQueueAttributes(r *request) (any, error) {
	var in struct {
		QueueUrl   string
		Attributes map[string]string
	}
	q, err := s.decodeQueue(r, &in, &in.QueueUrl)
	if err != nil {
		return nil, err
	}
	attrs, err := s.normalizeAttrs(r.ctx, q, in.Attributes, false)
	if err != nil {
		return nil, err
	}
	set, del := map[string]string{}, []string{}
	for k, v := range attrs {
		if v == "" && (k == "RedrivePolicy" || k == "RedriveAllowPolicy" || k == "Policy" || k == "KmsMasterKeyId") {
			del = append(del, k)
		} else {
			set[k] = v
		}
	}
	if err := s.execOnQueue(r.ctx, "set queue attributes", q.name, `UPDATE localaws.sqs_queues
		SET attributes = (attributes || $3::jsonb) - $4::text[], modified_at = $5
		WHERE account_id = $1 AND name = $2`, set, del, s.now()); err != nil {
		return nil, err
	}
	s.wake.notify(q.name) // a shorter visibility or delay may make messages receivable
	return nil, nil
}

func validateTags(tags map[string]string) error {
	if len(tags) > 50 {
		return errInvalidParameterValue("Too many tags added for queue. A queue can have at most 50 tags.")
	}
	for k, v := range tags {
		if k == "" || len(k) > 128 || len(v) > 256 {
			return errInvalidParameterValue("Tag keys must be 1 to 128 characters and values at most 256 characters.")
		}
	}
	return nil
}

func (s *Server) tagQueue(r *request) (any, error) {
	var in struct {
		QueueUrl string
		Tags     map[string]string
	}
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	if len(in.Tags) == 0 {
		return nil, errMissingParameter("Tags")
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	name, err := s.queueNameFromURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	return nil, s.execOnQueue(r.ctx, "tag queue", name,
		`UPDATE localaws.sqs_queues SET tags = tags || $3::jsonb WHERE account_id = $1 AND name = $2`, in.Tags)
}

func (s *Server) untagQueue(r *request) (any, error) {
	var in struct {
		QueueUrl string
		TagKeys  []string
	}
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	if len(in.TagKeys) == 0 {
		return nil, errMissingParameter("TagKeys")
	}
	name, err := s.queueNameFromURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	return nil, s.execOnQueue(r.ctx, "untag queue", name,
		`UPDATE localaws.sqs_queues SET tags = tags - $3::text[] WHERE account_id = $1 AND name = $2`, in.TagKeys)
}

func (s *Server) listQueueTags(r *request) (any, error) {
	var in queueURLInput
	q, err := s.decodeQueue(r, &in, &in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if len(q.tags) == 0 {
		return struct{}{}, nil
	}
	return map[string]any{"Tags": q.tags}, nil
}

// purgeWindow is how long a queue refuses a second PurgeQueue, and a deleted
// queue's name a CreateQueue.
const purgeWindow = 60 * time.Second

// purgeQueue deletes every message of the queue, in flight or not. A second
// purge within 60 seconds is PurgeQueueInProgress (SQS API Reference,
// PurgeQueue: "Indicates that the specified queue previously received a
// PurgeQueue request within the last 60 seconds").
func (s *Server) purgeQueue(r *request) (any, error) {
	var in queueURLInput
	q, err := s.decodeQueue(r, &in, &in.QueueUrl)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var purged bool
	err = s.pool.QueryRow(r.ctx, `WITH p AS (
			UPDATE localaws.sqs_queues SET purged_at = $3
			WHERE account_id = $1 AND name = $2 AND (purged_at IS NULL OR purged_at <= $3::timestamptz - $4::interval)
			RETURNING name),
		d AS (DELETE FROM localaws.sqs_messages m USING p WHERE m.account_id = $1 AND m.queue = p.name)
		SELECT EXISTS (SELECT 1 FROM p)`, s.acct, q.name, now, purgeWindow).Scan(&purged)
	if err != nil {
		return nil, fmt.Errorf("purge queue: %w", err)
	}
	if !purged {
		return nil, errPurgeQueueInProgress(q.name)
	}
	return nil, nil
}

// listDeadLetterSourceQueues returns the queues whose RedrivePolicy targets
// the given queue, in name order.
func (s *Server) listDeadLetterSourceQueues(r *request) (any, error) {
	var in struct {
		QueueUrl   string
		NextToken  string
		MaxResults *int
	}
	q, err := s.decodeQueue(r, &in, &in.QueueUrl)
	if err != nil {
		return nil, err
	}
	limit, after, err := queuePage(in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	names, err := s.sourcesOf(r.ctx, s.queueARN(q.name))
	if err != nil {
		return nil, err
	}
	out := struct {
		QueueUrls []string `json:"queueUrls"`
		NextToken string   `json:"NextToken,omitempty"`
	}{QueueUrls: []string{}}
	last := ""
	for _, n := range names {
		if n <= after {
			continue
		}
		if len(out.QueueUrls) == limit {
			if in.MaxResults != nil {
				out.NextToken = encodeToken(last)
			}
			break
		}
		out.QueueUrls = append(out.QueueUrls, s.queueURL(r, n))
		last = n
	}
	return out, nil
}

// sourcesOf returns the names of the queues whose dead-letter queue is dlqARN.
func (s *Server) sourcesOf(ctx context.Context, dlqARN string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT name FROM localaws.sqs_queues
		WHERE account_id = $1 AND attributes ? 'RedrivePolicy'
		  AND (attributes->>'RedrivePolicy')::jsonb->>'deadLetterTargetArn' = $2 ORDER BY name`, s.acct, dlqARN)
	if err != nil {
		return nil, fmt.Errorf("dead-letter sources: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("dead-letter sources: %w", err)
	}
	return names, nil
}
