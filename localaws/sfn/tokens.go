package sfn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/checkout-dev/checkout/localaws/asl"
)

// registerToken records a waitForTaskToken task's token (idempotently). If
// the token was already answered (the step is being re-run after a crash),
// it returns the answer with done=true.
func (e *Executor) registerToken(ctx context.Context, arn string, req asl.TaskRequest) (json.RawMessage, bool, error) {
	now := e.now()
	if _, err := e.pool.Exec(ctx, `INSERT INTO localaws.sfn_task_tokens (token, execution_arn, state_name, heartbeat_at, created_at)
		VALUES ($1, $2, $3, $4, $4) ON CONFLICT (token) DO NOTHING`, req.TaskToken, arn, req.StateName, now); err != nil {
		return nil, false, fmt.Errorf("sfn: register task token: %w", err)
	}
	out, done, _, err := e.tokenOutcome(ctx, req.TaskToken)
	return out, done, err
}

// tokenOutcome reads a token: done with output or a *asl.TaskError when it
// was answered or timed out, else its last heartbeat.
func (e *Executor) tokenOutcome(ctx context.Context, token string) (json.RawMessage, bool, time.Time, error) {
	var status string
	var output, errName, cause *string
	var beat time.Time
	if err := e.pool.QueryRow(ctx, `SELECT status, output, error, cause, heartbeat_at FROM localaws.sfn_task_tokens WHERE token = $1`, token).
		Scan(&status, &output, &errName, &cause, &beat); err != nil {
		return nil, false, beat, fmt.Errorf("sfn: read task token: %w", err)
	}
	switch status {
	case "SUCCEEDED":
		return json.RawMessage(*output), true, beat, nil
	case "FAILED":
		te := &asl.TaskError{}
		if errName != nil {
			te.ErrorName = *errName
		}
		if cause != nil {
			te.Cause = *cause
		}
		return nil, true, beat, te
	case "TIMED_OUT", "CLOSED":
		return nil, true, beat, &asl.TaskError{ErrorName: asl.ErrTimeout, Cause: "the task token was closed"}
	}
	return nil, false, beat, nil
}

func (e *Executor) waiter(token string) chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	ch, ok := e.waiters[token]
	if !ok {
		ch = make(chan struct{}, 1)
		e.waiters[token] = ch
	}
	return ch
}

func (e *Executor) wake(token string) {
	e.mu.Lock()
	ch := e.waiters[token]
	e.mu.Unlock()
	if ch != nil {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// waitToken parks until the token is answered, its heartbeat expires, or
// ctx ends (TimeoutSeconds: the interpreter cancels ctx with cause
// asl.ErrTaskTimedOut and the token is marked TIMED_OUT).
func (e *Executor) waitToken(ctx context.Context, token string, heartbeat int) (json.RawMessage, error) {
	ch := e.waiter(token)
	defer func() {
		e.mu.Lock()
		delete(e.waiters, token)
		e.mu.Unlock()
	}()
	for {
		out, done, beat, err := e.tokenOutcome(ctx, token)
		if ctx.Err() != nil {
			return nil, e.tokenCtxEnd(ctx, token)
		}
		if done || err != nil {
			return out, err
		}
		var hb <-chan time.Time
		if heartbeat > 0 {
			left := beat.Add(time.Duration(heartbeat) * time.Second).Sub(e.opts.Clock.Now())
			if left <= 0 {
				if e.closeToken(ctx, token, "TIMED_OUT") {
					return nil, &asl.TaskError{ErrorName: asl.ErrHeartbeatTimeout,
						Cause: fmt.Sprintf("no heartbeat within %d seconds", heartbeat)}
				}
				continue // answered meanwhile
			}
			hb = e.opts.Clock.After(left)
		}
		poll := time.NewTimer(e.opts.TokenPollInterval)
		select {
		case <-ch:
		case <-hb:
		case <-poll.C:
		case <-ctx.Done():
			poll.Stop()
			return nil, e.tokenCtxEnd(ctx, token)
		}
		poll.Stop()
	}
}

func (e *Executor) tokenCtxEnd(ctx context.Context, token string) error {
	if errors.Is(context.Cause(ctx), asl.ErrTaskTimedOut) {
		e.closeToken(context.WithoutCancel(ctx), token, "TIMED_OUT")
	}
	return ctx.Err()
}

// closeToken moves a PENDING token to status; false if it was not PENDING.
func (e *Executor) closeToken(ctx context.Context, token, status string) bool {
	tag, err := e.pool.Exec(ctx, `UPDATE localaws.sfn_task_tokens SET status = $2, closed_at = $3 WHERE token = $1 AND status = 'PENDING'`,
		token, status, e.now())
	return err == nil && tag.RowsAffected() == 1
}

func validToken(token string) error {
	if len(token) == 0 || len(token) > 1024 {
		return apiErr(CodeInvalidToken, "Invalid Token: 'Invalid Length'")
	}
	if len(token) != 64 {
		return apiErr(CodeInvalidToken, "Invalid Token: 'Invalid token'")
	}
	for _, c := range token {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return apiErr(CodeInvalidToken, "Invalid Token: 'Invalid token'")
		}
	}
	return nil
}

// answerToken applies set (an UPDATE of a PENDING token) and maps a miss to
// TaskDoesNotExist (unknown token) or TaskTimedOut (closed task).
func (e *Executor) answerToken(ctx context.Context, token, sql string, args ...any) error {
	if err := validToken(token); err != nil {
		return err
	}
	tag, err := e.pool.Exec(ctx, sql, append([]any{token}, args...)...)
	if err != nil {
		return fmt.Errorf("sfn: answer task token: %w", err)
	}
	if tag.RowsAffected() == 1 {
		e.wake(token)
		return nil
	}
	var status string
	err = e.pool.QueryRow(ctx, `SELECT status FROM localaws.sfn_task_tokens WHERE token = $1`, token).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) {
		return apiErr(CodeTaskDoesNotExist, "Task Does Not Exist: 'Provided task does not exist anymore'")
	}
	if err != nil {
		return fmt.Errorf("sfn: read task token: %w", err)
	}
	return apiErr(CodeTaskTimedOut, "Task Timed Out: 'Provided task does not exist anymore'")
}

// SendTaskSuccess completes a waitForTaskToken task with output (JSON).
// Errors: InvalidToken, InvalidOutput, TaskDoesNotExist, TaskTimedOut.
func (e *Executor) SendTaskSuccess(ctx context.Context, token, output string) error {
	if err := validToken(token); err != nil {
		return err
	}
	if len(output) > maxPayload || !json.Valid([]byte(output)) {
		return apiErr(CodeInvalidOutput, "Invalid Output: the output must be valid JSON of at most %d bytes", maxPayload)
	}
	return e.answerToken(ctx, token, `UPDATE localaws.sfn_task_tokens SET status = 'SUCCEEDED', output = $2, closed_at = $3
		WHERE token = $1 AND status = 'PENDING'`, output, e.now())
}

// SendTaskFailure fails a waitForTaskToken task with error and cause.
func (e *Executor) SendTaskFailure(ctx context.Context, token, errName, cause string) error {
	return e.answerToken(ctx, token, `UPDATE localaws.sfn_task_tokens SET status = 'FAILED', error = $2, cause = $3, closed_at = $4
		WHERE token = $1 AND status = 'PENDING'`, errName, cause, e.now())
}

// SendTaskHeartbeat records a heartbeat for a waitForTaskToken task.
func (e *Executor) SendTaskHeartbeat(ctx context.Context, token string) error {
	return e.answerToken(ctx, token, `UPDATE localaws.sfn_task_tokens SET heartbeat_at = $2 WHERE token = $1 AND status = 'PENDING'`, e.now())
}
