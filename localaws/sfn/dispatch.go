package sfn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/localaws/asl"
)

// taskRunner dispatches the Task states of one execution by Resource:
//
//   - arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER] calls the
//     registered handler NAME with the effective input; its output is the
//     handler's result.
//   - arn:aws:states:::lambda:invoke calls the handler named by Parameters
//     FunctionName with Parameters Payload; the result is wrapped as AWS
//     does ({"ExecutedVersion","Payload","SdkHttpMetadata",
//     "SdkResponseMetadata","StatusCode"}).
//   - arn:aws:states:::sqs:sendMessage sends through SQS; the result is
//     {"MD5OfMessageBody","MessageId","SdkHttpMetadata","SdkResponseMetadata"}.
//   - the suffix .waitForTaskToken on either integration makes the call and
//     then parks until SendTaskSuccess/SendTaskFailure, HeartbeatSeconds
//     without SendTaskHeartbeat (States.HeartbeatTimeout) or TimeoutSeconds
//     (States.Timeout, enforced by the interpreter).
type taskRunner struct {
	e     *Executor
	arn   string
	trace string // the execution's traceparent (trace.go)
}

const (
	lambdaInvoke   = "arn:aws:states:::lambda:invoke"
	sqsSendMessage = "arn:aws:states:::sqs:sendMessage"
)

func (r *taskRunner) RunTask(ctx context.Context, req asl.TaskRequest) (out json.RawMessage, err error) {
	ctx, span := stateSpan(ctx, r.trace, req)
	defer func() { endStateSpan(span, err) }()
	return r.runTask(ctx, req)
}

func (r *taskRunner) runTask(ctx context.Context, req asl.TaskRequest) (json.RawMessage, error) {
	res, wait := strings.CutSuffix(req.Resource, ".waitForTaskToken")
	if wait {
		out, done, err := r.e.registerToken(ctx, r.arn, req)
		if err != nil || done {
			return out, err // answered before a crash: do not call again
		}
	}
	var out json.RawMessage
	var err error
	switch {
	case res == lambdaInvoke:
		out, err = r.e.lambdaInvoke(ctx, req.Input)
	case strings.HasPrefix(res, "arn:aws:lambda:") && strings.Contains(res, ":function:"):
		out, err = r.e.callFunction(ctx, functionName(res), req.Input)
	case res == sqsSendMessage:
		out, err = r.e.sqsSend(ctx, req.Input)
	default:
		return nil, &asl.TaskError{ErrorName: asl.ErrTaskFailed, Cause: fmt.Sprintf("unsupported Resource %q", req.Resource)}
	}
	if err != nil || !wait {
		return out, err
	}
	return r.e.waitToken(ctx, req.TaskToken, req.HeartbeatSeconds)
}

// errorTypeName names an error like aws-lambda-go: the dynamic type's
// name, the element's name for pointers.
func errorTypeName(err error) string {
	t := reflect.TypeOf(err)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Name() == "" {
		return "Error"
	}
	return t.Name()
}

// maxCause is the longest error cause Step Functions keeps (API Reference,
// TaskFailedEventDetails and ExecutionFailedEventDetails: cause "Maximum
// length of 32768"); a longer error message is cut so that the cause fits.
const maxCause = 32768

func lambdaCause(typ, msg string) string {
	b, _ := json.Marshal(map[string]any{"errorMessage": msg, "errorType": typ})
	for len(b) > maxCause && len(msg) > 0 {
		msg = msg[:max(0, len(msg)-(len(b)-maxCause)-8)]
		for len(msg) > 0 && !utf8.ValidString(msg) {
			msg = msg[:len(msg)-1]
		}
		b, _ = json.Marshal(map[string]any{"errorMessage": msg, "errorType": typ})
	}
	return string(b)
}

// callFunction runs a registered handler, converting errors and panics.
func (e *Executor) callFunction(ctx context.Context, name string, payload json.RawMessage) (out json.RawMessage, err error) {
	e.mu.Lock()
	h := e.funcs[name]
	e.mu.Unlock()
	if h == nil {
		return nil, &asl.TaskError{ErrorName: "Lambda.ResourceNotFoundException",
			Cause: fmt.Sprintf("Function not found: arn:aws:lambda:%s:%s:function:%s (Service: AWSLambda; Status Code: 404; Error Code: ResourceNotFoundException)", e.opts.Region, e.opts.AccountID, name)}
	}
	defer func() {
		if p := recover(); p != nil {
			e.log.Error("sfn: function panicked", "function", name, "panic", p)
			out, err = nil, &asl.TaskError{ErrorName: "Lambda.Unknown",
				Cause: lambdaCause(fmt.Sprintf("%T", p), fmt.Sprintf("The function panicked: %v", p))}
		}
	}()
	if len(payload) == 0 {
		payload = json.RawMessage(`{}`)
	}
	res, herr := h(ctx, payload)
	if herr != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// A handler that emulates the Lambda runtime reports the runtime's
		// own errors (Sandbox.Timedout, Lambda.Unknown...) by name.
		var te *asl.TaskError
		if errors.As(herr, &te) {
			return nil, te
		}
		typ := errorTypeName(herr)
		return nil, &asl.TaskError{ErrorName: typ, Cause: lambdaCause(typ, herr.Error())}
	}
	if len(res) == 0 {
		res = json.RawMessage(`null`)
	}
	if !json.Valid(res) {
		return nil, &asl.TaskError{ErrorName: "Lambda.Unknown", Cause: lambdaCause("InvalidResponse", "the function returned invalid JSON")}
	}
	return res, nil
}

func sdkMetadata(requestID string, contentLength int, extra map[string]string) map[string]any {
	headers := map[string]string{
		"Connection":       "keep-alive",
		"Content-Length":   fmt.Sprint(contentLength),
		"Content-Type":     "application/json",
		"x-amzn-RequestId": requestID,
	}
	for k, v := range extra {
		headers[k] = v
	}
	all := map[string][]string{}
	for k, v := range headers {
		all[k] = []string{v}
	}
	return map[string]any{
		"SdkHttpMetadata":     map[string]any{"AllHttpHeaders": all, "HttpHeaders": headers, "HttpStatusCode": 200},
		"SdkResponseMetadata": map[string]any{"RequestId": requestID},
	}
}

// lambdaInvoke implements arn:aws:states:::lambda:invoke.
func (e *Executor) lambdaInvoke(ctx context.Context, input json.RawMessage) (json.RawMessage, error) {
	var p struct {
		FunctionName   string          `json:"FunctionName"`
		Payload        json.RawMessage `json:"Payload"`
		InvocationType string          `json:"InvocationType"`
		Qualifier      string          `json:"Qualifier"`
	}
	if err := json.Unmarshal(input, &p); err != nil || p.FunctionName == "" {
		return nil, &asl.TaskError{ErrorName: "Lambda.InvalidParameterValueException",
			Cause: "lambda:invoke needs Parameters.FunctionName (and optionally Payload)"}
	}
	out, err := e.callFunction(ctx, functionName(p.FunctionName), p.Payload)
	if err != nil {
		return nil, err
	}
	status := 200
	var payload any = json.RawMessage(out)
	if p.InvocationType == "Event" {
		status, payload = 202, ""
	}
	version := "$LATEST"
	if p.Qualifier != "" {
		version = p.Qualifier
	}
	res := sdkMetadata(uuid.NewString(), len(out), map[string]string{"X-Amz-Executed-Version": version})
	res["ExecutedVersion"] = version
	res["Payload"] = payload
	res["StatusCode"] = status
	return json.Marshal(res)
}
