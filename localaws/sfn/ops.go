package sfn

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/checkout-dev/checkout/localaws/asl"
)

const maxPayload = 256 * 1024

// StartExecution starts an execution of a registered state machine.
//
// Idempotency (as AWS documents for STANDARD workflows): the same name with
// the same input as a RUNNING execution returns that execution's ARN and
// start date; the same name with another input, or of an execution that
// has already closed, fails with ExecutionAlreadyExists. An empty name gets
// a UUID. Errors: StateMachineDoesNotExist, InvalidArn, InvalidName,
// InvalidExecutionInput.
func (e *Executor) StartExecution(ctx context.Context, in StartExecutionInput) (*StartExecutionOutput, error) {
	if !validStateMachineARN(in.StateMachineArn) {
		return nil, apiErr(CodeInvalidArn, "Invalid Arn: 'Resource type not valid in this context: %s'", in.StateMachineArn)
	}
	name := in.Name
	if name == "" {
		name = uuid.NewString()
	}
	if !validName(name) {
		return nil, apiErr(CodeInvalidName, "Invalid Name: '%s'", name)
	}
	input := "{}"
	if in.Input != nil {
		input = *in.Input
	}
	if len(input) > maxPayload {
		return nil, apiErr(CodeInvalidExecutionInput, "Input exceeds the maximum size of %d bytes", maxPayload)
	}
	if !json.Valid([]byte(input)) {
		return nil, apiErr(CodeInvalidExecutionInput, "Invalid State Machine Execution Input: 'Unexpected input'")
	}
	var smName, definition, smType, smStatus string
	err := e.pool.QueryRow(ctx, `SELECT name, definition, type, status FROM localaws.sfn_state_machines WHERE arn = $1`, in.StateMachineArn).
		Scan(&smName, &definition, &smType, &smStatus)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, apiErr(CodeStateMachineDoesNotExist, "State Machine Does Not Exist: '%s'", in.StateMachineArn)
	}
	if err != nil {
		return nil, fmt.Errorf("sfn: load state machine: %w", err)
	}
	if smStatus == "DELETING" {
		return nil, apiErr("StateMachineDeleting", "State Machine is being deleted: '%s'", in.StateMachineArn)
	}
	if smType == "EXPRESS" {
		return e.startExpress(in)
	}
	def, err := e.parse(definition)
	if err != nil {
		return nil, fmt.Errorf("sfn: stored definition of %s: %w", in.StateMachineArn, err)
	}
	now := e.now()
	cur, err := def.Begin(json.RawMessage(input), now)
	if err != nil {
		return nil, apiErr(CodeInvalidExecutionInput, "Invalid State Machine Execution Input: '%v'", err)
	}
	curJSON, _ := json.Marshal(cur)
	arn := e.executionARN(smName, name)
	details, _ := json.Marshal(map[string]any{"input": input, "inputDetails": map[string]any{"truncated": false},
		"roleArn": e.defaultRole()})
	// One statement: the execution and its ExecutionStarted event, or
	// nothing when the name is taken.
	var inserted int
	if err := e.pool.QueryRow(ctx, `WITH x AS (
			INSERT INTO localaws.sfn_executions (arn, state_machine_arn, name, status, definition, input, start_date, cursor, last_event_id)
			VALUES ($1, $2, $3, 'RUNNING', $4, $5, $6, $7, 1)
			ON CONFLICT DO NOTHING RETURNING arn),
		h AS (
			INSERT INTO localaws.sfn_history_events (execution_arn, id, previous_event_id, type, ts, details)
			SELECT arn, 1, 0, 'ExecutionStarted', $6, $8 FROM x)
		SELECT count(*) FROM x`, arn, in.StateMachineArn, name, definition, input, now, string(curJSON), string(details)).Scan(&inserted); err != nil {
		return nil, fmt.Errorf("sfn: start execution: %w", err)
	}
	started := inserted == 1
	out := StartExecutionOutput{ExecutionArn: arn, StartDate: epoch(now)}
	if !started {
		var status, oldInput string
		var start EpochTime
		if err := e.pool.QueryRow(ctx, `SELECT status, input, start_date FROM localaws.sfn_executions WHERE arn = $1`, arn).
			Scan(&status, &oldInput, &start.Time); err != nil {
			return nil, fmt.Errorf("sfn: start execution: %w", err)
		}
		if status != "RUNNING" || oldInput != input {
			return nil, apiErr(CodeExecutionAlreadyExists, "Execution Already Exists: '%s'", arn)
		}
		out = StartExecutionOutput{ExecutionArn: arn, StartDate: &EpochTime{start.UTC()}}
	}
	if started {
		e.log.Info("sfn: execution started", "execution", arn)
		e.launch(arn)
	}
	return &out, nil
}

// DescribeExecution returns an execution. Errors: InvalidArn,
// ExecutionDoesNotExist.
func (e *Executor) DescribeExecution(ctx context.Context, arn string) (*Execution, error) {
	if !validExecutionARN(arn) {
		return nil, apiErr(CodeInvalidArn, "Invalid Arn: '%s'", arn)
	}
	var x Execution
	var start EpochTime
	var stop, redrive *time.Time
	err := e.pool.QueryRow(ctx, `
		SELECT arn, state_machine_arn, name, status, start_date, stop_date, input, output, error, cause, redrive_count, redrive_date
		FROM localaws.sfn_executions WHERE arn = $1`, arn).
		Scan(&x.ExecutionArn, &x.StateMachineArn, &x.Name, &x.Status, &start.Time, &stop, &x.Input, &x.Output, &x.Error, &x.Cause,
			&x.RedriveCount, &redrive)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, apiErr(CodeExecutionDoesNotExist, "Execution Does Not Exist: '%s'", arn)
	}
	if err != nil {
		return nil, fmt.Errorf("sfn: describe execution: %w", err)
	}
	x.StartDate = &EpochTime{start.UTC()}
	if stop != nil {
		x.StopDate = &EpochTime{stop.UTC()}
	}
	if redrive != nil {
		x.RedriveDate = &EpochTime{redrive.UTC()}
	}
	switch x.Status {
	case "FAILED", "ABORTED", "TIMED_OUT":
		x.RedriveStatus = "REDRIVABLE"
	default:
		x.RedriveStatus = "NOT_REDRIVABLE"
	}
	x.InputDetails = json.RawMessage(`{"included":true}`)
	if x.Output != nil {
		x.OutputDetails = json.RawMessage(`{"included":true}`)
	}
	return &x, nil
}

// pageToken encodes an offset as an opaque nextToken.
func pageToken(off int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("o:" + strconv.Itoa(off)))
}

func parsePageToken(tok string) (int, error) {
	if tok == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err == nil && strings.HasPrefix(string(b), "o:") {
		if n, err := strconv.Atoi(string(b[2:])); err == nil && n >= 0 {
			return n, nil
		}
	}
	return 0, apiErr(CodeInvalidToken, "Invalid Token: '%s'", tok)
}

// page is one page of a listing: at most limit items from offset off.
type page struct{ limit, off int }

// parsePage checks maxResults (0 = the default 100, at most 1000) and then
// nextToken: ValidationException, InvalidToken.
func parsePage(maxResults int, nextToken string) (page, error) {
	if maxResults < 0 || maxResults > 1000 {
		return page{}, apiErr(CodeValidation, "1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 1000", maxResults)
	}
	if maxResults == 0 {
		maxResults = 100
	}
	off, err := parsePageToken(nextToken)
	if err != nil {
		return page{}, err
	}
	return page{limit: maxResults, off: off}, nil
}

// collectPage scans rows, the result of a query for pg.limit+1 items from
// pg.off, with scan and closes them. It returns at most pg.limit items (nil
// for none) and the token of the next page, "" on the last one.
func collectPage[T any](rows pgx.Rows, pg page, scan func(pgx.Rows) (T, error)) ([]T, string, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		it, err := scan(rows)
		if err != nil {
			return nil, "", err
		}
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	if len(out) > pg.limit {
		return out[:pg.limit], pageToken(pg.off + pg.limit), nil
	}
	return out, "", nil
}

// GetExecutionHistory returns the execution's events, oldest first unless
// reverse, paged by maxResults (default 100, at most 1000) and nextToken.
func (e *Executor) GetExecutionHistory(ctx context.Context, arn string, maxResults int, reverse bool, nextToken string) ([]HistoryEvent, string, error) {
	if _, err := e.DescribeExecution(ctx, arn); err != nil {
		return nil, "", err
	}
	pg, err := parsePage(maxResults, nextToken)
	if err != nil {
		return nil, "", err
	}
	order := "ASC"
	if reverse {
		order = "DESC"
	}
	rows, err := e.pool.Query(ctx, `SELECT id, previous_event_id, type, ts, details FROM localaws.sfn_history_events
		WHERE execution_arn = $1 ORDER BY id `+order+` LIMIT $2 OFFSET $3`, arn, pg.limit+1, pg.off)
	if err != nil {
		return nil, "", fmt.Errorf("sfn: history: %w", err)
	}
	return collectPage(rows, pg, func(rows pgx.Rows) (HistoryEvent, error) {
		var h HistoryEvent
		var details *string
		if err := rows.Scan(&h.ID, &h.PreviousEventID, &h.Type, &h.Timestamp, &details); err != nil {
			return h, err
		}
		h.Timestamp = h.Timestamp.UTC()
		h.DetailsKey = asl.DetailsKey(h.Type)
		if details != nil {
			h.Details = json.RawMessage(*details)
		}
		return h, nil
	})
}

// ListExecutions lists a state machine's executions, newest first,
// optionally only those with statusFilter.
func (e *Executor) ListExecutions(ctx context.Context, smArn, statusFilter string, maxResults int, nextToken string) ([]ExecutionListItem, string, error) {
	if !validStateMachineARN(smArn) {
		return nil, "", apiErr(CodeInvalidArn, "Invalid Arn: '%s'", smArn)
	}
	if _, err := e.DescribeStateMachine(ctx, smArn); err != nil {
		return nil, "", err
	}
	switch statusFilter {
	case "", "RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED":
	default:
		return nil, "", apiErr(CodeValidation, "1 validation error detected: Value '%s' at 'statusFilter' failed to satisfy constraint", statusFilter)
	}
	pg, err := parsePage(maxResults, nextToken)
	if err != nil {
		return nil, "", err
	}
	rows, err := e.pool.Query(ctx, `SELECT arn, state_machine_arn, name, status, start_date, stop_date FROM localaws.sfn_executions
		WHERE state_machine_arn = $1 AND ($2 = '' OR status = $2)
		ORDER BY start_date DESC, arn LIMIT $3 OFFSET $4`, smArn, statusFilter, pg.limit+1, pg.off)
	if err != nil {
		return nil, "", fmt.Errorf("sfn: list executions: %w", err)
	}
	return collectPage(rows, pg, func(rows pgx.Rows) (ExecutionListItem, error) {
		var it ExecutionListItem
		var start EpochTime
		var stop *time.Time
		if err := rows.Scan(&it.ExecutionArn, &it.StateMachineArn, &it.Name, &it.Status, &start.Time, &stop); err != nil {
			return it, err
		}
		it.StartDate = &EpochTime{start.UTC()}
		if stop != nil {
			it.StopDate = &EpochTime{stop.UTC()}
		}
		return it, nil
	})
}

// DescribeStateMachine returns a state machine. Errors: InvalidArn,
// StateMachineDoesNotExist.
func (e *Executor) DescribeStateMachine(ctx context.Context, arn string) (*StateMachine, error) {
	if !validStateMachineARN(arn) {
		return nil, apiErr(CodeInvalidArn, "Invalid Arn: '%s'", arn)
	}
	sm := StateMachine{}
	var created EpochTime
	err := e.pool.QueryRow(ctx, `SELECT arn, name, definition, role_arn, type, created_at, status FROM localaws.sfn_state_machines WHERE arn = $1`, arn).
		Scan(&sm.StateMachineArn, &sm.Name, &sm.Definition, &sm.RoleArn, &sm.Type, &created.Time, &sm.Status)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, apiErr(CodeStateMachineDoesNotExist, "State Machine Does Not Exist: '%s'", arn)
	}
	if err != nil {
		return nil, fmt.Errorf("sfn: describe state machine: %w", err)
	}
	sm.CreationDate = &EpochTime{created.UTC()}
	return &sm, nil
}

// ListStateMachines lists all state machines by name.
func (e *Executor) ListStateMachines(ctx context.Context, maxResults int, nextToken string) ([]StateMachine, string, error) {
	pg, err := parsePage(maxResults, nextToken)
	if err != nil {
		return nil, "", err
	}
	rows, err := e.pool.Query(ctx, `SELECT arn, name, type, created_at FROM localaws.sfn_state_machines ORDER BY name LIMIT $1 OFFSET $2`, pg.limit+1, pg.off)
	if err != nil {
		return nil, "", fmt.Errorf("sfn: list state machines: %w", err)
	}
	return collectPage(rows, pg, func(rows pgx.Rows) (StateMachine, error) {
		var sm StateMachine
		var created EpochTime
		if err := rows.Scan(&sm.StateMachineArn, &sm.Name, &sm.Type, &created.Time); err != nil {
			return sm, err
		}
		sm.CreationDate = &EpochTime{created.UTC()}
		return sm, nil
	})
}

// StopExecution aborts a RUNNING execution (ExecutionAborted event, status
// ABORTED, pending task tokens closed). Stopping a closed execution is a
// no-op that returns its stop date, like AWS.
func (e *Executor) StopExecution(ctx context.Context, arn, errName, cause string) (*EpochTime, error) {
	x, err := e.DescribeExecution(ctx, arn)
	if err != nil {
		return nil, err
	}
	if x.Status != "RUNNING" {
		return x.StopDate, nil
	}
	now := e.now()
	details := map[string]any{}
	if errName != "" {
		details["error"] = errName
	}
	if cause != "" {
		details["cause"] = cause
	}
	done, err := e.finish(ctx, arn, "ABORTED", nil, ptrIf(errName), ptrIf(cause), "ExecutionAborted", details, now)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	cancel := e.running[arn]
	e.mu.Unlock()
	if cancel != nil {
		cancel(errAborted)
	}
	if !done { // it closed meanwhile
		x, err := e.DescribeExecution(ctx, arn)
		if err != nil {
			return nil, err
		}
		return x.StopDate, nil
	}
	return epoch(now), nil
}

func ptrIf(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
