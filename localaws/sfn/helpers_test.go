package sfn

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/localaws"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m, localaws.Migrate) }

// startExecutor creates and starts an Executor closed at test end.
func startExecutor(t *testing.T, pool *pgxpool.Pool, opts Options, setup func(*Executor)) *Executor {
	t.Helper()
	if opts.TokenPollInterval == 0 {
		opts.TokenPollInterval = 50 * time.Millisecond
	}
	e := New(pool, opts)
	if setup != nil {
		setup(e)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

func register(t *testing.T, e *Executor, name, def string) string {
	t.Helper()
	arn, err := e.RegisterStateMachine(context.Background(), name, []byte(def))
	if err != nil {
		t.Fatal(err)
	}
	return arn
}

func start(t *testing.T, e *Executor, smArn, name, input string) string {
	t.Helper()
	out, err := e.StartExecution(context.Background(), StartExecutionInput{StateMachineArn: smArn, Name: name, Input: &input})
	if err != nil {
		t.Fatal(err)
	}
	return out.ExecutionArn
}

// waitFor polls cond (real time, short sleeps) for up to 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitDone(t *testing.T, e *Executor, arn string) *Execution {
	t.Helper()
	var x *Execution
	waitFor(t, "execution "+arn+" to end", func() bool {
		var err error
		x, err = e.DescribeExecution(context.Background(), arn)
		if err != nil {
			t.Fatal(err)
		}
		return x.Status != "RUNNING"
	})
	return x
}

func historyTypes(t *testing.T, e *Executor, arn string) []string {
	t.Helper()
	evs, _, err := e.GetExecutionHistory(context.Background(), arn, 1000, false, "")
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Type
		if ev.ID != int64(i+1) || ev.PreviousEventID != int64(i) {
			t.Errorf("event %d has id %d previous %d", i, ev.ID, ev.PreviousEventID)
		}
	}
	return out
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

func jsonHandler(f func(in map[string]any) (any, error)) Handler {
	return func(_ context.Context, payload json.RawMessage) (json.RawMessage, error) {
		var in map[string]any
		if err := json.Unmarshal(payload, &in); err != nil {
			return nil, err
		}
		out, err := f(in)
		if err != nil {
			return nil, err
		}
		return json.Marshal(out)
	}
}
