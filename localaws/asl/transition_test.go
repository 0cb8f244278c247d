package asl

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// TestTransitionHook: Env.Transition is called once per state transition
// Step Functions counts against the StateTransition quota (developer
// guide, "Quotas related to state throttling", and the ExecutionThrottled
// metric: "StateEntered events and retries"): once per StateEntered event,
// in branches and iterations too, and once per retry attempt; never for
// the other steps (a scheduled task's run, a Wait's end).
func TestTransitionHook(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		def         string
		input       string
		failures    []string // the task "T" fails with these, then succeeds
		wantRetries int
		wantStatus  string
	}{
		{name: "pass chain", def: `{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"},"B":{"Type":"Pass","Next":"C"},"C":{"Type":"Succeed"}}}`,
			wantStatus: StatusSucceeded},
		{name: "task and wait", def: `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"T","Next":"W"},"W":{"Type":"Wait","Seconds":5,"End":true}}}`,
			wantStatus: StatusSucceeded},
		{name: "retried task", def: `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"T","End":true,
			"Retry":[{"ErrorEquals":["E"],"MaxAttempts":3}]}}}`,
			failures: []string{"E", "E"}, wantRetries: 2, wantStatus: StatusSucceeded},
		{name: "retries exhausted then caught", def: `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"T","Next":"Ok",
			"Retry":[{"ErrorEquals":["E"],"MaxAttempts":1}],"Catch":[{"ErrorEquals":["States.ALL"],"Next":"Caught"}]},
			"Ok":{"Type":"Succeed"},"Caught":{"Type":"Fail","Error":"Caught"}}}`,
			failures: []string{"E", "E"}, wantRetries: 1, wantStatus: StatusFailed},
		{name: "parallel branches", def: `{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[
			{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"},"B":{"Type":"Pass","End":true}}},
			{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"T","End":true}}}]}}}`,
			wantStatus: StatusSucceeded},
		{name: "retried parallel", def: `{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,
			"Retry":[{"ErrorEquals":["E"],"MaxAttempts":2}],
			"Branches":[{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"T","End":true}}}]}}}`,
			failures: []string{"E"}, wantRetries: 1, wantStatus: StatusSucceeded},
		{name: "map iterations", def: `{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.items","End":true,
			"ItemProcessor":{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"T"},"T":{"Type":"Task","Resource":"T","End":true}}}}}}`,
			input: `{"items":[1,2,3]}`, wantStatus: StatusSucceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			var mu sync.Mutex // Parallel branches and Map iterations call T concurrently
			taskCalls := 0
			env := &Env{
				Runner: runnerMap{"T": func(TaskRequest) (any, error) {
					mu.Lock()
					defer mu.Unlock()
					taskCalls++
					if taskCalls <= len(tt.failures) {
						return nil, &TaskError{ErrorName: tt.failures[taskCalls-1], Cause: "boom"}
					}
					return map[string]any{"ok": true}, nil
				}},
				Transition: func(context.Context) error { calls.Add(1); return nil },
			}
			input := tt.input
			if input == "" {
				input = `{}`
			}
			final, evs := run(t, mustParse(t, tt.def), env, input)
			if final.Status != tt.wantStatus {
				t.Fatalf("status %s (%s); want %s", final.Status, final.Error, tt.wantStatus)
			}
			entered := 0
			for _, ev := range evs {
				if strings.HasSuffix(ev.Type, "StateEntered") {
					entered++
				}
			}
			if got, want := int(calls.Load()), entered+tt.wantRetries; got != want {
				t.Errorf("Transition called %d times; want %d (%d StateEntered events + %d retries); events %v",
					got, want, entered, tt.wantRetries, eventTypes(evs))
			}
		})
	}
}

// TestTransitionHookError: an error from Env.Transition (its context
// ended while it waited) ends the step like a cancelled context: no
// events, the cursor returned unchanged, and stepping it again works.
func TestTransitionHookError(t *testing.T) {
	t.Parallel()
	def := mustParse(t, `{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"},"B":{"Type":"Pass","End":true}}}`)
	stop := true
	env := &Env{Transition: func(context.Context) error {
		if stop {
			return context.Canceled
		}
		return nil
	}}
	c, err := def.Begin([]byte(`{"x":1}`), env.now())
	if err != nil {
		t.Fatal(err)
	}
	next, evs, err := def.Step(context.Background(), env, c)
	if !errors.Is(err, context.Canceled) || len(evs) != 0 || next.Entered || next.State != "A" {
		t.Fatalf("step with a failing hook: err %v, events %v, cursor %+v; want context.Canceled, none, A not entered", err, evs, next)
	}
	stop = false
	next, evs, err = def.Step(context.Background(), env, next)
	if err != nil || next.State != "B" || len(evs) != 2 {
		t.Fatalf("step again: err %v, events %v, cursor %+v; want A entered and left for B", err, eventTypes(evs), next)
	}
}
