package asl

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/checkout-dev/checkout/localaws/asl/asltest"
)

func TestParallel(t *testing.T) {
	t.Parallel()
	const def = `{"StartAt":"P","States":{
	  "P":{"Type":"Parallel","ResultPath":"$.results","Next":"Done",
	       "Retry":[{"ErrorEquals":["Flaky"],"MaxAttempts":1}],
	       "Catch":[{"ErrorEquals":["Broken"],"ResultPath":"$.err","Next":"Caught"}],
	       "Branches":[
	         {"StartAt":"A","States":{"A":{"Type":"Task","Resource":"a","End":true}}},
	         {"StartAt":"B","States":{"B":{"Type":"Pass","Parameters":{"b.$":"$.x"},"Next":"B2"},
	                                  "B2":{"Type":"Wait","Seconds":10,"End":true}}}]},
	  "Done":{"Type":"Succeed"},
	  "Caught":{"Type":"Pass","End":true}}}`
	tests := []struct {
		name      string
		failures  []string
		wantState string
		wantOut   string
		wantCalls int32
	}{
		{"outputs in branch order", nil, "Done", `{"x":1,"results":[{"a":1},{"b":1}]}`, 1},
		{"failing branch retried as a whole", []string{"Flaky"}, "Done", `{"x":1,"results":[{"a":1},{"b":1}]}`, 2},
		{"failing branch caught with the branch's error", []string{"Broken"}, "Caught", `{"x":1,"err":{"Error":"Broken","Cause":"boom"}}`, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			env := &Env{Runner: runnerMap{"a": func(TaskRequest) (any, error) {
				n := calls.Add(1)
				if int(n) <= len(tt.failures) {
					return nil, &TaskError{ErrorName: tt.failures[n-1], Cause: "boom"}
				}
				return map[string]any{"a": 1}, nil
			}}}
			final, evs := run(t, mustParse(t, def), env, `{"x":1}`)
			if final.Status != StatusSucceeded {
				t.Fatalf("final %+v", final)
			}
			jsonEq(t, final.Output, tt.wantOut)
			if calls.Load() != tt.wantCalls {
				t.Errorf("calls %d want %d", calls.Load(), tt.wantCalls)
			}
			types := strings.Join(eventTypes(evs), ",")
			if !strings.Contains(types, "ParallelStateEntered,ParallelStateStarted") {
				t.Errorf("events %s", types)
			}
		})
	}
}

func TestParallelUncaughtBranchFailureFailsExecution(t *testing.T) {
	t.Parallel()
	def := mustParse(t, `{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[
	  {"StartAt":"F","States":{"F":{"Type":"Fail","Error":"Bad","Cause":"why"}}},
	  {"StartAt":"W","States":{"W":{"Type":"Pass","End":true}}}]}}}`)
	final, evs := run(t, def, &Env{}, `{}`)
	if final.Status != StatusFailed || final.Error != "Bad" || final.Cause != "why" {
		t.Fatalf("final %+v", final)
	}
	if !strings.Contains(strings.Join(eventTypes(evs), ","), "ParallelStateFailed") {
		t.Errorf("events %v", eventTypes(evs))
	}
}

func TestWait(t *testing.T) {
	t.Parallel()
	start := asltest.NewClock(false).Now()
	tests := []struct {
		name, field, input string
		want               time.Duration
		wantErr            string
	}{
		{"Seconds", `"Seconds":10`, `{}`, 10 * time.Second, ""},
		{"SecondsPath", `"SecondsPath":"$.s"`, `{"s":7}`, 7 * time.Second, ""},
		{"Timestamp", `"Timestamp":"` + start.Add(time.Hour).Format(time.RFC3339) + `"`, `{}`, time.Hour, ""},
		{"TimestampPath", `"TimestampPath":"$.t"`, `{"t":"` + start.Add(90*time.Second).Format(time.RFC3339) + `"}`, 90 * time.Second, ""},
		{"Timestamp in the past does not wait", `"Timestamp":"2000-01-01T00:00:00Z"`, `{}`, 0, ""},
		{"SecondsPath missing", `"SecondsPath":"$.nope"`, `{}`, 0, ErrRuntime},
		{"SecondsPath not a number", `"SecondsPath":"$.s"`, `{"s":"x"}`, 0, ErrRuntime},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := asltest.NewClock(false)
			def := mustParse(t, `{"StartAt":"W","States":{"W":{"Type":"Wait",`+tt.field+`,"End":true}}}`)
			final, evs := run(t, def, &Env{Clock: clock}, tt.input)
			if tt.wantErr != "" {
				if final.Error != tt.wantErr {
					t.Fatalf("final %+v", final)
				}
				return
			}
			var total time.Duration
			for _, w := range clock.Waits() {
				total += w
			}
			if total != tt.want {
				t.Errorf("waited %v, want %v", total, tt.want)
			}
			jsonEq(t, final.Output, tt.input)
			if got := eventTypes(evs); !reflect.DeepEqual(got, []string{"WaitStateEntered", "WaitStateExited"}) {
				t.Errorf("events %v", got)
			}
		})
	}
}

func TestFailState(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, fields, input, wantErr, wantCause string }{
		{"static", `"Error":"ErrorA","Cause":"Kaiju attack"`, `{}`, "ErrorA", "Kaiju attack"},
		{"paths", `"ErrorPath":"$.e","CausePath":"$.c"`, `{"e":"E1","c":"C1"}`, "E1", "C1"},
		{"intrinsic cause", `"Error":"E","CausePath":"States.Format('code {}', $.code)"`, `{"code":42}`, "E", "code 42"},
		{"missing path is States.Runtime", `"ErrorPath":"$.nope"`, `{}`, ErrRuntime, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			def := mustParse(t, `{"StartAt":"F","States":{"F":{"Type":"Fail",`+tt.fields+`}}}`)
			final, _ := run(t, def, &Env{}, tt.input)
			if final.Status != StatusFailed || final.Error != tt.wantErr || (tt.wantCause != "" && final.Cause != tt.wantCause) {
				t.Fatalf("final %+v", final)
			}
		})
	}
}

func TestMap(t *testing.T) {
	t.Parallel()
	def := mustParse(t, `{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.items","MaxConcurrency":2,
	  "ItemSelector":{"v.$":"$$.Map.Item.Value","i.$":"$$.Map.Item.Index","k.$":"$.k"},
	  "ItemProcessor":{"StartAt":"D","States":{"D":{"Type":"Task","Resource":"double","End":true}}},
	  "ResultPath":"$.out","End":true}}}`)
	env := &Env{Runner: runnerMap{"double": func(req TaskRequest) (any, error) {
		var in struct{ V, I, K int }
		if err := json.Unmarshal(req.Input, &in); err != nil {
			return nil, err
		}
		return in.V*2 + in.I*100 + in.K*1000, nil
	}}}
	final, _ := run(t, def, env, `{"items":[1,2,3],"k":1}`)
	if final.Status != StatusSucceeded {
		t.Fatalf("final %+v", final)
	}
	jsonEq(t, final.Output, `{"items":[1,2,3],"k":1,"out":[1002,1104,1206]}`)
}

func TestWaitForTaskTokenInContext(t *testing.T) {
	t.Parallel()
	def := mustParse(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage.waitForTaskToken",
	  "Parameters":{"MessageBody":{"token.$":"$$.Task.Token","exec.$":"$$.Execution.Id"}},"End":true}}}`)
	var got TaskRequest
	env := &Env{Execution: ExecutionInfo{ID: "arn:exec"}, Runner: TaskRunnerFunc(func(_ context.Context, req TaskRequest) (json.RawMessage, error) {
		got = req
		return json.RawMessage(`{"done":1}`), nil
	})}
	final, evs := run(t, def, env, `{}`)
	if final.Status != StatusSucceeded || got.TaskToken == "" {
		t.Fatalf("final %+v token %q", final, got.TaskToken)
	}
	jsonEq(t, got.Input, `{"MessageBody":{"token":"`+got.TaskToken+`","exec":"arn:exec"}}`)
	// the token is a pure function of execution and position: a re-run of
	// the same step (after a crash) gets the same token
	if again := (&Env{Execution: ExecutionInfo{ID: "arn:exec"}}).token("T#1#0"); again != got.TaskToken {
		t.Errorf("token not deterministic: %s vs %s", again, got.TaskToken)
	}
	want := []string{"TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSucceeded", "TaskStateExited"}
	if !reflect.DeepEqual(eventTypes(evs), want) {
		t.Errorf("events %v", eventTypes(evs))
	}
	var sched map[string]any
	_ = json.Unmarshal(evs[1].Details, &sched)
	if sched["resourceType"] != "sqs" || sched["resource"] != "sendMessage.waitForTaskToken" {
		t.Errorf("TaskScheduled details %s", evs[1].Details)
	}
	if evs[1].DetailsKey() != "taskScheduledEventDetails" || evs[0].DetailsKey() != "stateEnteredEventDetails" {
		t.Errorf("details keys %s %s", evs[1].DetailsKey(), evs[0].DetailsKey())
	}
}

// Resumability: a cursor persisted after scheduling resumes on a fresh
// Definition (as after a process restart) and re-runs only the task.
func TestResumeFromPersistedCursor(t *testing.T) {
	t.Parallel()
	const src = `{"StartAt":"One","States":{
	  "One":{"Type":"Task","Resource":"one","ResultPath":"$.one","Next":"Two"},
	  "Two":{"Type":"Task","Resource":"two","ResultPath":"$.two","End":true}}}`
	var one, two int
	env := &Env{Runner: runnerMap{
		"one": func(TaskRequest) (any, error) { one++; return 1, nil },
		"two": func(TaskRequest) (any, error) { two++; return 2, nil },
	}, Clock: asltest.NewClock(false)}
	d1 := mustParse(t, src)
	c, _ := d1.Begin(json.RawMessage(`{}`), env.Clock.Now())
	var saved []byte
	for range 3 { // schedule One, run One, schedule Two
		next, _, err := d1.Step(context.Background(), env, c)
		if err != nil {
			t.Fatal(err)
		}
		c = next
		saved, _ = json.Marshal(c)
	}
	// "crash": a new Definition and the cursor from JSON
	d2 := mustParse(t, src)
	var resumed Cursor
	if err := json.Unmarshal(saved, &resumed); err != nil {
		t.Fatal(err)
	}
	if resumed.State != "Two" || resumed.Phase != "run" {
		t.Fatalf("resumed %+v", resumed)
	}
	final, err := d2.Run(context.Background(), env, resumed, nil)
	if err != nil || final.Status != StatusSucceeded {
		t.Fatalf("final %+v %v", final, err)
	}
	jsonEq(t, final.Output, `{"one":1,"two":2}`)
	if one != 1 || two != 1 {
		t.Errorf("one=%d two=%d", one, two)
	}
}

// A context that ends mid-task leaves the cursor re-runnable.
func TestStepCancelledKeepsCursor(t *testing.T) {
	t.Parallel()
	def := mustParse(t, taskMachine(""))
	ctx, cancel := context.WithCancel(context.Background())
	env := &Env{Runner: TaskRunnerFunc(func(ctx context.Context, _ TaskRequest) (json.RawMessage, error) {
		cancel()
		<-ctx.Done()
		return nil, ctx.Err()
	})}
	c, _ := def.Begin(json.RawMessage(`{}`), time.Now())
	c, _, _ = def.Step(context.Background(), env, c)
	next, evs, err := def.Step(ctx, env, c)
	if err == nil || !reflect.DeepEqual(next, c) || evs != nil {
		t.Fatalf("want unchanged cursor and error, got %+v %v %v", next, evs, err)
	}
}

func TestParseRejectsInvalidDefinitions(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, def, want string }{
		{"no StartAt", `{"States":{"A":{"Type":"Succeed"}}}`, "StartAt"},
		{"StartAt missing state", `{"StartAt":"X","States":{"A":{"Type":"Succeed"}}}`, "not a state"},
		{"unknown type", `{"StartAt":"A","States":{"A":{"Type":"Nope"}}}`, "unknown Type"},
		{"Next and End", `{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"A","End":true}}}`, "exactly one of Next and End"},
		{"dangling Next", `{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"}}}`, "not a state"},
		{"States.ALL not last", `{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"r","End":true,"Retry":[{"ErrorEquals":["States.ALL"]},{"ErrorEquals":["X"]}]}}}`, "States.ALL"},
		{"States.ALL not alone", `{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"r","End":true,"Catch":[{"ErrorEquals":["States.ALL","X"],"Next":"A"}]}}}`, "States.ALL"},
		{"bad Parameters path", `{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"a.$":"nope"},"End":true}}}`, "Parameters"},
		{"bad intrinsic", `{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"a.$":"States.Nope()"},"End":true}}}`, "unknown function"},
		{"Choice without Choices", `{"StartAt":"A","States":{"A":{"Type":"Choice"}}}`, "Choices"},
		{"choice rule two comparators", `{"StartAt":"A","States":{"A":{"Type":"Choice","Choices":[{"Variable":"$.a","StringEquals":"x","NumericEquals":1,"Next":"A"}]}}}`, "two comparators"},
		{"Wait two fields", `{"StartAt":"A","States":{"A":{"Type":"Wait","Seconds":1,"SecondsPath":"$.s","End":true}}}`, "exactly one"},
		{"Retry on Pass", `{"StartAt":"A","States":{"A":{"Type":"Pass","End":true,"Retry":[{"ErrorEquals":["X"]}]}}}`, "Retry"},
		{"BackoffRate below 1", `{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"r","End":true,"Retry":[{"ErrorEquals":["X"],"BackoffRate":0.5}]}}}`, "BackoffRate"},
		{"JitterStrategy", `{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"r","End":true,"Retry":[{"ErrorEquals":["X"],"JitterStrategy":"HALF"}]}}}`, "JitterStrategy"},
		{"branch Next outside branch", `{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"P"}}}]}}}`, "not a state"},
		{"ResultPath with wildcard", `{"StartAt":"A","States":{"A":{"Type":"Pass","ResultPath":"$.a[*]","End":true}}}`, "reference path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tt.def))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse error %v, want it to mention %q", err, tt.want)
			}
		})
	}
}
