package asl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Begin returns the cursor of a new execution (or branch) of d with the
// given input, entering StartAt at now. The input must be valid JSON.
func (d *Definition) Begin(input json.RawMessage, now time.Time) (Cursor, error) {
	if len(input) == 0 {
		input = json.RawMessage(`{}`)
	}
	v, err := decodeJSON(input)
	if err != nil {
		return Cursor{}, fmt.Errorf("asl: invalid input: %w", err)
	}
	return Cursor{State: d.StartAt, Input: mustEncode(v), EnteredAt: now.UTC(), Seq: 1}, nil
}

// Step performs the next step of c and returns the new cursor and the
// history events the step produced. A step is: entering and completing a
// non-Task state; scheduling a Task (phase "run" is then persisted before
// the task is called); running a scheduled Task to success or failure
// (including Retry/Catch); or finishing a Wait. When c.ResumeAt is in the
// future Step returns c unchanged and no events: wait and call again.
//
// Step returns a Go error only when it could not complete (ctx ended, or a
// corrupt cursor); the given cursor then stays valid and can be re-run.
// State failures are not Go errors: they are handled by Retry/Catch or end
// the cursor with Status FAILED and Error/Cause set.
func (d *Definition) Step(ctx context.Context, env *Env, c Cursor) (Cursor, []Event, error) {
	if c.Done() {
		return c, nil, errors.New("asl: cursor is already terminal")
	}
	st, ok := d.States[c.State]
	if !ok {
		return c, nil, fmt.Errorf("asl: cursor names unknown state %q", c.State)
	}
	input, err := decodeJSON(c.Input)
	if err != nil {
		return c, nil, fmt.Errorf("asl: cursor input: %w", err)
	}
	now := env.now()
	if c.ResumeAt != nil && now.Before(*c.ResumeAt) {
		return c, nil, nil
	}
	own, err := decodeVars(c.Vars)
	if err != nil {
		return c, nil, fmt.Errorf("asl: cursor variables: %w", err)
	}
	if err := env.transition(ctx, c); err != nil {
		return c, nil, err
	}
	stepEnv := *env
	stepEnv.vars = scopeVars(env.outer, own)
	s := &stepper{d: d, env: &stepEnv, st: st, c: c, now: now, input: input}
	s.c.Attempts = append([]int(nil), c.Attempts...)
	s.c.ResumeAt = nil
	if !s.c.Entered {
		s.c.Entered = true
		s.emit(st.Type+"StateEntered", map[string]any{"name": st.name, "input": string(c.Input),
			"inputDetails": map[string]any{"truncated": false}})
	}
	switch st.Type {
	case "Pass":
		return s.pass()
	case "Task":
		if s.c.Phase == "run" {
			return s.runTask(ctx, c)
		}
		return s.scheduleTask()
	case "Choice":
		return s.choice()
	case "Wait":
		return s.wait()
	case "Succeed":
		if st.lang == langJSONata {
			out, err := s.jsonataOutput(s.contextObject("", nil), s.input)
			if err != nil {
				return s.fail(err)
			}
			return s.next(out)
		}
		eff, err := s.inputPath()
		if err != nil {
			return s.fail(err)
		}
		out, err := s.outputPath(eff)
		if err != nil {
			return s.fail(err)
		}
		return s.next(out)
	case "Fail":
		return s.failState()
	case "Parallel":
		return s.parallel(ctx, c)
	case "Map":
		return s.mapState(ctx, c)
	}
	return c, nil, fmt.Errorf("asl: unsupported state type %q", st.Type)
}

// Run steps c until it is terminal, waiting on env's clock whenever the
// cursor says so. After every step that changed something, persist (if not
// nil) is called with the new cursor and its events; an error from persist
// stops the run. Run returns the terminal cursor, or the last cursor and
// the error that stopped it.
func (d *Definition) Run(ctx context.Context, env *Env, c Cursor, persist func(Cursor, []Event) error) (Cursor, error) {
	for !c.Done() {
		if c.ResumeAt != nil {
			if wait := c.ResumeAt.Sub(env.now()); wait > 0 {
				select {
				case <-env.clock().After(wait):
				case <-ctx.Done():
					return c, ctx.Err()
				}
				continue
			}
		}
		next, events, err := d.Step(ctx, env, c)
		if err != nil {
			return c, err
		}
		if persist != nil {
			if err := persist(next, events); err != nil {
				return c, err
			}
		}
		c = next
	}
	return c, nil
}

type stepper struct {
	d        *Definition
	env      *Env
	st       *State
	c        Cursor
	now      time.Time
	input    any // raw state input
	events   []Event
	assigned map[string]any // variables this state assigns, set when it ends
}

func (s *stepper) emit(typ string, details any) {
	s.events = append(s.events, event(s.now, typ, details))
}

const timeLayout = "2006-01-02T15:04:05.000Z"

func (s *stepper) contextObject(token string, mapItem map[string]any) any {
	ex := s.env.Execution
	var execInput any = map[string]any{}
	if len(ex.Input) > 0 {
		if v, err := decodeJSON(ex.Input); err == nil {
			execInput = v
		}
	}
	obj := map[string]any{
		"Execution": map[string]any{
			"Id": ex.ID, "Name": ex.Name, "Input": execInput, "RoleArn": ex.RoleArn,
			"StartTime": ex.StartTime.UTC().Format(timeLayout),
		},
		"State": map[string]any{
			"Name": s.st.name, "EnteredTime": s.c.EnteredAt.UTC().Format(timeLayout),
			"RetryCount": json.Number(fmt.Sprint(s.c.RetryCount)),
		},
		"StateMachine": map[string]any{"Id": ex.StateMachineID, "Name": ex.StateMachineName},
	}
	if token != "" {
		obj["Task"] = map[string]any{"Token": token}
	}
	if mapItem != nil {
		obj["Map"] = map[string]any{"Item": mapItem}
	}
	return obj
}

func (s *stepper) inputPath() (any, error) {
	switch ip := s.st.InputPath; {
	case !ip.Set:
		return deepCopy(s.input), nil
	case ip.Null:
		return map[string]any{}, nil
	default:
		v, err := ip.Path.Get(s.input)
		if err != nil {
			return nil, runtimeErr("Invalid path '%s' : No results for path: $['%s'] (InputPath)", ip.Path.raw, strings.TrimPrefix(ip.Path.raw, "$."))
		}
		return deepCopy(v), nil
	}
}

// effectiveInput applies InputPath then Parameters.
func (s *stepper) effectiveInput(ctxObj any) (any, error) {
	eff, err := s.inputPath()
	if err != nil {
		return nil, err
	}
	if s.st.params != nil {
		return s.st.params.eval(eff, ctxObj, s.env)
	}
	return eff, nil
}

func (s *stepper) outputPath(v any) (any, error) {
	switch op := s.st.OutputPath; {
	case !op.Set:
		return v, nil
	case op.Null:
		return map[string]any{}, nil
	default:
		out, err := op.Path.Get(v)
		if err != nil {
			return nil, runtimeErr("Invalid path '%s' : No results for path (OutputPath)", op.Path.raw)
		}
		return out, nil
	}
}

// applyResultPath merges result into the raw state input per ResultPath:
// absent or "$" → the result; null → the input unchanged; a path → the
// input with the result placed there.
func applyResultPath(rp OptPath, rawInput, result any) (any, error) {
	switch {
	case !rp.Set:
		return result, nil
	case rp.Null:
		return deepCopy(rawInput), nil
	default:
		return rp.Path.Set(deepCopy(rawInput), result)
	}
}

// next leaves the state with output: to Next, or terminal success on End
// (and for Succeed).
func (s *stepper) next(output any) (Cursor, []Event, error) {
	if s.st.End || s.st.Type == "Succeed" {
		raw := mustEncode(output)
		if len(raw) > MaxPayload {
			return s.terminal(dataLimit("state output", len(raw)))
		}
		s.emit(s.st.Type+"StateExited", map[string]any{"name": s.st.name, "output": string(raw),
			"outputDetails": map[string]any{"truncated": false}})
		s.c = Cursor{State: s.st.name, Seq: s.c.Seq, EnteredAt: s.c.EnteredAt, Entered: true,
			Status: StatusSucceeded, Output: raw}
		return s.c, s.events, nil
	}
	return s.goTo(s.st.Next, output)
}

// MaxPayload is the largest state input, output or task result Step
// Functions passes: 256 KiB of UTF-8 (developer guide, "Step Functions
// service quotas": "Maximum input or output size for a task, state, or
// execution: 256 KiB of data as a UTF-8 encoded string").
const MaxPayload = 256 * 1024

// dataLimit is the States.DataLimitExceeded failure of a payload too large.
func dataLimit(what string, n int) *TaskError {
	return &TaskError{ErrorName: ErrDataLimitExceeded,
		Cause: fmt.Sprintf("The %s has a size of %d bytes, which exceeds the maximum of %d bytes", what, n, MaxPayload)}
}

func (s *stepper) goTo(next string, output any) (Cursor, []Event, error) {
	raw := mustEncode(output)
	if len(raw) > MaxPayload {
		return s.terminal(dataLimit("state output", len(raw)))
	}
	s.emit(s.st.Type+"StateExited", map[string]any{"name": s.st.name, "output": string(raw),
		"outputDetails": map[string]any{"truncated": false}})
	s.c = Cursor{State: next, Input: raw, EnteredAt: s.now, Seq: s.c.Seq + 1, Vars: s.varsAfter()}
	return s.c, s.events, nil
}

// fail handles a state failure: Retry, then Catch, then terminal failure.
func (s *stepper) fail(err error) (Cursor, []Event, error) {
	te := asTaskError(err)
	if !isTerminal(te.ErrorName) {
		for i, r := range s.st.Retry {
			if !errorMatches(r.ErrorEquals, te.ErrorName) {
				continue
			}
			for len(s.c.Attempts) < len(s.st.Retry) {
				s.c.Attempts = append(s.c.Attempts, 0)
			}
			if s.c.Attempts[i] < r.maxAttempts() {
				at := s.now.Add(r.delay(s.c.Attempts[i], s.env.random))
				s.c.Attempts[i]++
				s.c.RetryCount++
				s.c.Phase, s.c.TaskInput, s.c.TaskToken, s.c.Timeout, s.c.Heartbeat = "", nil, "", 0, 0
				s.c.ResumeAt = &at
				return s.c, s.events, nil
			}
			break // the first matching Retrier decides; when exhausted, go to Catch
		}
		for _, cat := range s.st.Catch {
			if !errorMatches(cat.ErrorEquals, te.ErrorName) {
				continue
			}
			errOut := map[string]any{"Error": te.ErrorName, "Cause": te.Cause}
			// A catcher's Assign replaces the state's (which did not run);
			// in JSONata its Output (default: the error output) sees
			// $states.errorOutput.
			s.assigned = nil
			ctxObj := s.contextObject("", nil)
			var out any
			var err error
			if s.st.lang == langJSONata {
				states := s.statesVar(ctxObj, "errorOutput", errOut)
				if err = s.applyAssign(cat.assign, nil, ctxObj, states); err == nil {
					out = errOut
					if cat.output != nil {
						out, err = evalJSONataTemplate(cat.output, states, s.env.vars)
					}
				}
			} else if err = s.applyAssign(cat.assign, errOut, ctxObj, nil); err == nil {
				out, err = applyResultPath(cat.ResultPath, s.input, errOut)
			}
			if err != nil {
				return s.terminal(asTaskError(err))
			}
			return s.goTo(cat.Next, out)
		}
	}
	return s.terminal(te)
}

func (s *stepper) terminal(te *TaskError) (Cursor, []Event, error) {
	// The state's input and variables stay, so that a redrive can run the
	// state again (see Cursor.Redrive).
	s.c = Cursor{State: s.st.name, Input: s.c.Input, Vars: s.c.Vars, Seq: s.c.Seq, EnteredAt: s.c.EnteredAt, Entered: true,
		Status: StatusFailed, Error: te.ErrorName, Cause: te.Cause}
	return s.c, s.events, nil
}

// Redrive returns the cursor that runs a failed execution again from the
// state that failed, entered anew at now with its input and variables and
// fresh retry counts (developer guide, "Restarting state machine
// executions with redrive": "redrive restarts the execution from the point
// of failure ... Step Functions resets the retry attempts"). A cursor that is
// not terminal (an execution stopped or timed out mid-way) is returned as
// it is. ok is false for a successful cursor or one without its input.
func (c Cursor) Redrive(now time.Time) (Cursor, bool) {
	switch {
	case c.Status == StatusSucceeded:
		return c, false
	case c.Status == StatusFailed:
		if len(c.Input) == 0 {
			return c, false
		}
		return Cursor{State: c.State, Input: c.Input, Vars: c.Vars, EnteredAt: now.UTC(), Seq: c.Seq + 1}, true
	}
	return c, true
}

func (r Retrier) maxAttempts() int {
	if r.MaxAttempts == nil {
		return 3
	}
	return *r.MaxAttempts
}

// delay is the wait before retry number n+1 (n retries already done):
// IntervalSeconds × BackoffRate^n, capped by MaxDelaySeconds; with
// JitterStrategy FULL, a random duration in [0, that delay].
func (r Retrier) delay(n int, random func() float64) time.Duration {
	interval, rate := 1.0, 2.0
	if r.IntervalSeconds != nil {
		interval = *r.IntervalSeconds
	}
	if r.BackoffRate != nil {
		rate = *r.BackoffRate
	}
	secs := interval
	for range n {
		secs *= rate
	}
	if r.MaxDelaySeconds != nil && secs > *r.MaxDelaySeconds {
		secs = *r.MaxDelaySeconds
	}
	if r.JitterStrategy == "FULL" {
		secs *= random()
	}
	return time.Duration(secs * float64(time.Second))
}
