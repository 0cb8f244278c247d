package sfn

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"

	"github.com/checkout-dev/checkout/localaws/pgtest"
)

const durableDef = `{"StartAt":"One","States":{
  "One":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:one","ResultPath":"$.one","Next":"Two"},
  "Two":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:two","ResultPath":"$.two","Next":"Three"},
  "Three":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:three","ResultPath":"$.three","End":true}}}`

// Stop the executor while step Two is blocked, start a new one on the same
// database: the execution completes; One and Three ran once, the in-flight
// Two ran twice (at-least-once), and the history has no duplicates.
func TestResumeAfterExecutorStops(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	var one, two, three atomic.Int32
	entered := make(chan struct{}, 1)
	counter := func(n *atomic.Int32) Handler {
		return func(context.Context, json.RawMessage) (json.RawMessage, error) {
			return json.Marshal(n.Add(1))
		}
	}
	e1 := New(pool, Options{})
	e1.RegisterFunction("one", counter(&one))
	e1.RegisterFunction("three", counter(&three))
	e1.RegisterFunction("two", func(ctx context.Context, _ json.RawMessage) (json.RawMessage, error) {
		two.Add(1)
		entered <- struct{}{}
		<-ctx.Done() // blocked until the executor stops
		return nil, ctx.Err()
	})
	if err := e1.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	sm := register(t, e1, "durable", durableDef)
	arn := start(t, e1, sm, "crashy", `{"order":"o-1"}`)
	<-entered
	e1.Close()
	if x, _ := e1.DescribeExecution(context.Background(), arn); x.Status != "RUNNING" {
		t.Fatalf("after stop: %s", x.Status)
	}

	e2 := startExecutor(t, pool, Options{}, func(e *Executor) {
		e.RegisterFunction("one", counter(&one))
		e.RegisterFunction("two", counter(&two))
		e.RegisterFunction("three", counter(&three))
	})
	x := waitDone(t, e2, arn)
	if x.Status != "SUCCEEDED" {
		t.Fatalf("status %s %s", x.Status, deref(x.Cause))
	}
	var out map[string]any
	_ = json.Unmarshal([]byte(*x.Output), &out)
	if out["one"] != float64(1) || out["two"] != float64(2) || out["three"] != float64(1) || out["order"] != "o-1" {
		t.Errorf("output %s", *x.Output)
	}
	if one.Load() != 1 || two.Load() != 2 || three.Load() != 1 {
		t.Errorf("calls one=%d two=%d three=%d", one.Load(), two.Load(), three.Load())
	}
	types := historyTypes(t, e2, arn)
	if count(types, "TaskStateEntered") != 3 || count(types, "TaskSucceeded") != 3 || count(types, "ExecutionStarted") != 1 {
		t.Errorf("history %v", types)
	}
}
