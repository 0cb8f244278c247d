package asl

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/checkout-dev/checkout/localaws/asl/asltest"
)

// failing returns a task that fails with the given error names in order,
// then succeeds with {"ok":true}; it counts calls.
func failing(calls *int, names ...string) func(TaskRequest) (any, error) {
	return func(TaskRequest) (any, error) {
		*calls++
		if *calls <= len(names) {
			return nil, &TaskError{ErrorName: names[*calls-1], Cause: "boom"}
		}
		return map[string]any{"ok": true}, nil
	}
}

func secs(f ...float64) []time.Duration {
	out := make([]time.Duration, len(f))
	for i, s := range f {
		out[i] = time.Duration(s * float64(time.Second))
	}
	return out
}

func TestRetryAndCatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		fields     string
		errors     []string // the task fails with these, then succeeds
		random     float64
		wantCalls  int
		wantWaits  []time.Duration
		wantStatus string
		wantError  string
		wantOut    string
	}{
		{
			// spec: "IntervalSeconds": 3, "MaxAttempts": 2, "BackoffRate": 1.5 →
			// retries after 3 and 4.5 seconds, then the error is final.
			name:      "spec retrier: waits 3s then 4.5s, MaxAttempts 2",
			fields:    `"Retry":[{"ErrorEquals":["States.Timeout"],"IntervalSeconds":3,"MaxAttempts":2,"BackoffRate":1.5}]`,
			errors:    []string{ErrTimeout, ErrTimeout, ErrTimeout},
			wantCalls: 3, wantWaits: secs(3, 4.5), wantStatus: StatusFailed, wantError: ErrTimeout,
		},
		{
			name:      "defaults: interval 1, backoff 2, 3 attempts",
			fields:    `"Retry":[{"ErrorEquals":["E"]}]`,
			errors:    []string{"E", "E", "E"},
			wantCalls: 4, wantWaits: secs(1, 2, 4), wantStatus: StatusSucceeded, wantOut: `{"ok":true}`,
		},
		{
			name:      "MaxAttempts 0 never retries",
			fields:    `"Retry":[{"ErrorEquals":["E"],"MaxAttempts":0}]`,
			errors:    []string{"E"},
			wantCalls: 1, wantWaits: nil, wantStatus: StatusFailed, wantError: "E",
		},
		{
			name:      "MaxDelaySeconds caps the backoff",
			fields:    `"Retry":[{"ErrorEquals":["E"],"IntervalSeconds":2,"BackoffRate":3,"MaxAttempts":4,"MaxDelaySeconds":10}]`,
			errors:    []string{"E", "E", "E", "E"},
			wantCalls: 5, wantWaits: secs(2, 6, 10, 10), wantStatus: StatusSucceeded, wantOut: `{"ok":true}`,
		},
		{
			name:      "JitterStrategy FULL scales the delay by the random source",
			fields:    `"Retry":[{"ErrorEquals":["E"],"IntervalSeconds":4,"MaxAttempts":2,"JitterStrategy":"FULL"}]`,
			errors:    []string{"E", "E"},
			random:    0.25,
			wantCalls: 3, wantWaits: secs(1, 2), wantStatus: StatusSucceeded, wantOut: `{"ok":true}`,
		},
		{
			// spec: retriers ErrorA/ErrorB (MaxAttempts 2) and ErrorC; failing with
			// ErrorA, ErrorB, ErrorC, ErrorB: the fourth failure is not retried
			// because the first retrier is exhausted (counters are per retrier).
			name: "spec: per-retrier attempt counters",
			fields: `"Retry":[{"ErrorEquals":["ErrorA","ErrorB"],"IntervalSeconds":1,"BackoffRate":2,"MaxAttempts":2},
			                  {"ErrorEquals":["ErrorC"],"IntervalSeconds":5}]`,
			errors:    []string{"ErrorA", "ErrorB", "ErrorC", "ErrorB"},
			wantCalls: 4, wantWaits: secs(1, 2, 5), wantStatus: StatusFailed, wantError: "ErrorB",
		},
		{
			name:      "first matching retrier decides even when a later one would match",
			fields:    `"Retry":[{"ErrorEquals":["E"],"MaxAttempts":1},{"ErrorEquals":["States.ALL"],"MaxAttempts":5}]`,
			errors:    []string{"E", "E"},
			wantCalls: 2, wantWaits: secs(1), wantStatus: StatusFailed, wantError: "E",
		},
		{
			name:      "States.ALL retries any error",
			fields:    `"Retry":[{"ErrorEquals":["States.ALL"],"MaxAttempts":1}]`,
			errors:    []string{"Custom.Error"},
			wantCalls: 2, wantWaits: secs(1), wantStatus: StatusSucceeded, wantOut: `{"ok":true}`,
		},
		{
			name:      "States.TaskFailed matches a task's custom error",
			fields:    `"Retry":[{"ErrorEquals":["States.TaskFailed"],"MaxAttempts":1}]`,
			errors:    []string{"Custom.Error"},
			wantCalls: 2, wantWaits: secs(1), wantStatus: StatusSucceeded, wantOut: `{"ok":true}`,
		},
		{
			name:      "States.TaskFailed does not match States.Timeout",
			fields:    `"Retry":[{"ErrorEquals":["States.TaskFailed"]}]`,
			errors:    []string{ErrTimeout},
			wantCalls: 1, wantStatus: StatusFailed, wantError: ErrTimeout,
		},
		{
			// spec Catch example: ResultPath "$.error-info" keeps the input
			name: "Catch with ResultPath adds the error output to the input",
			fields: `"Catch":[{"ErrorEquals":["java.lang.Exception"],"ResultPath":"$.error-info","Next":"Recovery"},
			                  {"ErrorEquals":["States.ALL"],"Next":"Recovery"}]`,
			errors:    []string{"java.lang.Exception"},
			wantCalls: 1, wantStatus: StatusSucceeded,
			wantOut: `{"in":1,"error-info":{"Error":"java.lang.Exception","Cause":"boom"}}`,
		},
		{
			name:      "Catch default ResultPath replaces the input with the error output",
			fields:    `"Catch":[{"ErrorEquals":["States.ALL"],"Next":"Recovery"}]`,
			errors:    []string{"X"},
			wantCalls: 1, wantStatus: StatusSucceeded, wantOut: `{"Error":"X","Cause":"boom"}`,
		},
		{
			name:      "Catch ResultPath null keeps the input",
			fields:    `"Catch":[{"ErrorEquals":["X"],"ResultPath":null,"Next":"Recovery"}]`,
			errors:    []string{"X"},
			wantCalls: 1, wantStatus: StatusSucceeded, wantOut: `{"in":1}`,
		},
		{
			name:      "catchers are tried in order",
			fields:    `"Catch":[{"ErrorEquals":["Y"],"Next":"Other"},{"ErrorEquals":["X","Z"],"Next":"Recovery"}]`,
			errors:    []string{"Z"},
			wantCalls: 1, wantStatus: StatusSucceeded, wantOut: `{"Error":"Z","Cause":"boom"}`,
		},
		{
			name: "retries exhausted, then caught",
			fields: `"Retry":[{"ErrorEquals":["X"],"MaxAttempts":1}],
			         "Catch":[{"ErrorEquals":["X"],"ResultPath":"$.err","Next":"Recovery"}]`,
			errors:    []string{"X", "X"},
			wantCalls: 2, wantWaits: secs(1), wantStatus: StatusSucceeded,
			wantOut: `{"in":1,"err":{"Error":"X","Cause":"boom"}}`,
		},
		{
			name:      "explicit States.Runtime in ErrorEquals still does not catch it",
			fields:    `"Catch":[{"ErrorEquals":["States.Runtime"],"Next":"Recovery"}]`,
			errors:    []string{ErrRuntime},
			wantCalls: 1, wantStatus: StatusFailed, wantError: ErrRuntime,
		},
		{
			name:      "States.DataLimitExceeded is terminal",
			fields:    `"Retry":[{"ErrorEquals":["States.ALL"]}],"Catch":[{"ErrorEquals":["States.ALL"],"Next":"Recovery"}]`,
			errors:    []string{ErrDataLimitExceeded},
			wantCalls: 1, wantStatus: StatusFailed, wantError: ErrDataLimitExceeded,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			def := mustParse(t, `{"StartAt":"T","States":{
			  "T":{"Type":"Task","Resource":"r","End":true,`+tt.fields+`},
			  "Recovery":{"Type":"Pass","End":true},
			  "Other":{"Type":"Fail","Error":"WrongCatcher"}}}`)
			calls := 0
			clock := asltest.NewClock(false)
			env := &Env{Clock: clock, Runner: runnerMap{"r": failing(&calls, tt.errors...)},
				Random: func() float64 { return tt.random }}
			final, _ := run(t, def, env, `{"in":1}`)
			if calls != tt.wantCalls {
				t.Errorf("calls = %d, want %d", calls, tt.wantCalls)
			}
			if !reflect.DeepEqual(clock.Waits(), tt.wantWaits) {
				t.Errorf("waits = %v, want %v", clock.Waits(), tt.wantWaits)
			}
			if final.Status != tt.wantStatus || final.Error != tt.wantError {
				t.Fatalf("final = %+v, want %s %s", final, tt.wantStatus, tt.wantError)
			}
			if tt.wantOut != "" {
				jsonEq(t, final.Output, tt.wantOut)
			}
		})
	}
}

// The retry count is visible as $$.State.RetryCount and resets when the
// state is entered again (counters belong to one visit of the state).
func TestRetryCountInContextAndReset(t *testing.T) {
	t.Parallel()
	def := mustParse(t, `{"StartAt":"T","States":{
	  "T":{"Type":"Task","Resource":"r","Parameters":{"rc.$":"$$.State.RetryCount"},"ResultPath":null,
	       "Retry":[{"ErrorEquals":["E"],"MaxAttempts":1}],"Next":"Again"},
	  "Again":{"Type":"Choice","Choices":[{"Variable":"$.loop","BooleanEquals":true,"Next":"Flip"}],"Default":"Done"},
	  "Flip":{"Type":"Pass","Result":false,"ResultPath":"$.loop","Next":"T"},
	  "Done":{"Type":"Succeed"}}}`)
	var seen []string
	calls := 0
	env := &Env{Runner: runnerMap{"r": func(req TaskRequest) (any, error) {
		calls++
		seen = append(seen, string(req.Input))
		if calls%2 == 1 { // every first attempt of a visit fails once
			return nil, &TaskError{ErrorName: "E"}
		}
		return "ok", nil
	}}}
	final, _ := run(t, def, env, `{"loop":true}`)
	if final.Status != StatusSucceeded {
		t.Fatalf("final %+v", final)
	}
	want := []string{`{"rc":0}`, `{"rc":1}`, `{"rc":0}`, `{"rc":1}`}
	if !reflect.DeepEqual(seen, want) {
		t.Fatalf("inputs %v, want %v (MaxAttempts 1 must allow one retry on each visit)", seen, want)
	}
}

func TestTaskTimeout(t *testing.T) {
	t.Parallel()
	def := mustParse(t, `{"StartAt":"T","States":{
	  "T":{"Type":"Task","Resource":"r","TimeoutSeconds":5,"End":true,
	       "Catch":[{"ErrorEquals":["States.Timeout"],"Next":"Timed"}]},
	  "Timed":{"Type":"Pass","End":true}}}`)
	clock := asltest.NewClock(true)
	causes := make(chan error, 1)
	env := &Env{Clock: clock, Runner: TaskRunnerFunc(func(ctx context.Context, _ TaskRequest) (json.RawMessage, error) {
		<-ctx.Done()
		causes <- context.Cause(ctx)
		return nil, ctx.Err()
	})}
	c, _ := def.Begin(json.RawMessage(`{}`), clock.Now())
	c, _, err := def.Step(context.Background(), env, c) // schedule
	if err != nil || c.Phase != "run" || c.Timeout != 5 {
		t.Fatalf("schedule: %+v %v", c, err)
	}
	done := make(chan Cursor)
	go func() {
		next, _, _ := def.Step(context.Background(), env, c)
		done <- next
	}()
	for clock.Pending() == 0 {
		time.Sleep(time.Millisecond)
	}
	clock.Advance(4 * time.Second)
	select {
	case <-done:
		t.Fatal("timed out before TimeoutSeconds")
	case <-time.After(20 * time.Millisecond):
	}
	clock.Advance(time.Second)
	next := <-done
	if next.State != "Timed" {
		t.Fatalf("want caught timeout, got %+v", next)
	}
	jsonEq(t, next.Input, `{"Error":"States.Timeout","Cause":"the task did not finish within 5 seconds"}`)
	if cause := <-causes; !errors.Is(cause, ErrTaskTimedOut) {
		t.Fatalf("runner context cause = %v", cause)
	}
}

// TestTaskEventsCarryTheirOwnTime: TaskStarted is stamped when the task
// starts and TaskSucceeded when it ends, so the history shows how long a
// task ran.
func TestTaskEventsCarryTheirOwnTime(t *testing.T) {
	t.Parallel()
	def := mustParse(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"r","End":true}}}`)
	clock := asltest.NewClock(true)
	env := &Env{Clock: clock, Runner: TaskRunnerFunc(func(context.Context, TaskRequest) (json.RawMessage, error) {
		clock.Advance(3 * time.Second) // the task takes three seconds
		return json.RawMessage(`{}`), nil
	})}
	c, _ := def.Begin(json.RawMessage(`{}`), clock.Now())
	c, _, err := def.Step(context.Background(), env, c) // schedule
	if err != nil {
		t.Fatal(err)
	}
	_, events, err := def.Step(context.Background(), env, c) // run
	if err != nil {
		t.Fatal(err)
	}
	at := map[string]time.Time{}
	for _, ev := range events {
		at[ev.Type] = ev.Timestamp
	}
	if got := at["TaskSucceeded"].Sub(at["TaskStarted"]); got != 3*time.Second {
		t.Fatalf("TaskSucceeded - TaskStarted = %v (events %v); want 3s", got, at)
	}
}
