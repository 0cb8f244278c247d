package sfn

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// fakeClock: in auto mode After(d) advances time by d at once and records
// d (tests never sleep); in manual mode timers fire on Advance.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	manual bool
	waits  []time.Duration
	timers []fakeTimer
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock(manual bool) *fakeClock {
	return &fakeClock{now: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC), manual: manual}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if c.manual {
		c.timers = append(c.timers, fakeTimer{c.now.Add(d), ch})
		return ch
	}
	c.waits = append(c.waits, d)
	c.now = c.now.Add(d)
	ch <- c.now
	return ch
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if !t.at.After(c.now) {
			t.ch <- c.now
		} else {
			kept = append(kept, t)
		}
	}
	c.timers = kept
}

func (c *fakeClock) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

func (c *fakeClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

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
