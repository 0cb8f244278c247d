package sfn

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/checkout-dev/checkout/localaws/asl/asltest"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

// TransientError is a handler error type: its name becomes the ASL error.
type TransientError struct{ msg string }

func (e *TransientError) Error() string { return e.msg }

// PaymentDeclined is a value-type error.
type PaymentDeclined struct{}

func (PaymentDeclined) Error() string { return "card declined" }

const sagaDef = `{
  "StartAt": "Reserve",
  "States": {
    "Reserve": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:reserve",
      "ResultPath": "$.reserve",
      "Retry": [{"ErrorEquals": ["TransientError"], "IntervalSeconds": 2, "BackoffRate": 3, "MaxAttempts": 3}],
      "Next": "InStock?"},
    "InStock?": {"Type": "Choice",
      "Choices": [{"Variable": "$.reserve.ok", "BooleanEquals": true, "Next": "ChargeAndWait"}],
      "Default": "OutOfStock"},
    "OutOfStock": {"Type": "Fail", "Error": "OutOfStock", "Cause": "no stock"},
    "ChargeAndWait": {"Type": "Parallel", "ResultPath": "$.parallel", "Next": "Ship",
      "Branches": [
        {"StartAt": "Charge", "States": {"Charge": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
           "Parameters": {"FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:charge:$LATEST",
                          "Payload": {"amount.$": "$.amount", "exec.$": "$$.Execution.Name"}},
           "ResultSelector": {"charged.$": "$.Payload.charged", "status.$": "$.StatusCode"},
           "End": true}}},
        {"StartAt": "Cool", "States": {"Cool": {"Type": "Wait", "Seconds": 30, "Next": "Done"},
                                       "Done": {"Type": "Pass", "Result": "waited", "End": true}}}]},
    "Ship": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:ship",
      "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.shipError", "Next": "Compensate"}],
      "Next": "Done"},
    "Compensate": {"Type": "Pass", "Parameters": {"compensated": true, "why.$": "$.shipError.Error",
       "cause.$": "States.StringToJson($.shipError.Cause)"}, "Next": "Done"},
    "Done": {"Type": "Succeed"}
  }
}`

func TestSagaWorkflow(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	clock := asltest.NewClock(false)
	var reserveCalls, shipCalls atomic.Int32
	var transitions atomic.Int32
	e := startExecutor(t, pool, Options{Clock: clock, OnTransition: func(Transition) { transitions.Add(1) }}, func(e *Executor) {
		e.RegisterFunction("reserve", jsonHandler(func(map[string]any) (any, error) {
			if reserveCalls.Add(1) <= 2 {
				return nil, &TransientError{"db busy"}
			}
			return map[string]any{"ok": true}, nil
		}))
		e.RegisterFunction("arn:aws:lambda:us-east-1:123456789012:function:charge", jsonHandler(func(in map[string]any) (any, error) {
			return map[string]any{"charged": in["amount"], "exec": in["exec"]}, nil
		}))
		e.RegisterFunction("ship", jsonHandler(func(map[string]any) (any, error) {
			shipCalls.Add(1)
			return nil, errors.New("carrier down")
		}))
	})
	sm := register(t, e, "saga", sagaDef)
	arn := start(t, e, sm, "order-1", `{"amount":1999}`)
	x := waitDone(t, e, arn)
	if x.Status != "SUCCEEDED" {
		t.Fatalf("status %s error %v cause %v", x.Status, deref(x.Error), deref(x.Cause))
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(*x.Output), &out); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"compensated": true, "why": "errorString",
		"cause": map[string]any{"errorMessage": "carrier down", "errorType": "errorString"}}
	if !reflect.DeepEqual(out, want) {
		t.Errorf("output %s", *x.Output)
	}
	if reserveCalls.Load() != 3 || shipCalls.Load() != 1 {
		t.Errorf("reserve %d ship %d", reserveCalls.Load(), shipCalls.Load())
	}
	// Retry backoff: 2s then 2×3=6s; the Parallel branch's Wait: 30s.
	waits := clock.Waits()
	if len(waits) != 3 || waits[0] != 2*time.Second || waits[1] != 6*time.Second || waits[2] != 30*time.Second {
		t.Errorf("waits %v", waits)
	}
	types := historyTypes(t, e, arn)
	for typ, n := range map[string]int{"ExecutionStarted": 1, "TaskStateEntered": 3, "TaskScheduled": 5,
		"TaskFailed": 3, "TaskSucceeded": 2, "ChoiceStateEntered": 1, "ParallelStateStarted": 1,
		"WaitStateEntered": 1, "PassStateEntered": 2, "SucceedStateEntered": 1, "ExecutionSucceeded": 1} {
		if got := count(types, typ); got != n {
			t.Errorf("%s ×%d, want %d (history %v)", typ, got, n, types)
		}
	}
	if types[len(types)-1] != "ExecutionSucceeded" || transitions.Load() < 6 {
		t.Errorf("last event %s, transitions %d", types[len(types)-1], transitions.Load())
	}
	// the Parallel output went through lambda:invoke's wrapper and ResultSelector
	evs, _, _ := e.GetExecutionHistory(context.Background(), arn, 1000, false, "")
	found := false
	for _, ev := range evs {
		if ev.Type == "ParallelStateExited" {
			found = strings.Contains(string(ev.Details), `{\"charged\":1999,\"status\":200}`) &&
				strings.Contains(string(ev.Details), `\"waited\"`)
		}
	}
	if !found {
		t.Errorf("ParallelStateExited output not as expected: %v", evs)
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func TestHandlerErrorsAndPanics(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	e := startExecutor(t, pool, Options{}, func(e *Executor) {
		e.RegisterFunction("declined", func(context.Context, json.RawMessage) (json.RawMessage, error) {
			return nil, PaymentDeclined{}
		})
		e.RegisterFunction("ptr", func(context.Context, json.RawMessage) (json.RawMessage, error) {
			return nil, &TransientError{"x"}
		})
		e.RegisterFunction("panics", func(context.Context, json.RawMessage) (json.RawMessage, error) {
			panic("inventory service exploded")
		})
		e.RegisterFunction("raw", func(context.Context, json.RawMessage) (json.RawMessage, error) {
			return json.RawMessage(`{"lambda":"payload"}`), nil
		})
	})
	tests := []struct{ fn, resource, wantErr, wantCause string }{
		{"declined", "arn:aws:lambda:us-east-1:123456789012:function:declined", "PaymentDeclined", `{"errorMessage":"card declined","errorType":"PaymentDeclined"}`},
		{"ptr", "arn:aws:lambda:us-east-1:123456789012:function:ptr", "TransientError", `{"errorMessage":"x","errorType":"TransientError"}`},
		{"panics", "arn:aws:lambda:us-east-1:123456789012:function:panics", "Lambda.Unknown", "inventory service exploded"},
		{"missing", "arn:aws:lambda:us-east-1:123456789012:function:missing", "Lambda.ResourceNotFoundException", "Function not found"},
		{"unsupported", "arn:aws:states:::dynamodb:putItem", "States.TaskFailed", "unsupported Resource"},
	}
	for _, tt := range tests {
		t.Run(tt.fn, func(t *testing.T) {
			sm := register(t, e, "err-"+tt.fn, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"`+tt.resource+`","End":true}}}`)
			x := waitDone(t, e, start(t, e, sm, "run", `{}`))
			if x.Status != "FAILED" || deref(x.Error) != tt.wantErr || !strings.Contains(deref(x.Cause), tt.wantCause) {
				t.Fatalf("got %s %s %s", x.Status, deref(x.Error), deref(x.Cause))
			}
		})
	}
	t.Run("lambda:invoke result shape", func(t *testing.T) {
		sm := register(t, e, "invoke-shape", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke",
		  "Parameters":{"FunctionName":"raw","Payload.$":"$"},"End":true}}}`)
		x := waitDone(t, e, start(t, e, sm, "run", `{}`))
		var out struct {
			ExecutedVersion string
			Payload         map[string]string
			StatusCode      int
			SdkHttpMetadata struct {
				HttpStatusCode int
				HttpHeaders    map[string]string
			}
			SdkResponseMetadata struct{ RequestId string }
		}
		if err := json.Unmarshal([]byte(deref(x.Output)), &out); err != nil {
			t.Fatal(err)
		}
		if out.ExecutedVersion != "$LATEST" || out.Payload["lambda"] != "payload" || out.StatusCode != 200 ||
			out.SdkHttpMetadata.HttpStatusCode != 200 || out.SdkResponseMetadata.RequestId == "" ||
			out.SdkHttpMetadata.HttpHeaders["X-Amz-Executed-Version"] != "$LATEST" {
			t.Fatalf("output %s", deref(x.Output))
		}
	})
}

// TestLongErrorCauseIsCut: the API Reference limits an error's cause to
// 32768 characters (TaskFailedEventDetails, ExecutionFailedEventDetails);
// a handler error with a longer message fails the task with a cause cut to
// that length, still valid JSON.
func TestLongErrorCauseIsCut(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 40000)
	cause := lambdaCause("Boom", long)
	var v map[string]string
	if len(cause) > maxCause || json.Unmarshal([]byte(cause), &v) != nil || v["errorType"] != "Boom" || !strings.HasPrefix(long, v["errorMessage"]) {
		t.Fatalf("cause of %d bytes: %.80s", len(cause), cause)
	}
}
