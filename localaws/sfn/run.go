package sfn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/checkout-dev/checkout/localaws/asl"
)

var (
	errAborted      = errors.New("sfn: execution aborted")
	errExecTimedOut = errors.New("sfn: execution timed out")
)

// runExecution drives one execution until it ends, is aborted, or ctx ends
// (then it stays RUNNING and resumes on the next Start).
//
// Progress is persisted in batches: the steps that call nothing (Pass,
// Choice, scheduling a Task, a Wait's end) are kept in memory and written,
// with their history events, in one statement together with the next step
// that must be durable: right before a step that calls tasks (a scheduled
// Task, a Parallel, a Map), when the cursor waits (Wait, a retry's backoff)
// and at the end. A crash therefore re-runs at most the pure steps since the
// last write and the task that was running, as before; a task that ended is
// re-run only if the process dies in the microseconds before the next
// write.
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
	def, err := e.parse(definition)
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
		Runner: &taskRunner{e: e, arn: arn, trace: executionTrace(json.RawMessage(input))}, Clock: e.opts.Clock, Random: e.opts.Random, Region: e.opts.Region,
		Execution: asl.ExecutionInfo{ID: arn, Name: name, Input: json.RawMessage(input), StartTime: start.UTC(),
			RoleArn: e.defaultRole(), StateMachineID: smArn, StateMachineName: strings.Join(smParts, ":")},
		// Only here, for STANDARD executions: runExpress leaves it unset.
		Transition: func(ctx context.Context) error { return e.transitions.take(ctx, smArn) },
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
	// The steps taken since the last write.
	var pending []asl.Event
	var transitions []Transition
	dirty := false
	flush := func(c asl.Cursor) (bool, error) {
		if !dirty {
			return true, nil
		}
		ok, err := e.persistStep(context.WithoutCancel(ctx), arn, c, pending)
		if err != nil {
			return false, err
		}
		pending, dirty = pending[:0], false
		for _, t := range transitions {
			e.notify(t)
		}
		transitions = transitions[:0]
		return ok, nil
	}
	ended := func() {
		if errors.Is(context.Cause(ctx), errExecTimedOut) {
			if _, err := flush(cur); err != nil {
				e.log.Error("sfn: persist steps", "execution", arn, "err", err)
			}
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
		if callsTasks(def, cur) {
			ok, err := flush(cur)
			if err != nil {
				e.log.Error("sfn: persist step; the execution resumes on the next Start", "execution", arn, "err", err)
				return
			}
			if !ok {
				return // aborted meanwhile
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
		pending = append(pending, events...)
		dirty = true
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
			transitions = append(transitions, t)
		}
		cur = next
		if cur.Done() || cur.ResumeAt != nil {
			ok, err := flush(cur)
			if err != nil {
				e.log.Error("sfn: persist step; the execution resumes on the next Start", "execution", arn, "err", err)
				return
			}
			if !ok {
				return // aborted meanwhile
			}
		}
	}
}

// callsTasks reports whether the next step of c may call a task (a side
// effect): the persisted cursor must then be c itself.
func callsTasks(def *asl.Definition, c asl.Cursor) bool {
	st, ok := def.States[c.State]
	if !ok {
		return true
	}
	switch st.Type {
	case "Task":
		return c.Phase == "run"
	case "Parallel", "Map":
		return true
	}
	return false
}

func (e *Executor) notify(t Transition) {
	e.log.Debug("sfn: transition", "execution", t.ExecutionARN, "from", t.From, "to", t.To, "status", t.Status)
	if e.opts.OnTransition != nil {
		e.opts.OnTransition(t)
	}
}

// eventArrays splits events into the column arrays of persistSQL.
func eventArrays(evs []asl.Event) (types []string, ts []time.Time, details []*string) {
	types = make([]string, len(evs))
	ts = make([]time.Time, len(evs))
	details = make([]*string, len(evs))
	for i, ev := range evs {
		types[i], ts[i] = ev.Type, ev.Timestamp
		if len(ev.Details) > 0 {
			d := string(ev.Details)
			details[i] = &d
		}
	}
	return types, ts, details
}

// appendEventsSQL is the CTE appending the events $3 (types), $4 (times),
// $5 (details) after the last event id of x.base.
const appendEventsSQL = `ins AS (
		INSERT INTO localaws.sfn_history_events (execution_arn, id, previous_event_id, type, ts, details)
		SELECT $1, x.base + e.o, x.base + e.o - 1, e.t, e.ts, e.d
		FROM x, unnest($3::text[], $4::timestamptz[], $5::text[]) WITH ORDINALITY AS e(t, ts, d, o))`

// persistSQL stores a running execution's cursor and appends its events in
// one statement (one round trip, no explicit transaction); it counts 0 when
// the execution is no longer RUNNING (and then stores nothing).
const persistSQL = `WITH x AS (
		UPDATE localaws.sfn_executions SET cursor = $2, last_event_id = last_event_id + cardinality($3::text[])
		WHERE arn = $1 AND status = 'RUNNING'
		RETURNING last_event_id - cardinality($3::text[]) AS base),
	` + appendEventsSQL + `
	SELECT count(*) FROM x`

// closeSQL ends a RUNNING execution: status $6, output $7, error $8, cause
// $9, stop date $10, the cursor $2 when not null, the events (the last one
// the closing event), and closes its pending task tokens.
const closeSQL = `WITH x AS (
		UPDATE localaws.sfn_executions SET cursor = coalesce($2, cursor), last_event_id = last_event_id + cardinality($3::text[]),
			status = $6, output = $7, error = $8, cause = $9, stop_date = $10
		WHERE arn = $1 AND status = 'RUNNING'
		RETURNING last_event_id - cardinality($3::text[]) AS base),
	` + appendEventsSQL + `,
	tok AS (
		UPDATE localaws.sfn_task_tokens SET status = 'CLOSED', closed_at = $10
		WHERE execution_arn = $1 AND status = 'PENDING' AND EXISTS (SELECT 1 FROM x))
	SELECT count(*) FROM x`

// persistStep stores a cursor and the events since the last write (on the
// bookkeeping pool), and the terminal status when the cursor is terminal.
// It returns false (and stores nothing) when the execution is no longer
// RUNNING.
func (e *Executor) persistStep(ctx context.Context, arn string, next asl.Cursor, evs []asl.Event) (bool, error) {
	curJSON, err := json.Marshal(next)
	if err != nil {
		return false, err
	}
	cursor := string(curJSON)
	var n int
	if !next.Done() {
		types, ts, details := eventArrays(evs)
		err = e.bk.QueryRow(ctx, persistSQL, arn, cursor, types, ts, details).Scan(&n)
	} else {
		now := e.now()
		var final asl.Event
		var status string
		var output *string
		if next.Status == asl.StatusSucceeded {
			o := string(next.Output)
			status, output = "SUCCEEDED", &o
			final = asl.Event{Type: "ExecutionSucceeded", Timestamp: now,
				Details: mustJSON(map[string]any{"output": o, "outputDetails": map[string]any{"truncated": false}})}
		} else {
			status = "FAILED"
			final = asl.Event{Type: "ExecutionFailed", Timestamp: now, Details: mustJSON(map[string]any{"error": next.Error, "cause": next.Cause})}
		}
		types, ts, details := eventArrays(append(evs[:len(evs):len(evs)], final))
		var errName, cause *string
		if status == "FAILED" {
			errName, cause = &next.Error, &next.Cause
		}
		err = e.bk.QueryRow(ctx, closeSQL, arn, &cursor, types, ts, details, status, output, errName, cause, now).Scan(&n)
	}
	if err != nil {
		return false, fmt.Errorf("sfn: persist step of %s: %w", arn, err)
	}
	return n == 1, nil
}

// finish closes a RUNNING execution with a status and a final event
// (synchronously committed: it answers StopExecution and ends executions).
// It returns false when the execution was not RUNNING.
func (e *Executor) finish(ctx context.Context, arn, status string, output, errName, cause *string, evType string, details map[string]any, now time.Time) (bool, error) {
	types, ts, ds := eventArrays([]asl.Event{{Type: evType, Timestamp: now, Details: mustJSON(details)}})
	var n int
	if err := e.pool.QueryRow(ctx, closeSQL, arn, nil, types, ts, ds, status, output, errName, cause, now).Scan(&n); err != nil {
		return false, fmt.Errorf("sfn: finish %s: %w", arn, err)
	}
	return n == 1, nil
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage(`{}`)
	}
	return b
}
