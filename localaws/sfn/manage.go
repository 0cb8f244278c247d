package sfn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/checkout-dev/checkout/localaws/asl"
)

// Tag is a resource tag as the API carries it.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// setMachineTypeAndTags completes a CreateStateMachine.
func (e *Executor) setMachineTypeAndTags(ctx context.Context, arn, typ, role string, tags []Tag) error {
	m, err := tagMap(tags)
	if err != nil {
		return err
	}
	if role == "" {
		role = e.defaultRole()
	}
	_, err = e.pool.Exec(ctx, `UPDATE localaws.sfn_state_machines SET type = $2, tags = $3, role_arn = $4 WHERE arn = $1`, arn, typ, m, role)
	if err != nil {
		return fmt.Errorf("sfn: create state machine: %w", err)
	}
	return nil
}

// tagMap checks tags (API Reference, Tag: keys 1–128, values 0–256
// characters; at most 50 per resource).
func tagMap(tags []Tag) (map[string]string, error) {
	m := map[string]string{}
	for _, t := range tags {
		if len(t.Key) < 1 || len(t.Key) > 128 || len(t.Value) > 256 {
			return nil, apiErr(CodeValidation, "1 validation error detected: a tag key must be 1 to 128 and a value at most 256 characters")
		}
		m[t.Key] = t.Value
	}
	if len(m) > 50 {
		return nil, apiErr("TooManyTags", "Too many tags: at most 50 per resource")
	}
	return m, nil
}

// apiUpdateStateMachine: API Reference, UpdateStateMachine: "Updates an
// existing state machine by modifying its definition, roleArn ... Running
// executions will continue to use the previous definition and roleArn."
// At least one of definition and roleArn is required.
func (e *Executor) apiUpdateStateMachine(ctx context.Context, body []byte) (any, error) {
	var in struct {
		StateMachineArn string  `json:"stateMachineArn"`
		Definition      *string `json:"definition"`
		RoleArn         *string `json:"roleArn"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	sm, err := e.DescribeStateMachine(ctx, in.StateMachineArn)
	if err != nil {
		return nil, err
	}
	if sm.Status == "DELETING" {
		return nil, apiErr("StateMachineDeleting", "State Machine is being deleted: '%s'", in.StateMachineArn)
	}
	if in.Definition == nil && in.RoleArn == nil {
		return nil, apiErr("MissingRequiredParameter", "Either the definition or the roleArn must be specified")
	}
	def, role := sm.Definition, sm.RoleArn
	if in.Definition != nil {
		if _, err := asl.Parse([]byte(*in.Definition)); err != nil {
			return nil, apiErr(CodeInvalidDefinition, "Invalid State Machine Definition: '%v'", err)
		}
		def = *in.Definition
	}
	if in.RoleArn != nil {
		role = *in.RoleArn
	}
	now := e.now()
	if _, err := e.pool.Exec(ctx, `UPDATE localaws.sfn_state_machines SET definition = $2, role_arn = $3, updated_at = $4 WHERE arn = $1`,
		in.StateMachineArn, def, role, now); err != nil {
		return nil, fmt.Errorf("sfn: update state machine: %w", err)
	}
	return map[string]any{"updateDate": epoch(now), "revisionId": uuid.NewString()}, nil
}

// apiDeleteStateMachine: API Reference, DeleteStateMachine: "Deletes a state
// machine. This is an asynchronous operation. It sets the state machine's
// status to DELETING and begins the deletion process ... A state machine is
// deleted only when all its executions are completed." Without running
// executions it goes at once (with its executions' records); with some it
// stays DELETING, refusing new executions. Deleting a missing machine
// succeeds.
func (e *Executor) apiDeleteStateMachine(ctx context.Context, body []byte) (any, error) {
	var in struct {
		StateMachineArn string `json:"stateMachineArn"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if !validStateMachineARN(in.StateMachineArn) {
		return nil, apiErr(CodeInvalidArn, "Invalid Arn: '%s'", in.StateMachineArn)
	}
	err := pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
		var running bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM localaws.sfn_executions WHERE state_machine_arn = $1 AND status = 'RUNNING')`,
			in.StateMachineArn).Scan(&running); err != nil {
			return err
		}
		if running {
			_, err := tx.Exec(ctx, `UPDATE localaws.sfn_state_machines SET status = 'DELETING' WHERE arn = $1`, in.StateMachineArn)
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM localaws.sfn_history_events WHERE execution_arn IN
			(SELECT arn FROM localaws.sfn_executions WHERE state_machine_arn = $1)`, in.StateMachineArn); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM localaws.sfn_executions WHERE state_machine_arn = $1`, in.StateMachineArn); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM localaws.sfn_state_machines WHERE arn = $1`, in.StateMachineArn)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sfn: delete state machine: %w", err)
	}
	return struct{}{}, nil
}

// apiValidateDefinition: API Reference, ValidateStateMachineDefinition:
// returns result OK or FAIL with diagnostics (severity, code, message,
// location) instead of an error.
func (e *Executor) apiValidateDefinition(_ context.Context, body []byte) (any, error) {
	var in struct {
		Definition string `json:"definition"`
		Type       string `json:"type"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := required("definition", in.Definition); err != nil {
		return nil, err
	}
	diagnostics := []map[string]any{}
	result := "OK"
	if _, err := asl.Parse([]byte(in.Definition)); err != nil {
		result = "FAIL"
		msg := strings.TrimPrefix(err.Error(), "asl: ")
		code := "SCHEMA_VALIDATION_FAILED"
		if c, rest, ok := strings.Cut(msg, ": "); ok && c == code {
			msg = rest
		}
		if strings.HasPrefix(msg, "invalid definition JSON") {
			code = "INVALID_JSON_DESCRIPTION"
		}
		d := map[string]any{"severity": "ERROR", "code": code, "message": msg}
		if at := locationOf(msg); at != "" {
			d["location"] = at
		}
		diagnostics = append(diagnostics, d)
	}
	return map[string]any{"result": result, "diagnostics": diagnostics, "truncated": false}, nil
}

// locationOf extracts the "/States/..." pointer of a validation message.
func locationOf(msg string) string {
	i := strings.Index(msg, " at /")
	if i < 0 {
		return ""
	}
	loc := msg[i+4:]
	if j := strings.Index(loc, ":"); j >= 0 {
		loc = loc[:j]
	}
	return loc
}

// apiStartSyncExecution: API Reference, StartSyncExecution: "Starts a
// Synchronous Express state machine execution ... StartSyncExecution is not
// available for STANDARD workflows." The execution runs to its end in the
// request and is not stored (Express executions have no
// DescribeExecution or history). Its tasks are called like a Standard
// execution's.
func (e *Executor) apiStartSyncExecution(ctx context.Context, body []byte) (any, error) {
	var in StartExecutionInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := required("stateMachineArn", in.StateMachineArn); err != nil {
		return nil, err
	}
	sm, err := e.DescribeStateMachine(ctx, in.StateMachineArn)
	if err != nil {
		return nil, err
	}
	if sm.Type != "EXPRESS" {
		return nil, apiErr("StateMachineTypeNotSupported", "This operation is not supported by this type of state machine")
	}
	x, err := e.prepareExpress(sm, in)
	if err != nil {
		return nil, err
	}
	return e.runExpress(ctx, x)
}

// express is a checked Express execution request.
type express struct {
	sm               *StateMachine
	def              *asl.Definition
	name, input, arn string
}

func (e *Executor) prepareExpress(sm *StateMachine, in StartExecutionInput) (express, error) {
	name := in.Name
	if name == "" {
		name = uuid.NewString()
	}
	if !validName(name) {
		return express{}, apiErr(CodeInvalidName, "Invalid Name: '%s'", name)
	}
	input := "{}"
	if in.Input != nil {
		input = *in.Input
	}
	if len(input) > maxPayload || !json.Valid([]byte(input)) {
		return express{}, apiErr(CodeInvalidExecutionInput, "Invalid State Machine Execution Input: 'Unexpected input'")
	}
	def, err := e.parse(sm.Definition)
	if err != nil {
		return express{}, fmt.Errorf("sfn: stored definition of %s: %w", sm.StateMachineArn, err)
	}
	arn := fmt.Sprintf("arn:aws:states:%s:%s:express:%s:%s:%s", e.opts.Region, e.opts.AccountID, sm.Name, name, uuid.NewString())
	return express{sm: sm, def: def, name: name, input: input, arn: arn}, nil
}

// runExpress runs an Express execution in memory to its end.
func (e *Executor) runExpress(ctx context.Context, x express) (map[string]any, error) {
	sm, def, name, input, arn := x.sm, x.def, x.name, x.input, x.arn
	start := e.now()
	env := &asl.Env{
		Runner: &taskRunner{e: e, arn: arn, trace: executionTrace(json.RawMessage(input))}, Clock: e.opts.Clock, Random: e.opts.Random, Region: e.opts.Region,
		Execution: asl.ExecutionInfo{ID: arn, Name: name, Input: json.RawMessage(input), StartTime: start,
			RoleArn: sm.RoleArn, StateMachineID: sm.StateMachineArn, StateMachineName: sm.Name},
	}
	cur, err := def.Begin(json.RawMessage(input), start)
	if err != nil {
		return nil, apiErr(CodeInvalidExecutionInput, "Invalid State Machine Execution Input: '%v'", err)
	}
	runCtx := ctx
	if def.TimeoutSeconds != nil && *def.TimeoutSeconds > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, time.Duration(*def.TimeoutSeconds)*time.Second)
		defer cancel()
	}
	final, err := def.Run(runCtx, env, cur, nil)
	out := map[string]any{"executionArn": arn, "stateMachineArn": sm.StateMachineArn, "name": name,
		"startDate": epoch(start), "stopDate": epoch(e.now()), "input": input,
		"inputDetails": map[string]any{"included": true}, "billingDetails": map[string]any{"billedDurationInMilliseconds": 100, "billedMemoryUsedInMB": 64}}
	switch {
	case err != nil && ctx.Err() == nil && errors.Is(runCtx.Err(), context.DeadlineExceeded):
		out["status"], out["error"], out["cause"] = "TIMED_OUT", asl.ErrTimeout, fmt.Sprintf("The execution exceeded TimeoutSeconds (%d)", *def.TimeoutSeconds)
	case err != nil:
		return nil, err
	case final.Status == asl.StatusSucceeded:
		out["status"], out["output"] = "SUCCEEDED", string(final.Output)
		out["outputDetails"] = map[string]any{"included": true}
	default:
		out["status"], out["error"], out["cause"] = "FAILED", final.Error, final.Cause
	}
	return out, nil
}

// apiRedriveExecution: API Reference, RedriveExecution: "Restarts
// unsuccessful executions of Standard workflows that didn't complete
// successfully in the last 14 days. These include failed, aborted, or timed
// out executions. When you redrive an execution, it continues the failed
// execution from the unsuccessful step and uses the same input." A
// SUCCEEDED, RUNNING or older execution is ExecutionNotRedrivable. (A
// failed Parallel or Map state runs again whole.)
func (e *Executor) apiRedriveExecution(ctx context.Context, body []byte) (any, error) {
	var in struct {
		ExecutionArn string `json:"executionArn"`
		ClientToken  string `json:"clientToken"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	x, err := e.DescribeExecution(ctx, in.ExecutionArn)
	if err != nil {
		return nil, err
	}
	now := e.now()
	if x.Status == "RUNNING" || x.Status == "SUCCEEDED" || x.StopDate == nil || now.Sub(x.StopDate.Time) > 14*24*time.Hour {
		return nil, apiErr("ExecutionNotRedrivable", "Execution Not Redrivable: '%s' is %s", in.ExecutionArn, x.Status)
	}
	var curJSON string
	if err := e.pool.QueryRow(ctx, `SELECT cursor FROM localaws.sfn_executions WHERE arn = $1`, in.ExecutionArn).Scan(&curJSON); err != nil {
		return nil, fmt.Errorf("sfn: redrive: %w", err)
	}
	var cur asl.Cursor
	if err := json.Unmarshal([]byte(curJSON), &cur); err != nil {
		return nil, fmt.Errorf("sfn: redrive: %w", err)
	}
	next, ok := cur.Redrive(now)
	if !ok {
		return nil, apiErr("ExecutionNotRedrivable", "Execution Not Redrivable: '%s' cannot be restarted", in.ExecutionArn)
	}
	nextJSON, _ := json.Marshal(next)
	types, ts, details := eventArrays([]asl.Event{{Type: "ExecutionRedriven", Timestamp: now,
		Details: mustJSON(map[string]any{"redriveCount": x.RedriveCount + 1})}})
	var n int
	if err := e.pool.QueryRow(ctx, `WITH x AS (
			UPDATE localaws.sfn_executions SET status = 'RUNNING', stop_date = NULL, output = NULL, error = NULL, cause = NULL,
				cursor = $2, redrive_count = redrive_count + 1, redrive_date = $6,
				last_event_id = last_event_id + cardinality($3::text[])
			WHERE arn = $1 AND status <> 'RUNNING' AND status <> 'SUCCEEDED'
			RETURNING last_event_id - cardinality($3::text[]) AS base),
		`+appendEventsSQL+`
		SELECT count(*) FROM x`, in.ExecutionArn, string(nextJSON), types, ts, details, now).Scan(&n); err != nil {
		return nil, fmt.Errorf("sfn: redrive: %w", err)
	}
	if n == 0 {
		return nil, apiErr("ExecutionNotRedrivable", "Execution Not Redrivable: '%s' changed meanwhile", in.ExecutionArn)
	}
	e.launch(in.ExecutionArn)
	return map[string]any{"redriveDate": epoch(now)}, nil
}

// resourceTags loads the tags of a state machine ARN (ResourceNotFound
// otherwise).
func (e *Executor) resourceTags(ctx context.Context, arn string) (map[string]string, error) {
	var tags map[string]string
	err := e.pool.QueryRow(ctx, `SELECT tags FROM localaws.sfn_state_machines WHERE arn = $1`, arn).Scan(&tags)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, apiErr("ResourceNotFound", "Resource not found: '%s'", arn)
	}
	if err != nil {
		return nil, fmt.Errorf("sfn: tags: %w", err)
	}
	return tags, nil
}

// apiTagResource: API Reference, TagResource (state machines here).
func (e *Executor) apiTagResource(ctx context.Context, body []byte) (any, error) {
	var in struct {
		ResourceArn string `json:"resourceArn"`
		Tags        []Tag  `json:"tags"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	cur, err := e.resourceTags(ctx, in.ResourceArn)
	if err != nil {
		return nil, err
	}
	add, err := tagMap(in.Tags)
	if err != nil {
		return nil, err
	}
	maps.Copy(cur, add)
	if len(cur) > 50 {
		return nil, apiErr("TooManyTags", "Too many tags: at most 50 per resource")
	}
	_, err = e.pool.Exec(ctx, `UPDATE localaws.sfn_state_machines SET tags = $2 WHERE arn = $1`, in.ResourceArn, cur)
	return struct{}{}, err
}

// apiUntagResource: API Reference, UntagResource.
func (e *Executor) apiUntagResource(ctx context.Context, body []byte) (any, error) {
	var in struct {
		ResourceArn string   `json:"resourceArn"`
		TagKeys     []string `json:"tagKeys"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	cur, err := e.resourceTags(ctx, in.ResourceArn)
	if err != nil {
		return nil, err
	}
	for _, k := range in.TagKeys {
		delete(cur, k)
	}
	_, err = e.pool.Exec(ctx, `UPDATE localaws.sfn_state_machines SET tags = $2 WHERE arn = $1`, in.ResourceArn, cur)
	return struct{}{}, err
}

// apiListTagsForResource: API Reference, ListTagsForResource.
func (e *Executor) apiListTagsForResource(ctx context.Context, body []byte) (any, error) {
	var in struct {
		ResourceArn string `json:"resourceArn"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	cur, err := e.resourceTags(ctx, in.ResourceArn)
	if err != nil {
		return nil, err
	}
	keys := slices.Sorted(maps.Keys(cur))
	tags := make([]Tag, 0, len(keys))
	for _, k := range keys {
		tags = append(tags, Tag{Key: k, Value: cur[k]})
	}
	return map[string]any{"tags": tags}, nil
}

// startExpress answers StartExecution of an EXPRESS state machine (API
// Reference, StartExecution: Express executions are asynchronous and "at
// least once"): it runs in memory, in the background, and is not stored.
func (e *Executor) startExpress(in StartExecutionInput) (*StartExecutionOutput, error) {
	ctx := context.Background()
	sm, err := e.DescribeStateMachine(ctx, in.StateMachineArn)
	if err != nil {
		return nil, err
	}
	x, err := e.prepareExpress(sm, in)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	runCtx, ok := e.ctx, e.started && !e.closed
	if ok {
		e.wg.Add(1)
	}
	e.mu.Unlock()
	if !ok {
		return nil, errors.New("sfn: the executor is not running")
	}
	start := e.now()
	go func() {
		defer e.wg.Done()
		if _, err := e.runExpress(runCtx, x); err != nil && runCtx.Err() == nil {
			e.log.Warn("sfn: express execution", "execution", x.arn, "err", err)
		}
	}()
	return &StartExecutionOutput{ExecutionArn: x.arn, StartDate: epoch(start)}, nil
}
