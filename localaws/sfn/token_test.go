package sfn

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/checkout-dev/checkout/localaws/asl"
	"github.com/checkout-dev/checkout/localaws/asl/asltest"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

const tokenDef = `{"StartAt":"Park","States":{
  "Park":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke.waitForTaskToken",
    "Parameters":{"FunctionName":"notify","Payload":{"token.$":"$$.Task.Token"}},
    "HeartbeatSeconds":60,"ResultPath":"$.answer",
    "Catch":[{"ErrorEquals":["States.HeartbeatTimeout"],"ResultPath":"$.err","Next":"Late"},
             {"ErrorEquals":["Rejected"],"ResultPath":"$.err","Next":"Late"}],
    "End":true},
  "Late":{"Type":"Pass","End":true}}}`

type tokenBox struct {
	mu     sync.Mutex
	tokens []string
}

func (b *tokenBox) handler() Handler {
	return func(_ context.Context, p json.RawMessage) (json.RawMessage, error) {
		var in struct{ Token string }
		_ = json.Unmarshal(p, &in)
		b.mu.Lock()
		b.tokens = append(b.tokens, in.Token)
		b.mu.Unlock()
		return json.RawMessage(`{"sent":true}`), nil
	}
}

func (b *tokenBox) last(t *testing.T) string {
	t.Helper()
	var tok string
	waitFor(t, "the task token", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		if len(b.tokens) > 0 {
			tok = b.tokens[len(b.tokens)-1]
		}
		return tok != ""
	})
	return tok
}

func TestWaitForTaskToken(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	clock := asltest.NewClock(true)
	box := &tokenBox{}
	e := startExecutor(t, pool, Options{Clock: clock}, func(e *Executor) { e.RegisterFunction("notify", box.handler()) })
	sm := register(t, e, "tokens", tokenDef)
	ctx := context.Background()

	t.Run("success, heartbeat, then late answers", func(t *testing.T) {
		arn := start(t, e, sm, "ok", `{"id":1}`)
		tok := box.last(t)
		if x, _ := e.DescribeExecution(ctx, arn); x.Status != "RUNNING" {
			t.Fatalf("not parked: %s", x.Status)
		}
		if err := e.SendTaskHeartbeat(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if err := e.SendTaskSuccess(ctx, tok, `{"approved":true}`); err != nil {
			t.Fatal(err)
		}
		x := waitDone(t, e, arn)
		if x.Status != "SUCCEEDED" || deref(x.Output) != `{"answer":{"approved":true},"id":1}` {
			t.Fatalf("%s %s", x.Status, deref(x.Output))
		}
		if err := e.SendTaskSuccess(ctx, tok, `{}`); !IsCode(err, CodeTaskTimedOut) {
			t.Fatalf("answer to a closed task: %v", err)
		}
	})
	t.Run("failure is caught", func(t *testing.T) {
		box.tokens = nil
		arn := start(t, e, sm, "rejected", `{}`)
		if err := e.SendTaskFailure(ctx, box.last(t), "Rejected", "nope"); err != nil {
			t.Fatal(err)
		}
		x := waitDone(t, e, arn)
		if deref(x.Output) != `{"err":{"Cause":"nope","Error":"Rejected"}}` {
			t.Fatalf("%s %s", x.Status, deref(x.Output))
		}
	})
	t.Run("heartbeat timeout", func(t *testing.T) {
		box.mu.Lock()
		box.tokens = nil
		box.mu.Unlock()
		arn := start(t, e, sm, "silent", `{}`)
		box.last(t)
		waitFor(t, "the heartbeat timer", func() bool { return clock.Pending() > 0 })
		clock.Advance(61 * time.Second)
		x := waitDone(t, e, arn)
		if x.Status != "SUCCEEDED" || !json.Valid([]byte(deref(x.Output))) ||
			!strings.Contains(deref(x.Output), `"Error":"`+asl.ErrHeartbeatTimeout+`"`) {
			t.Fatalf("%s %s", x.Status, deref(x.Output))
		}
	})
	t.Run("token errors", func(t *testing.T) {
		if err := e.SendTaskSuccess(ctx, "", `{}`); !IsCode(err, CodeInvalidToken) {
			t.Errorf("empty token: %v", err)
		}
		if err := e.SendTaskSuccess(ctx, "not-a-token", `{}`); !IsCode(err, CodeInvalidToken) {
			t.Errorf("bad token: %v", err)
		}
		unknown := "0000000000000000000000000000000000000000000000000000000000000000"
		if err := e.SendTaskSuccess(ctx, unknown, `{}`); !IsCode(err, CodeTaskDoesNotExist) {
			t.Errorf("unknown token: %v", err)
		}
		if err := e.SendTaskSuccess(ctx, unknown, `{bad`); !IsCode(err, CodeInvalidOutput) {
			t.Errorf("bad output: %v", err)
		}
	})
}

// A task token answered while no executor runs is picked up on resume
// without calling the integration again.
func TestTokenAnsweredWhileStopped(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	box := &tokenBox{}
	e1 := New(pool, Options{TokenPollInterval: 20 * time.Millisecond})
	e1.RegisterFunction("notify", box.handler())
	if err := e1.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	sm := register(t, e1, "tokens", tokenDef)
	arn := start(t, e1, sm, "parked", `{}`)
	tok := box.last(t)
	waitFor(t, "TaskScheduled persisted", func() bool {
		return count(historyTypes(t, e1, arn), "TaskScheduled") == 1
	})
	e1.Close()
	if err := e1.SendTaskSuccess(context.Background(), tok, `"yes"`); err != nil {
		t.Fatal(err)
	}
	e2 := startExecutor(t, pool, Options{}, func(e *Executor) { e.RegisterFunction("notify", box.handler()) })
	x := waitDone(t, e2, arn)
	if x.Status != "SUCCEEDED" || deref(x.Output) != `{"answer":"yes"}` {
		t.Fatalf("%s %s", x.Status, deref(x.Output))
	}
	box.mu.Lock()
	defer box.mu.Unlock()
	if len(box.tokens) != 1 {
		t.Errorf("integration called %d times, want 1", len(box.tokens))
	}
}
