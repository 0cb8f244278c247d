package asl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

func (s *stepper) pass() (Cursor, []Event, error) {
	ctxObj := s.contextObject("", nil)
	if s.st.lang == langJSONata {
		out, err := s.jsonataOutput(ctxObj, s.input)
		if err != nil {
			return s.fail(err)
		}
		return s.next(out)
	}
	eff, err := s.effectiveInput(ctxObj)
	if err != nil {
		return s.fail(err)
	}
	result := eff
	if s.st.hasResult {
		result = deepCopy(s.st.result)
	}
	if err := s.applyAssign(s.st.assign, result, ctxObj, nil); err != nil {
		return s.fail(err)
	}
	merged, err := applyResultPath(s.st.ResultPath, s.input, result)
	if err != nil {
		return s.fail(err)
	}
	out, err := s.outputPath(merged)
	if err != nil {
		return s.fail(err)
	}
	return s.next(out)
}

// jsonataOutput ends a JSONata state: Assign and Output (default: def)
// are evaluated with the same $states and the variables of the state's
// entry; extra adds to $states (result, errorOutput).
func (s *stepper) jsonataOutput(ctxObj, def any, extra ...any) (any, error) {
	states := s.statesVar(ctxObj, extra...)
	if err := s.applyAssign(s.st.assign, nil, ctxObj, states); err != nil {
		return nil, err
	}
	if !s.st.hasOutput {
		return deepCopy(def), nil
	}
	return evalJSONataTemplate(s.st.output, states, s.env.vars)
}

// resourceParts splits a Resource into the resourceType and resource that
// AWS reports in Task* history events.
func resourceParts(res string) (string, string) {
	if rest, ok := strings.CutPrefix(res, "arn:aws:states:::"); ok {
		if t, r, ok := strings.Cut(rest, ":"); ok {
			return t, r
		}
		return rest, ""
	}
	parts := strings.SplitN(res, ":", 4)
	if len(parts) >= 3 {
		return parts[2], res
	}
	return "", res
}

func (s *stepper) secondsField(fixed *int, path string, eff any, field string) (int, error) {
	if fixed != nil {
		return *fixed, nil
	}
	if path == "" {
		return 0, nil
	}
	v, err := resolvePath(MustParsePath(path), eff, nil, s.env.vars)
	if err != nil {
		return 0, err
	}
	n, ok := toInt(v)
	if !ok || n <= 0 {
		return 0, runtimeErr("%s '%s' must point to a positive integer, got %s", field, path, mustEncode(v))
	}
	return int(n), nil
}

func (s *stepper) scheduleTask() (Cursor, []Event, error) {
	token := ""
	if strings.HasSuffix(s.st.Resource, ".waitForTaskToken") {
		token = s.env.token(fmt.Sprintf("%s#%d#%d", s.st.name, s.c.Seq, s.c.RetryCount))
	}
	var eff, raw any
	var err error
	if s.st.lang == langJSONata {
		raw, eff = s.input, s.input
		if s.st.arguments != nil {
			if eff, err = evalJSONataTemplate(s.st.arguments, s.statesVar(s.contextObject(token, nil)), s.env.vars); err != nil {
				return s.fail(err)
			}
		}
	} else {
		if eff, err = s.effectiveInput(s.contextObject(token, nil)); err != nil {
			return s.fail(err)
		}
		if raw, err = s.inputPath(); err != nil {
			return s.fail(err)
		}
	}
	timeout, err := s.secondsField(s.st.TimeoutSeconds, s.st.TimeoutSecondsPath, raw, "TimeoutSecondsPath")
	if err != nil {
		return s.fail(err)
	}
	heartbeat, err := s.secondsField(s.st.HeartbeatSeconds, s.st.HeartbeatSecondsPath, raw, "HeartbeatSecondsPath")
	if err != nil {
		return s.fail(err)
	}
	for _, f := range []struct {
		name string
		dst  *int
	}{{"TimeoutSeconds", &timeout}, {"HeartbeatSeconds", &heartbeat}} {
		v, set, err := s.exprNumber(f.name, s.contextObject(token, nil))
		if err != nil {
			return s.fail(err)
		}
		if set {
			if v < 1 || v != float64(int(v)) {
				return s.fail(queryErr("%s must evaluate to a positive integer, got %v", f.name, v))
			}
			*f.dst = int(v)
		}
	}
	s.c.Phase, s.c.TaskInput, s.c.TaskToken = "run", mustEncode(eff), token
	if len(s.c.TaskInput) > MaxPayload {
		return s.terminal(dataLimit("task input", len(s.c.TaskInput)))
	}
	s.c.Timeout, s.c.Heartbeat, s.c.ResumeAt = timeout, heartbeat, nil
	typ, res := resourceParts(s.st.Resource)
	details := map[string]any{"resourceType": typ, "resource": res, "region": s.env.Region,
		"parameters": string(s.c.TaskInput)}
	if timeout > 0 {
		details["timeoutInSeconds"] = timeout
	}
	if heartbeat > 0 {
		details["heartbeatInSeconds"] = heartbeat
	}
	s.emit("TaskScheduled", details)
	return s.c, s.events, nil
}

type taskResult struct {
	out json.RawMessage
	err error
}

// runTask calls the TaskRunner for a scheduled task. orig is returned with
// ctx's error when the embedder's context ends mid-call.
func (s *stepper) runTask(ctx context.Context, orig Cursor) (Cursor, []Event, error) {
	typ, res := resourceParts(s.st.Resource)
	s.emit("TaskStarted", map[string]any{"resourceType": typ, "resource": res})
	req := TaskRequest{Resource: s.st.Resource, Input: s.c.TaskInput, TaskToken: s.c.TaskToken,
		StateName: s.st.name, Attempt: s.c.RetryCount, TimeoutSeconds: s.c.Timeout,
		HeartbeatSeconds: s.c.Heartbeat, ExecutionID: s.env.Execution.ID}
	out, err := callTask(ctx, s.env, req)
	if ctx.Err() != nil {
		return orig, nil, ctx.Err()
	}
	// The task's end events carry the time it ended, so the history shows
	// how long each task ran (as AWS's does).
	s.now = s.env.now()
	if err != nil {
		te := asTaskError(err)
		kind := "TaskFailed"
		if te.ErrorName == ErrTimeout || te.ErrorName == ErrHeartbeatTimeout {
			kind = "TaskTimedOut"
		}
		s.emit(kind, map[string]any{"resourceType": typ, "resource": res, "error": te.ErrorName, "cause": te.Cause})
		return s.fail(te)
	}
	if len(out) > MaxPayload {
		te := dataLimit("task result", len(out))
		s.emit("TaskFailed", map[string]any{"resourceType": typ, "resource": res, "error": te.ErrorName, "cause": te.Cause})
		return s.terminal(te)
	}
	result, derr := decodeJSON(out)
	if derr != nil {
		te := runtimeErr("the task returned invalid JSON: %v", derr)
		s.emit("TaskFailed", map[string]any{"resourceType": typ, "resource": res, "error": te.ErrorName, "cause": te.Cause})
		return s.fail(te)
	}
	s.emit("TaskSucceeded", map[string]any{"resourceType": typ, "resource": res, "output": string(mustEncode(result)),
		"outputDetails": map[string]any{"truncated": false}})
	final, perr := s.processResult(result, s.contextObject(s.c.TaskToken, nil))
	if perr != nil {
		return s.fail(perr)
	}
	return s.next(final)
}

// processResult ends a Task, Parallel or Map state with its result: in
// JSONPath, ResultSelector, Assign (against the selected result),
// ResultPath and OutputPath; in JSONata, Assign and Output with
// $states.result (the output defaults to the result).
func (s *stepper) processResult(result any, ctxObj any) (any, error) {
	if s.st.lang == langJSONata {
		return s.jsonataOutput(ctxObj, result, "result", result)
	}
	if s.st.resultSelector != nil {
		var err error
		if result, err = s.st.resultSelector.eval(result, ctxObj, s.env); err != nil {
			return nil, err
		}
	}
	if err := s.applyAssign(s.st.assign, result, ctxObj, nil); err != nil {
		return nil, err
	}
	merged, err := applyResultPath(s.st.ResultPath, s.input, result)
	if err != nil {
		return nil, err
	}
	return s.outputPath(merged)
}

// callTask runs the task with the TimeoutSeconds deadline measured on the
// env's clock. A runner panic becomes States.TaskFailed.
func callTask(ctx context.Context, env *Env, req TaskRequest) (json.RawMessage, error) {
	if env.Runner == nil {
		return nil, &TaskError{ErrorName: ErrTaskFailed, Cause: "no TaskRunner configured"}
	}
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(context.Canceled)
	done := make(chan taskResult, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- taskResult{err: &TaskError{ErrorName: ErrTaskFailed, Cause: fmt.Sprintf("task runner panicked: %v", r)}}
			}
		}()
		out, err := env.Runner.RunTask(cctx, req)
		done <- taskResult{out, err}
	}()
	var timer <-chan time.Time
	if req.TimeoutSeconds > 0 {
		timer = env.clock().After(time.Duration(req.TimeoutSeconds) * time.Second)
	}
	select {
	case r := <-done:
		return r.out, r.err
	case <-timer:
		cancel(ErrTaskTimedOut)
		return nil, &TaskError{ErrorName: ErrTimeout, Cause: fmt.Sprintf("the task did not finish within %d seconds", req.TimeoutSeconds)}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *stepper) choice() (Cursor, []Event, error) {
	ctxObj := s.contextObject("", nil)
	if s.st.lang == langJSONata {
		return s.choiceJSONata(ctxObj)
	}
	eff, err := s.inputPath()
	if err != nil {
		return s.fail(err)
	}
	target := ""
	assign := s.st.assign
	for _, r := range s.st.Choices {
		ok, err := r.eval(eff, ctxObj, s.env.vars)
		if err != nil {
			return s.fail(err)
		}
		if ok {
			target = r.Next
			if r.assign != nil {
				assign = r.assign
			}
			break
		}
	}
	if target == "" {
		target = s.st.Default
	}
	if target != "" {
		if err := s.applyAssign(assign, eff, ctxObj, nil); err != nil {
			return s.fail(err)
		}
	}
	if target == "" {
		// States Language, Choice State: "If no Choice Rule matches and no
		// Default transition was specified, the interpreter MUST raise a
		// States.NoChoiceMatched error."
		return s.fail(&TaskError{ErrorName: ErrNoChoiceMatched, Cause: fmt.Sprintf("No Choice Rule matched and there is no Default in state '%s'", s.st.name)})
	}
	out, err := s.outputPath(eff)
	if err != nil {
		return s.fail(err)
	}
	return s.goTo(target, out)
}

// choiceJSONata: the first rule whose Condition is true wins; its Assign
// and Output (else the state's) apply; else Default with the state's.
func (s *stepper) choiceJSONata(ctxObj any) (Cursor, []Event, error) {
	states := s.statesVar(ctxObj)
	for _, r := range s.st.Choices {
		v, err := evalJSONata(r.condition, states, s.env.vars)
		if err != nil {
			return s.fail(err)
		}
		b, ok := v.(bool)
		if !ok {
			return s.fail(queryErr("The Condition '%s' must evaluate to a boolean, got %s", r.Condition, typeName(v)))
		}
		if !b {
			continue
		}
		assign, output, hasOutput := s.st.assign, s.st.output, s.st.hasOutput
		if r.assign != nil {
			assign = r.assign
		}
		if r.hasOutput {
			output, hasOutput = r.output, true
		}
		if err := s.applyAssign(assign, nil, ctxObj, states); err != nil {
			return s.fail(err)
		}
		out := deepCopy(s.input)
		if hasOutput {
			if out, err = evalJSONataTemplate(output, states, s.env.vars); err != nil {
				return s.fail(err)
			}
		}
		return s.goTo(r.Next, out)
	}
	if s.st.Default == "" {
		return s.fail(&TaskError{ErrorName: ErrNoChoiceMatched, Cause: fmt.Sprintf("No Choice Rule matched and there is no Default in state '%s'", s.st.name)})
	}
	out, err := s.jsonataOutput(ctxObj, s.input)
	if err != nil {
		return s.fail(err)
	}
	return s.goTo(s.st.Default, out)
}

func (s *stepper) wait() (Cursor, []Event, error) {
	eff, err := s.inputPath()
	if err != nil {
		return s.fail(err)
	}
	if s.c.Phase != "wait" {
		var until time.Time
		switch st := s.st; {
		case st.exprs["Seconds"] != "":
			n, _, err := s.exprNumber("Seconds", s.contextObject("", nil))
			if err != nil {
				return s.fail(err)
			}
			until = s.c.EnteredAt.Add(time.Duration(n) * time.Second)
		case st.exprs["Timestamp"] != "":
			v, err := evalJSONataTemplate(st.exprs["Timestamp"], s.statesVar(s.contextObject("", nil)), s.env.vars)
			if err != nil {
				return s.fail(err)
			}
			str, _ := v.(string)
			t, ok := parseTimestamp(str)
			if !ok {
				return s.fail(queryErr("Timestamp must evaluate to an RFC 3339 timestamp, got %s", mustEncode(v)))
			}
			until = t
		case st.Seconds != nil:
			n, _ := toInt(*st.Seconds)
			until = s.c.EnteredAt.Add(time.Duration(n) * time.Second)
		case st.Timestamp != "":
			until, _ = parseTimestamp(st.Timestamp)
		case st.SecondsPath != "":
			v, err := resolvePath(MustParsePath(st.SecondsPath), eff, nil, s.env.vars)
			if err != nil {
				return s.fail(err)
			}
			n, ok := toInt(v)
			if !ok || n < 0 {
				return s.fail(runtimeErr("SecondsPath '%s' must point to a non-negative integer, got %s", st.SecondsPath, mustEncode(v)))
			}
			until = s.c.EnteredAt.Add(time.Duration(n) * time.Second)
		default:
			v, err := resolvePath(MustParsePath(st.TimestampPath), eff, nil, s.env.vars)
			if err != nil {
				return s.fail(err)
			}
			str, _ := v.(string)
			t, ok := parseTimestamp(str)
			if !ok {
				return s.fail(runtimeErr("TimestampPath '%s' must point to an RFC 3339 timestamp, got %s", st.TimestampPath, mustEncode(v)))
			}
			until = t
		}
		s.c.Phase = "wait"
		if until.After(s.now) {
			u := until.UTC()
			s.c.ResumeAt = &u
			return s.c, s.events, nil
		}
	}
	if s.st.lang == langJSONata {
		out, err := s.jsonataOutput(s.contextObject("", nil), s.input)
		if err != nil {
			return s.fail(err)
		}
		return s.next(out)
	}
	if err := s.applyAssign(s.st.assign, eff, s.contextObject("", nil), nil); err != nil {
		return s.fail(err)
	}
	out, err := s.outputPath(eff)
	if err != nil {
		return s.fail(err)
	}
	return s.next(out)
}

func (s *stepper) failState() (Cursor, []Event, error) {
	te := &TaskError{ErrorName: s.st.Error, Cause: s.st.Cause}
	ctxObj := s.contextObject("", nil)
	if s.st.lang == langJSONata {
		states := s.statesVar(ctxObj)
		for _, f := range []*string{&te.ErrorName, &te.Cause} {
			v, err := evalJSONataTemplate(*f, states, s.env.vars)
			if err != nil {
				return s.terminal(asTaskError(err))
			}
			str, ok := v.(string)
			if !ok {
				return s.terminal(queryErr("A Fail state's Error and Cause must evaluate to strings, got %s", typeName(v)))
			}
			*f = str
		}
		return s.terminal(te)
	}
	resolve := func(expr string) (string, error) {
		var v any
		var err error
		if isIntrinsic(expr) {
			var c *intrinsicCall
			if c, err = parseIntrinsic(expr); err == nil {
				v, err = evalIntrinsic(c, s.input, ctxObj, s.env)
			}
		} else {
			v, err = resolvePath(MustParsePath(expr), s.input, ctxObj, s.env.vars)
		}
		if err != nil {
			return "", err
		}
		str, ok := v.(string)
		if !ok {
			return "", runtimeErr("'%s' must resolve to a string, got %s", expr, typeName(v))
		}
		return str, nil
	}
	var err error
	if s.st.ErrorPath != "" {
		if te.ErrorName, err = resolve(s.st.ErrorPath); err != nil {
			return s.terminal(asTaskError(err))
		}
	}
	if s.st.CausePath != "" {
		if te.Cause, err = resolve(s.st.CausePath); err != nil {
			return s.terminal(asTaskError(err))
		}
	}
	return s.terminal(te)
}

// runBranches runs sub-definitions concurrently (at most limit at once;
// 0 = all), started in input order: with limit 1 each starts when the one
// before it ended. It returns their outputs in order, their events in order,
// and the failure of the whole. tolerate, when not nil, is asked after each
// failure with the number of failures so far: while it says yes the other
// branches go on and a failed branch's output is its {"Error","Cause"};
// otherwise (and always without tolerate) a failure cancels the others.
func (s *stepper) runBranches(ctx context.Context, defs []*Definition, inputs []any, scope string, limit int, tolerate func(failed int) bool) ([]any, []Event, *TaskError, error) {
	n := len(defs)
	outs := make([]any, n)
	evs := make([][]Event, n)
	errs := make([]*TaskError, n)
	bctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first *TaskError
	failed := 0
	if limit <= 0 {
		limit = n
	}
	sem := make(chan struct{}, max(limit, 1))
dispatch:
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-bctx.Done():
			break dispatch
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			env := s.env.child(fmt.Sprintf("%s#%d#%d/%s%d", s.st.name, s.c.Seq, s.c.RetryCount, scope, i))
			env.outer = s.env.vars // read-only: a branch assigns in a scope of its own
			cur, err := defs[i].Begin(mustEncode(inputs[i]), s.now)
			if err == nil {
				cur, err = defs[i].Run(bctx, env, cur, func(_ Cursor, e []Event) error {
					evs[i] = append(evs[i], e...)
					return nil
				})
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				if first == nil && ctx.Err() == nil && !errors.Is(err, context.Canceled) {
					first = &TaskError{ErrorName: ErrRuntime, Cause: err.Error()}
					errs[i] = first
					cancel()
				}
			case cur.Status == StatusFailed:
				errs[i] = &TaskError{ErrorName: cur.Error, Cause: cur.Cause}
				failed++
				if tolerate != nil && first == nil && tolerate(failed) {
					outs[i] = map[string]any{"Error": cur.Error, "Cause": cur.Cause}
					break
				}
				if first == nil {
					first = errs[i]
					if tolerate != nil {
						first = &TaskError{ErrorName: ErrExceedToleratedFailureThreshold,
							Cause: fmt.Sprintf("The specified tolerated failure threshold was exceeded: %d of %d iterations failed (last: %s)", failed, n, errs[i].Error())}
					}
					cancel()
				}
			default:
				v, derr := decodeJSON(cur.Output)
				if derr != nil {
					v = nil
				}
				outs[i] = v
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil, nil, nil, ctx.Err()
	}
	var all []Event
	for _, e := range evs {
		all = append(all, e...)
	}
	return outs, all, first, nil
}

func (s *stepper) parallel(ctx context.Context, orig Cursor) (Cursor, []Event, error) {
	ctxObj := s.contextObject("", nil)
	var eff any
	var err error
	if s.st.lang == langJSONata {
		eff = s.input
		if s.st.arguments != nil {
			eff, err = evalJSONataTemplate(s.st.arguments, s.statesVar(ctxObj), s.env.vars)
		}
	} else {
		eff, err = s.effectiveInput(ctxObj)
	}
	if err != nil {
		return s.fail(err)
	}
	s.emit("ParallelStateStarted", nil)
	inputs := make([]any, len(s.st.Branches))
	for i := range inputs {
		inputs[i] = eff
	}
	outs, evs, ferr, err := s.runBranches(ctx, s.st.Branches, inputs, "branch", 0, nil)
	if err != nil {
		return orig, nil, err
	}
	s.events = append(s.events, evs...)
	if ferr != nil {
		s.emit("ParallelStateFailed", nil)
		return s.fail(ferr)
	}
	s.emit("ParallelStateSucceeded", nil)
	out, err := s.processResult(outs, ctxObj)
	if err != nil {
		return s.fail(err)
	}
	return s.next(out)
}

// mapLimits resolves a Map state's concurrency and failure tolerance (States
// Language, Map State: MaxConcurrency, MaxConcurrencyPath,
// ToleratedFailurePercentage(Path), ToleratedFailureCount(Path); a Map whose
// failed iterations exceed either threshold fails with
// States.ExceedToleratedFailureThreshold). The Path fields are reference
// paths into the state's input after InputPath.
func (s *stepper) mapLimits(eff any, total int) (int, func(int) bool, error) {
	num := func(field, path string, integer bool) (float64, error) {
		v, err := resolvePath(MustParsePath(path), eff, nil, s.env.vars)
		if err != nil {
			return 0, runtimeErr("%s '%s' could not be found in the input", field, path)
		}
		f, ok := toFloat(v)
		if _, isInt := toInt(v); !ok || f < 0 || (integer && !isInt) {
			return 0, runtimeErr("%s '%s' must point to a non-negative %s, got %s", field, path,
				map[bool]string{true: "integer", false: "number"}[integer], mustEncode(v))
		}
		return f, nil
	}
	limit := s.st.MaxConcurrency
	ctxObj := s.contextObject("", nil)
	if v, set, err := s.exprNumber("MaxConcurrency", ctxObj); err != nil {
		return 0, nil, err
	} else if set {
		limit = int(v)
	}
	if s.st.MaxConcurrencyPath != "" {
		f, err := num("MaxConcurrencyPath", s.st.MaxConcurrencyPath, true)
		if err != nil {
			return 0, nil, err
		}
		limit = int(f)
	}
	var pct, count *float64
	if s.st.ToleratedFailurePercentage != nil {
		pct = s.st.ToleratedFailurePercentage
	}
	if s.st.ToleratedFailurePercentagePath != "" {
		f, err := num("ToleratedFailurePercentagePath", s.st.ToleratedFailurePercentagePath, false)
		if err != nil {
			return 0, nil, err
		}
		if f > 100 {
			return 0, nil, runtimeErr("ToleratedFailurePercentagePath '%s' must point to a number between 0 and 100", s.st.ToleratedFailurePercentagePath)
		}
		pct = &f
	}
	if s.st.ToleratedFailureCount != nil {
		f := float64(*s.st.ToleratedFailureCount)
		count = &f
	}
	if v, set, err := s.exprNumber("ToleratedFailurePercentage", ctxObj); err != nil {
		return 0, nil, err
	} else if set {
		pct = &v
	}
	if v, set, err := s.exprNumber("ToleratedFailureCount", ctxObj); err != nil {
		return 0, nil, err
	} else if set {
		count = &v
	}
	if s.st.ToleratedFailureCountPath != "" {
		f, err := num("ToleratedFailureCountPath", s.st.ToleratedFailureCountPath, true)
		if err != nil {
			return 0, nil, err
		}
		count = &f
	}
	if pct == nil && count == nil {
		return limit, nil, nil
	}
	return limit, func(failed int) bool {
		if count != nil && float64(failed) > *count {
			return false
		}
		if pct != nil && float64(failed)*100 > *pct*float64(total) {
			return false
		}
		return true
	}, nil
}

func (s *stepper) mapState(ctx context.Context, orig Cursor) (Cursor, []Event, error) {
	eff, err := s.inputPath()
	if err != nil {
		return s.fail(err)
	}
	itemsV := eff
	if s.st.ItemsPath.Set && !s.st.ItemsPath.Null {
		if itemsV, err = resolvePath(s.st.ItemsPath.Path, eff, nil, s.env.vars); err != nil {
			return s.fail(err)
		}
	}
	if s.st.lang == langJSONata && s.st.hasItems {
		if itemsV, err = evalJSONataTemplate(s.st.items, s.statesVar(s.contextObject("", nil)), s.env.vars); err != nil {
			return s.fail(err)
		}
	}
	items, ok := itemsV.([]any)
	if !ok {
		return s.fail(runtimeErr("Map ItemsPath must select an array, got %s", typeName(itemsV)))
	}
	inputs := make([]any, len(items))
	defs := make([]*Definition, len(items))
	for i, it := range items {
		defs[i] = s.st.ItemProcessor
		inputs[i] = it
		if s.st.itemSelector != nil {
			ctxObj := s.contextObject("", map[string]any{"Index": json.Number(fmt.Sprint(i)), "Value": it})
			if inputs[i], err = s.st.itemSelector.eval(eff, ctxObj, s.env); err != nil {
				return s.fail(err)
			}
		}
		if s.st.itemSelectorJ != nil {
			ctxObj := s.contextObject("", map[string]any{"Index": json.Number(fmt.Sprint(i)), "Value": it})
			if inputs[i], err = evalJSONataTemplate(s.st.itemSelectorJ, s.statesVar(ctxObj), s.env.vars); err != nil {
				return s.fail(err)
			}
		}
	}
	limit, tolerate, err := s.mapLimits(eff, len(items))
	if err != nil {
		return s.fail(err)
	}
	s.emit("MapStateStarted", map[string]any{"length": len(items)})
	outs, evs, ferr, err := s.runBranches(ctx, defs, inputs, "item", limit, tolerate)
	if err != nil {
		return orig, nil, err
	}
	s.events = append(s.events, evs...)
	if ferr != nil {
		s.emit("MapStateFailed", nil)
		return s.fail(ferr)
	}
	s.emit("MapStateSucceeded", nil)
	out, err := s.processResult(outs, s.contextObject("", nil))
	if err != nil {
		return s.fail(err)
	}
	return s.next(out)
}
