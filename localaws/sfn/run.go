package sfn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/checkout-dev/checkout/localaws/asl"
)

var (
	errAborted      = errors.New("sfn: execution aborted")
	errExecTimedOut = errors.New("sfn: execution timed out")
)

// runExecution drives one execution until it ends, is aborted, or ctx ends
// (then it stays RUNNING and resumes on the next Start).
func (e *Executor) runExecution(ctx context.Context, arn string) {
	var definition, curJSON, input, name, smArn, status string
	var start time.Time
	err := e.pool.QueryRow(ctx, `SELECT definition, cursor, input, name, state_machine_arn, status, start_date
		FROM localaws.sfn_executions WHERE arn = $1`, arn).Scan(&definition, &curJSON, &input, &name, &smArn, &status, &start)
	if err != nil {
		if ctx.Err() == nil {
			e.log.Error("sfn: load execution", "execution", arn, "err", err)
		}
		return
	}
	if status != "RUNNING" {
		return
	}
	fail := func(cause string) {
		if _, err := e.finish(context.WithoutCancel(ctx), arn, "FAILED", nil, ptrIf(asl.ErrRuntime), &cause,
			"ExecutionFailed", map[string]any{"error": asl.ErrRuntime, "cause": cause}, e.now()); err != nil {
			e.log.Error("sfn: fail execution", "execution", arn, "err", err)
		}
	}
	def, err := asl.Parse([]byte(definition))
	if err != nil {
		fail(err.Error())
		return
	}
	var cur asl.Cursor
	if err := json.Unmarshal([]byte(curJSON), &cur); err != nil {
		fail("corrupt cursor: " + err.Error())
		return
	}
	smParts, _ := parseARN(smArn, "stateMachine")
	env := &asl.Env{
		Runner: &taskRunner{e: e, arn: arn}, Clock: e.opts.Clock, Random: e.opts.Random, Region: e.opts.Region,
		Execution: asl.ExecutionInfo{ID: arn, Name: name, Input: json.RawMessage(input), StartTime: start.UTC(),
			RoleArn: e.defaultRole(), StateMachineID: smArn, StateMachineName: strings.Join(smParts, ":")},
	}
	if def.TimeoutSeconds != nil && *def.TimeoutSeconds > 0 {
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(ctx)
		defer cancel(nil)
		deadline := start.Add(time.Duration(*def.TimeoutSeconds) * time.Second)
		go func() {
			select {
			case <-e.opts.Clock.After(deadline.Sub(e.opts.Clock.Now())):
				cancel(errExecTimedOut)
			case <-ctx.Done():
			}
		}()
	}
	ended := func() {
		if errors.Is(context.Cause(ctx), errExecTimedOut) {
			cause := fmt.Sprintf("The execution exceeded TimeoutSeconds (%d)", *def.TimeoutSeconds)
			if _, err := e.finish(context.WithoutCancel(ctx), arn, "TIMED_OUT", nil, ptrIf(asl.ErrTimeout), &cause,
				"ExecutionTimedOut", map[string]any{"error": asl.ErrTimeout, "cause": cause}, e.now()); err != nil {
				e.log.Error("sfn: time out execution", "execution", arn, "err", err)
			}
			e.notify(Transition{ExecutionARN: arn, From: cur.State, Status: "TIMED_OUT", Error: asl.ErrTimeout, At: e.now()})
		}
	}
	for !cur.Done() {
		if cur.ResumeAt != nil {
			if wait := cur.ResumeAt.Sub(e.opts.Clock.Now()); wait > 0 {
				select {
				case <-e.opts.Clock.After(wait):
				case <-ctx.Done():
					ended()
					return
				}
				continue
			}
		}
		next, events, err := def.Step(ctx, env, cur)
		if err != nil {
			if ctx.Err() != nil {
				ended()
				return
			}
			fail(err.Error())
			return
		}
		ok, err := e.persistStep(ctx, arn, next, events)
		if err != nil {
			if ctx.Err() != nil {
				ended()
				return
			}
			e.log.Error("sfn: persist step; the execution resumes on the next Start", "execution", arn, "err", err)
			return
		}
		if !ok {
			return // aborted meanwhile
		}
		if next.State != cur.State || next.Done() || next.Seq != cur.Seq {
			t := Transition{ExecutionARN: arn, From: cur.State, Status: "RUNNING", At: e.now()}
			switch {
			case next.Status == asl.StatusSucceeded:
				t.Status = "SUCCEEDED"
			case next.Status == asl.StatusFailed:
				t.Status, t.Error = "FAILED", next.Error
			default:
				t.To = next.State
			}
			e.notify(t)
		}
		cur = next
	}
}

func (e *Executor) notify(t Transition) {
	e.log.Debug("sfn: transition", "execution", t.ExecutionARN, "from", t.From, "to", t.To, "status", t.Status)
	if e.opts.OnTransition != nil {
		e.opts.OnTransition(t)
	}
}

// insertEvents appends events after last and returns the new last id.
func insertEvents(ctx context.Context, tx pgx.Tx, arn string, last int64, evs []asl.Event) (int64, error) {
	for _, ev := range evs {
		last++
		var details *string
		if len(ev.Details) > 0 {
			s := string(ev.Details)
			details = &s
		}
		if _, err := tx.Exec(ctx, `INSERT INTO localaws.sfn_history_events (execution_arn, id, previous_event_id, type, ts, details)
			VALUES ($1, $2, $3, $4, $5, $6)`, arn, last, last-1, ev.Type, ev.Timestamp, details); err != nil {
			return 0, err
		}
	}
	return last, nil
}

// persistStep stores a step's cursor and events in one transaction, and the
// terminal status when the cursor is terminal. It returns false (and
// stores nothing) when the execution is no longer RUNNING.
func (e *Executor) persistStep(ctx context.Context, arn string, next asl.Cursor, evs []asl.Event) (bool, error) {
	curJSON, err := json.Marshal(next)
	if err != nil {
		return false, err
	}
	cursor := string(curJSON)
	ok := false
	err = pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
		last, running, err := lockRunning(ctx, tx, arn)
		if err != nil || !running {
			return err
		}
		if last, err = insertEvents(ctx, tx, arn, last, evs); err != nil {
			return err
		}
		ok = true
		if !next.Done() {
			_, err := tx.Exec(ctx, `UPDATE localaws.sfn_executions SET cursor = $2, last_event_id = $3 WHERE arn = $1`, arn, cursor, last)
			return err
		}
		now := e.now()
		if next.Status == asl.StatusSucceeded {
			o := string(next.Output)
			return closeRunning(ctx, tx, arn, last, &cursor, "SUCCEEDED", &o, nil, nil, asl.Event{Type: "ExecutionSucceeded",
				Timestamp: now, Details: mustJSON(map[string]any{"output": o, "outputDetails": map[string]any{"truncated": false}})})
		}
		return closeRunning(ctx, tx, arn, last, &cursor, "FAILED", nil, &next.Error, &next.Cause, asl.Event{Type: "ExecutionFailed",
			Timestamp: now, Details: mustJSON(map[string]any{"error": next.Error, "cause": next.Cause})})
	})
	if err != nil {
		return false, fmt.Errorf("sfn: persist step of %s: %w", arn, err)
	}
	return ok, nil
}

// finish closes a RUNNING execution with a status and a final event. It
// returns false when the execution was not RUNNING.
func (e *Executor) finish(ctx context.Context, arn, status string, output, errName, cause *string, evType string, details map[string]any, now time.Time) (bool, error) {
	ok := false
	err := pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
		last, running, err := lockRunning(ctx, tx, arn)
		if err != nil || !running {
			return err
		}
		ok = true
		return closeRunning(ctx, tx, arn, last, nil, status, output, errName, cause,
			asl.Event{Type: evType, Timestamp: now, Details: mustJSON(details)})
	})
	if err != nil {
		return false, fmt.Errorf("sfn: finish %s: %w", arn, err)
	}
	return ok, nil
}

// lockRunning locks the execution row in tx and returns its last event id,
// with running false when the execution is no longer RUNNING.
func lockRunning(ctx context.Context, tx pgx.Tx, arn string) (last int64, running bool, err error) {
	var status string
	if err := tx.QueryRow(ctx, `SELECT last_event_id, status FROM localaws.sfn_executions WHERE arn = $1 FOR UPDATE`, arn).
		Scan(&last, &status); err != nil {
		return 0, false, err
	}
	return last, status == "RUNNING", nil
}

// closeRunning ends the execution locked by lockRunning, whose last event
// is last: it appends final, stores status, output, error, cause, the stop
// date (final's time) and, when not nil, cursor, and closes the
// execution's pending task tokens.
func closeRunning(ctx context.Context, tx pgx.Tx, arn string, last int64, cursor *string, status string,
	output, errName, cause *string, final asl.Event) error {
	last, err := insertEvents(ctx, tx, arn, last, []asl.Event{final})
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE localaws.sfn_executions SET cursor = coalesce($8, cursor), last_event_id = $2, status = $3,
		output = $4, error = $5, cause = $6, stop_date = $7 WHERE arn = $1`,
		arn, last, status, output, errName, cause, final.Timestamp, cursor); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE localaws.sfn_task_tokens SET status = 'CLOSED', closed_at = $2
		WHERE execution_arn = $1 AND status = 'PENDING'`, arn, final.Timestamp)
	return err
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage(`{}`)
	}
	return b
}
