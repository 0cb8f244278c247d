package sqs

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Message move tasks (StartMessageMoveTask, ListMessageMoveTasks,
// CancelMessageMoveTask) redrive the messages of a dead-letter queue. A task
// moves the messages that are in the source queue and visible when it starts
// (ApproximateNumberOfMessagesToMove), oldest first, in the background, to
// DestinationArn or, without one, each back to the queue it was dead-lettered
// from (its DeadLetterQueueSourceArn). A moved message is a new message in
// its destination: new MessageId, SentTimestamp = move time, receive count 0.
// Tasks are rows of localaws.sqs_move_tasks, so a RUNNING task survives a restart and
// is resumed by the next Server. At most one task per source runs at a time.

// taskHandle is the opaque TaskHandle: base64 of this JSON, as on AWS.
type taskHandle struct {
	TaskID    string `json:"taskId"`
	SourceArn string `json:"sourceArn"`
}

// queueFromARN loads the queue of arn; a malformed ARN or a missing queue is
// ResourceNotFoundException naming param.
func (s *Server) queueFromARN(ctx context.Context, arn, param string) (*queue, error) {
	name, ok := s.queueNameFromARN(arn)
	if !ok {
		return nil, errResourceNotFound("The resource that you specified for the %s parameter doesn't exist.", param)
	}
	q, err := s.findQueue(ctx, name)
	if err == nil && q == nil {
		return nil, errResourceNotFound("The resource that you specified for the %s parameter doesn't exist.", param)
	}
	return q, err
}

func encodeHandle(id uuid.UUID, src string) string {
	b, _ := json.Marshal(taskHandle{TaskID: id.String(), SourceArn: src})
	return base64.StdEncoding.EncodeToString(b)
}

func (s *Server) startMessageMoveTask(r *request) (any, error) {
	var in struct {
		SourceArn                    string
		DestinationArn               *string
		MaxNumberOfMessagesPerSecond *int
	}
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	if in.SourceArn == "" {
		return nil, errMissingParameter("SourceArn")
	}
	q, err := s.queueFromARN(r.ctx, in.SourceArn, "SourceArn")
	if err != nil {
		return nil, err
	}
	sources, err := s.sourcesOf(r.ctx, in.SourceArn)
	if err != nil {
		return nil, err
	}
	if len(sources) == 0 {
		return nil, errInvalidParameterValue("Source queue must be configured as a Dead Letter Queue.")
	}
	if in.DestinationArn != nil && *in.DestinationArn != "" {
		dst, err := s.queueFromARN(r.ctx, *in.DestinationArn, "DestinationArn")
		if err != nil {
			return nil, err
		}
		if dst.name == q.name {
			return nil, errInvalidParameterValue("Source queue arn and destination queue arn cannot be the same.")
		}
	} else {
		in.DestinationArn = nil
	}
	if in.MaxNumberOfMessagesPerSecond != nil && (*in.MaxNumberOfMessagesPerSecond < 1 || *in.MaxNumberOfMessagesPerSecond > 500) {
		return nil, errInvalidParameterValue("Value %d for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: Must be between 1 and 500.", *in.MaxNumberOfMessagesPerSecond)
	}
	now := s.now()
	id := uuid.New()
	_, err = s.pool.Exec(r.ctx, `INSERT INTO localaws.sqs_move_tasks (task_id, account_id, source_arn, destination_arn, max_per_second,
			status, to_move, max_message_id, started_at)
		SELECT $1, $2, $3, $4, $5, 'RUNNING', count(*), coalesce(max(id), 0), $6 FROM localaws.sqs_messages
		WHERE account_id = $2 AND queue = $7 AND visible_at <= $6 AND sent_at > $8`,
		id, s.acct, in.SourceArn, in.DestinationArn, in.MaxNumberOfMessagesPerSecond, now, q.name, retentionCutoff(q, now))
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.ConstraintName == "sqs_move_tasks_one_running" {
		return nil, errUnsupportedOperation("There is already a task running. Only one active task is allowed for a source queue arn at a given time.")
	}
	if err != nil {
		return nil, fmt.Errorf("start move task: %w", err)
	}
	s.runTask(id)
	return map[string]string{"TaskHandle": encodeHandle(id, in.SourceArn)}, nil
}

type moveTaskEntry struct {
	TaskHandle                        string `json:",omitempty"`
	Status                            string
	SourceArn                         string
	DestinationArn                    *string `json:",omitempty"`
	MaxNumberOfMessagesPerSecond      *int    `json:",omitempty"`
	ApproximateNumberOfMessagesMoved  int64
	ApproximateNumberOfMessagesToMove int64
	FailureReason                     *string `json:",omitempty"`
	StartedTimestamp                  int64
}

// listMessageMoveTasks returns the most recent tasks of a source queue,
// newest first (MaxResults 1–10, default 1). Only a RUNNING task has a TaskHandle.
func (s *Server) listMessageMoveTasks(r *request) (any, error) {
	var in struct {
		SourceArn  string
		MaxResults *int
	}
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	if in.SourceArn == "" {
		return nil, errMissingParameter("SourceArn")
	}
	limit := 1
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 10 {
			return nil, errInvalidParameterValue("Value %d for parameter MaxResults is invalid. Reason: Must be between 1 and 10.", *in.MaxResults)
		}
		limit = *in.MaxResults
	}
	if _, err := s.queueFromARN(r.ctx, in.SourceArn, "SourceArn"); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(r.ctx, `SELECT task_id, status, source_arn, destination_arn, max_per_second, moved, to_move,
			failure_reason, started_at
		FROM localaws.sqs_move_tasks WHERE account_id = $1 AND source_arn = $2 ORDER BY seq DESC LIMIT $3`,
		s.acct, in.SourceArn, limit)
	if err != nil {
		return nil, fmt.Errorf("list move tasks: %w", err)
	}
	results, err := pgx.CollectRows(rows, func(rs pgx.CollectableRow) (moveTaskEntry, error) {
		var e moveTaskEntry
		var id uuid.UUID
		var started time.Time
		err := rs.Scan(&id, &e.Status, &e.SourceArn, &e.DestinationArn, &e.MaxNumberOfMessagesPerSecond,
			&e.ApproximateNumberOfMessagesMoved, &e.ApproximateNumberOfMessagesToMove, &e.FailureReason, &started)
		if e.Status == "RUNNING" {
			e.TaskHandle = encodeHandle(id, e.SourceArn)
		}
		e.StartedTimestamp = started.UnixMilli()
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("list move tasks: %w", err)
	}
	return map[string]any{"Results": results}, nil
}

// cancelMessageMoveTask stops a RUNNING task; messages already moved stay
// moved. Unknown or finished tasks are ResourceNotFoundException.
func (s *Server) cancelMessageMoveTask(r *request) (any, error) {
	var in struct{ TaskHandle string }
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	if in.TaskHandle == "" {
		return nil, errMissingParameter("TaskHandle")
	}
	notFound := errResourceNotFound("Task does not exist or is not running.")
	b, err := base64.StdEncoding.DecodeString(in.TaskHandle)
	if err != nil {
		return nil, notFound
	}
	var h taskHandle
	if json.Unmarshal(b, &h) != nil {
		return nil, notFound
	}
	id, err := uuid.Parse(h.TaskID)
	if err != nil {
		return nil, notFound
	}
	var moved int64
	err = s.pool.QueryRow(r.ctx, `UPDATE localaws.sqs_move_tasks SET status = 'CANCELLED'
		WHERE task_id = $1 AND account_id = $2 AND status = 'RUNNING' RETURNING moved`, id, s.acct).Scan(&moved)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound
	}
	if err != nil {
		return nil, fmt.Errorf("cancel move task: %w", err)
	}
	return map[string]int64{"ApproximateNumberOfMessagesMoved": moved}, nil
}

// resumeMoveTasks restarts the RUNNING tasks of this account.
func (s *Server) resumeMoveTasks() {
	rows, err := s.pool.Query(s.ctx, `SELECT task_id FROM localaws.sqs_move_tasks WHERE account_id = $1 AND status = 'RUNNING'`, s.acct)
	if err != nil {
		s.log.Error("sqs: resume move tasks", "err", err)
		return
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		s.log.Error("sqs: resume move tasks", "err", err)
		return
	}
	for _, id := range ids {
		s.runTask(id)
	}
}

func (s *Server) runTask(id uuid.UUID) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.moveLoop(id); err != nil && s.ctx.Err() == nil {
			s.log.Error("sqs: move task failed", "task", id, "err", err)
			_, _ = s.pool.Exec(context.Background(), `UPDATE localaws.sqs_move_tasks SET status = 'FAILED', failure_reason = $2
				WHERE task_id = $1 AND status = 'RUNNING'`, id, err.Error())
		}
	}()
}

// errTaskFailed marks reasons that end a task as FAILED (not internal errors).
type errTaskFailed string

func (e errTaskFailed) Error() string { return string(e) }

// moveLoop moves batches until the task's messages are gone, it is
// cancelled or the server closes. Each batch is one transaction that also
// locks the task row, so a cancel takes effect between batches.
func (s *Server) moveLoop(id uuid.UUID) error {
	for {
		start := time.Now()
		more, perSecond, err := s.moveBatch(id)
		if err != nil || !more {
			return err
		}
		if perSecond > 0 {
			// At most perSecond messages per (real) second.
			select {
			case <-time.After(time.Second - time.Since(start)):
			case <-s.ctx.Done():
				return nil
			}
		} else if s.ctx.Err() != nil {
			return nil
		}
	}
}

func (s *Server) moveBatch(id uuid.UUID) (more bool, perSecond int, err error) {
	ctx := s.ctx
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return false, 0, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	var status, srcARN string
	var dstARN *string
	var maxPS *int
	var maxID int64
	err = tx.QueryRow(ctx, `SELECT status, source_arn, destination_arn, max_per_second, max_message_id
		FROM localaws.sqs_move_tasks WHERE task_id = $1 FOR UPDATE`, id).Scan(&status, &srcARN, &dstARN, &maxPS, &maxID)
	if err != nil {
		return false, 0, fmt.Errorf("load task: %w", err)
	}
	if status != "RUNNING" {
		return false, 0, nil
	}
	limit := 100
	if maxPS != nil {
		perSecond = *maxPS
		limit = min(limit, perSecond)
	}
	src, ok := s.queueNameFromARN(srcARN)
	if !ok {
		return false, 0, errTaskFailed("source queue does not exist")
	}
	q, err := s.findQueue(ctx, src)
	if err != nil {
		return false, 0, err
	}
	if q == nil {
		return false, 0, errTaskFailed("source queue does not exist")
	}
	now := s.now()
	rows, err := tx.Query(ctx, `SELECT id, source_arn FROM localaws.sqs_messages
		WHERE account_id = $1 AND queue = $2 AND id <= $3 AND visible_at <= $4 AND sent_at > $5
		ORDER BY id LIMIT $6 FOR UPDATE SKIP LOCKED`, s.acct, src, maxID, now, retentionCutoff(q, now), limit)
	if err != nil {
		return false, 0, fmt.Errorf("select messages: %w", err)
	}
	type pick struct {
		id  int64
		arn *string
	}
	picks, err := pgx.CollectRows(rows, func(rs pgx.CollectableRow) (pick, error) {
		var p pick
		return p, rs.Scan(&p.id, &p.arn)
	})
	if err != nil {
		return false, 0, fmt.Errorf("select messages: %w", err)
	}
	if len(picks) == 0 {
		if _, err := tx.Exec(ctx, `UPDATE localaws.sqs_move_tasks SET status = 'COMPLETED' WHERE task_id = $1`, id); err != nil {
			return false, 0, fmt.Errorf("complete task: %w", err)
		}
		return false, 0, tx.Commit(ctx)
	}
	touched := map[string]bool{}
	for _, p := range picks {
		target := dstARN
		if target == nil {
			target = p.arn
		}
		if target == nil {
			return false, 0, errTaskFailed("a message has no DeadLetterQueueSourceArn and the task has no DestinationArn")
		}
		dst, ok := s.queueNameFromARN(*target)
		if !ok {
			return false, 0, errTaskFailed("destination queue " + *target + " does not exist")
		}
		tag, err := tx.Exec(ctx, `WITH moved AS (DELETE FROM localaws.sqs_messages WHERE id = $1 RETURNING *)
			INSERT INTO localaws.sqs_messages (account_id, queue, message_id, body, attributes, md5_body, md5_attributes,
				sender_id, trace_header, sent_at, visible_at, group_id, dedup_id)
			SELECT m.account_id, q.name, gen_random_uuid(), m.body, m.attributes, m.md5_body, m.md5_attributes,
				m.sender_id, m.trace_header, $3, $3, m.group_id, m.dedup_id
			FROM moved m JOIN localaws.sqs_queues q ON q.account_id = m.account_id AND q.name = $2`, p.id, dst, now)
		if err != nil {
			return false, 0, fmt.Errorf("move message: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return false, 0, errTaskFailed("destination queue " + *target + " does not exist")
		}
		touched[dst] = true
	}
	if _, err := tx.Exec(ctx, `UPDATE localaws.sqs_move_tasks SET moved = moved + $2 WHERE task_id = $1`, id, len(picks)); err != nil {
		return false, 0, fmt.Errorf("count moved: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return false, 0, fmt.Errorf("commit: %w", err)
	}
	for d := range touched {
		s.wake.notify(d)
	}
	return true, perSecond, nil
}

// sweepLoop physically deletes expired messages every interval.
func (s *Server) sweepLoop(every time.Duration) {
	defer s.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			if err := s.sweep(s.ctx); err != nil && s.ctx.Err() == nil {
				s.log.Warn("sqs: retention sweep", "err", err)
			}
		}
	}
}

// sweep deletes the messages older than their queue's MessageRetentionPeriod
// and forgets queues deleted more than 60 seconds ago.
func (s *Server) sweep(ctx context.Context) error {
	now := s.now()
	if _, err := s.bk.Exec(ctx, `DELETE FROM localaws.sqs_messages m USING localaws.sqs_queues q
		WHERE q.account_id = $1 AND m.account_id = q.account_id AND m.queue = q.name
		  AND m.sent_at <= $2::timestamptz - make_interval(secs => (q.attributes->>'MessageRetentionPeriod')::int)`,
		s.acct, now); err != nil {
		return err
	}
	if _, err := s.bk.Exec(ctx, `DELETE FROM localaws.sqs_deleted_queues WHERE account_id = $1 AND deleted_at <= $2::timestamptz - $3::interval`,
		s.acct, now, purgeWindow); err != nil {
		return err
	}
	_, err := s.bk.Exec(ctx, `DELETE FROM localaws.sqs_dedup WHERE account_id = $1 AND sent_at <= $2::timestamptz - $3::interval`,
		s.acct, now, dedupInterval)
	return err
}
