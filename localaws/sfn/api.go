package sfn

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
)

// Handler returns the Step Functions API (AWS JSON 1.0 protocol: POST with
// X-Amz-Target: AWSStepFunctions.<Action>). Any SigV4 credentials are
// accepted; signatures are not checked. Supported actions:
// CreateStateMachine, DescribeStateMachine, ListStateMachines,
// UpdateStateMachine, DeleteStateMachine, ValidateStateMachineDefinition,
// StartExecution, StartSyncExecution (EXPRESS), DescribeExecution,
// GetExecutionHistory, ListExecutions, StopExecution, RedriveExecution,
// SendTaskSuccess, SendTaskFailure, SendTaskHeartbeat, TagResource,
// UntagResource, ListTagsForResource.
func (e *Executor) Handler() http.Handler {
	return http.HandlerFunc(e.serveHTTP)
}

type apiAction func(ctx context.Context, body []byte) (any, error)

func (e *Executor) actions() map[string]apiAction {
	return map[string]apiAction{
		"CreateStateMachine":   e.apiCreateStateMachine,
		"DescribeStateMachine": e.apiDescribeStateMachine,
		"ListStateMachines":    e.apiListStateMachines,
		"StartExecution":       e.apiStartExecution,
		"DescribeExecution":    e.apiDescribeExecution,
		"GetExecutionHistory":  e.apiGetExecutionHistory,
		"ListExecutions":       e.apiListExecutions,
		"StopExecution":        e.apiStopExecution,
		"SendTaskSuccess":      e.apiSendTaskSuccess,
		"SendTaskFailure":      e.apiSendTaskFailure,
		"SendTaskHeartbeat":    e.apiSendTaskHeartbeat,

		"UpdateStateMachine":             e.apiUpdateStateMachine,
		"DeleteStateMachine":             e.apiDeleteStateMachine,
		"ValidateStateMachineDefinition": e.apiValidateDefinition,
		"StartSyncExecution":             e.apiStartSyncExecution,
		"RedriveExecution":               e.apiRedriveExecution,
		"TagResource":                    e.apiTagResource,
		"UntagResource":                  e.apiUntagResource,
		"ListTagsForResource":            e.apiListTagsForResource,
	}
}

func (e *Executor) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeAPIError(w, &APIError{Code: "UnknownOperationException", Message: "only POST is supported", Status: 404})
		return
	}
	target := r.Header.Get("X-Amz-Target")
	action, ok := strings.CutPrefix(target, "AWSStepFunctions.")
	fn := e.actions()[action]
	if !ok || fn == nil {
		writeAPIError(w, &APIError{Code: "UnknownOperationException", Message: "unknown operation " + target, Status: 400})
		return
	}
	if !e.quotas.allow(action) {
		writeAPIError(w, &APIError{Code: CodeThrottling, Message: "Rate exceeded", Status: 400})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 2<<20))
	if err != nil {
		writeAPIError(w, apiErr("SerializationException", "cannot read body: %v", err))
		return
	}
	if len(body) == 0 {
		body = []byte("{}")
	}
	out, err := fn(r.Context(), body)
	if err != nil {
		var ae *APIError
		if !errors.As(err, &ae) {
			e.log.Error("sfn api: internal error", "action", action, "err", err)
			ae = &APIError{Code: "InternalFailure", Message: "internal error", Status: 500}
		}
		writeAPIError(w, ae)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	_ = json.NewEncoder(w).Encode(out)
}

func writeAPIError(w http.ResponseWriter, ae *APIError) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-ErrorType", ae.Code)
	w.WriteHeader(ae.Status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": "com.amazonaws.states#" + ae.Code, "message": ae.Message})
}

func decode(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return apiErr("SerializationException", "invalid request body: %v", err)
	}
	return nil
}

func required(field, v string) error {
	if v == "" {
		return apiErr(CodeValidation, "1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", field)
	}
	return nil
}

func (e *Executor) apiCreateStateMachine(ctx context.Context, body []byte) (any, error) {
	var in struct {
		Name       string `json:"name"`
		Definition string `json:"definition"`
		RoleArn    string `json:"roleArn"`
		Type       string `json:"type"`
		Tags       []Tag  `json:"tags"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := required("definition", in.Definition); err != nil {
		return nil, err
	}
	if in.Type == "" {
		in.Type = "STANDARD"
	}
	if in.Type != "STANDARD" && in.Type != "EXPRESS" {
		return nil, apiErr(CodeValidation, "1 validation error detected: Value '%s' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [STANDARD, EXPRESS]", in.Type)
	}
	arn := e.stateMachineARN(in.Name)
	if sm, err := e.DescribeStateMachine(ctx, arn); err == nil {
		if sm.Definition != in.Definition || sm.Type != in.Type {
			return nil, apiErr(CodeStateMachineExists, "State Machine Already Exists: '%s'", arn)
		}
		return map[string]any{"stateMachineArn": arn, "creationDate": sm.CreationDate}, nil
	}
	if _, err := e.RegisterStateMachine(ctx, in.Name, []byte(in.Definition)); err != nil {
		return nil, err
	}
	if err := e.setMachineTypeAndTags(ctx, arn, in.Type, in.RoleArn, in.Tags); err != nil {
		return nil, err
	}
	sm, err := e.DescribeStateMachine(ctx, arn)
	if err != nil {
		return nil, err
	}
	return map[string]any{"stateMachineArn": arn, "creationDate": sm.CreationDate}, nil
}

func (e *Executor) apiDescribeStateMachine(ctx context.Context, body []byte) (any, error) {
	var in struct {
		StateMachineArn string `json:"stateMachineArn"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	return e.DescribeStateMachine(ctx, in.StateMachineArn)
}

func (e *Executor) apiListStateMachines(ctx context.Context, body []byte) (any, error) {
	var in struct {
		MaxResults int    `json:"maxResults"`
		NextToken  string `json:"nextToken"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	sms, next, err := e.ListStateMachines(ctx, in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	items := make([]map[string]any, 0, len(sms))
	for _, sm := range sms {
		items = append(items, map[string]any{"stateMachineArn": sm.StateMachineArn, "name": sm.Name,
			"type": sm.Type, "creationDate": sm.CreationDate})
	}
	out := map[string]any{"stateMachines": items}
	if next != "" {
		out["nextToken"] = next
	}
	return out, nil
}

func (e *Executor) apiStartExecution(ctx context.Context, body []byte) (any, error) {
	var in StartExecutionInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := required("stateMachineArn", in.StateMachineArn); err != nil {
		return nil, err
	}
	return e.StartExecution(ctx, in)
}

func (e *Executor) apiDescribeExecution(ctx context.Context, body []byte) (any, error) {
	var in struct {
		ExecutionArn string `json:"executionArn"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	return e.DescribeExecution(ctx, in.ExecutionArn)
}

func (e *Executor) apiGetExecutionHistory(ctx context.Context, body []byte) (any, error) {
	var in struct {
		ExecutionArn string `json:"executionArn"`
		MaxResults   int    `json:"maxResults"`
		ReverseOrder bool   `json:"reverseOrder"`
		NextToken    string `json:"nextToken"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	evs, next, err := e.GetExecutionHistory(ctx, in.ExecutionArn, in.MaxResults, in.ReverseOrder, in.NextToken)
	if err != nil {
		return nil, err
	}
	if evs == nil {
		evs = []HistoryEvent{}
	}
	out := map[string]any{"events": evs}
	if next != "" {
		out["nextToken"] = next
	}
	return out, nil
}

func (e *Executor) apiListExecutions(ctx context.Context, body []byte) (any, error) {
	var in struct {
		StateMachineArn string `json:"stateMachineArn"`
		StatusFilter    string `json:"statusFilter"`
		MaxResults      int    `json:"maxResults"`
		NextToken       string `json:"nextToken"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	xs, next, err := e.ListExecutions(ctx, in.StateMachineArn, in.StatusFilter, in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	if xs == nil {
		xs = []ExecutionListItem{}
	}
	out := map[string]any{"executions": xs}
	if next != "" {
		out["nextToken"] = next
	}
	return out, nil
}

func (e *Executor) apiStopExecution(ctx context.Context, body []byte) (any, error) {
	var in struct {
		ExecutionArn string `json:"executionArn"`
		Error        string `json:"error"`
		Cause        string `json:"cause"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	stop, err := e.StopExecution(ctx, in.ExecutionArn, in.Error, in.Cause)
	if err != nil {
		return nil, err
	}
	return map[string]any{"stopDate": stop}, nil
}

func (e *Executor) apiSendTaskSuccess(ctx context.Context, body []byte) (any, error) {
	var in struct {
		TaskToken string `json:"taskToken"`
		Output    string `json:"output"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	return struct{}{}, e.SendTaskSuccess(ctx, in.TaskToken, in.Output)
}

func (e *Executor) apiSendTaskFailure(ctx context.Context, body []byte) (any, error) {
	var in struct {
		TaskToken string `json:"taskToken"`
		Error     string `json:"error"`
		Cause     string `json:"cause"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	return struct{}{}, e.SendTaskFailure(ctx, in.TaskToken, in.Error, in.Cause)
}

func (e *Executor) apiSendTaskHeartbeat(ctx context.Context, body []byte) (any, error) {
	var in struct {
		TaskToken string `json:"taskToken"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	return struct{}{}, e.SendTaskHeartbeat(ctx, in.TaskToken)
}
