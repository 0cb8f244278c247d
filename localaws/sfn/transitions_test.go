package sfn

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/checkout-dev/checkout/localaws/asl/asltest"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

// chainDef is a machine of n states: n-1 Pass states, then a Task calling
// the function "echo": n StateEntered events, n transitions.
func chainDef(n int) string {
	states := map[string]any{}
	for i := range n - 1 {
		states[fmt.Sprintf("S%d", i)] = map[string]any{"Type": "Pass", "Next": fmt.Sprintf("S%d", i+1)}
	}
	states[fmt.Sprintf("S%d", n-1)] = map[string]any{"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:echo", "End": true}
	b, _ := json.Marshal(map[string]any{"StartAt": "S0", "States": states})
	return string(b)
}

func echo(_ context.Context, p json.RawMessage) (json.RawMessage, error) { return p, nil }

// TestTransitionQuotaDelays: the StateTransition bucket ("Quotas related to
// state throttling") delays a STANDARD execution that outruns it and never
// fails it; it takes at least the time the bucket implies, and every
// transition that waited counts in ExecutionThrottled (and is reported to
// OnThrottle). Unlimited, and with AWS's default bucket, a short execution
// is never throttled.
func TestTransitionQuotaDelays(t *testing.T) {
	t.Parallel()
	if q := DefaultTransitionQuota(); q.Burst != 5000 || q.Rate != 5000 {
		t.Fatalf("default transition quota %+v; want AWS's 5000 burst, 5000/s", q)
	}
	const n = 15
	tests := []struct {
		name  string
		quota *TransitionQuota
		// the least the execution can take: the transitions past the
		// burst come at the refill rate
		minRun time.Duration
	}{
		{name: "burst 5 refilled at 10/s", quota: &TransitionQuota{Burst: 5, Rate: 10}, minRun: time.Duration(float64(n-5) / 10 * float64(time.Second))},
		{name: "unlimited", quota: &TransitionQuota{}},
		{name: "AWS's default", quota: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var reported atomic.Int64
			e := startExecutor(t, pgtest.NewPool(t), Options{TransitionQuota: tt.quota, OnThrottle: func(string) { reported.Add(1) }},
				func(e *Executor) { e.RegisterFunction("echo", echo) })
			sm := register(t, e, "chain", chainDef(n))
			arn := start(t, e, sm, "x", `{"k":1}`)
			x := waitDone(t, e, arn)
			if x.Status != "SUCCEEDED" {
				t.Fatalf("status %s (%v %v); want SUCCEEDED: a throttled transition waits, it does not fail", x.Status, x.Error, x.Cause)
			}
			if got := count(historyTypes(t, e, arn), "PassStateEntered"); got != n-1 {
				t.Fatalf("%d Pass states entered; want %d", got, n-1)
			}
			took := x.StopDate.Sub(x.StartDate.Time)
			throttled := e.ExecutionThrottled()[sm]
			t.Logf("%d transitions took %s, %d throttled", n, took, throttled)
			if tt.minRun == 0 {
				if throttled != 0 || len(e.ExecutionThrottled()) != 0 {
					t.Fatalf("ExecutionThrottled %v; want none", e.ExecutionThrottled())
				}
				return
			}
			// Generous slack below the bound only (timestamps are cut to
			// the millisecond); the machine is shared, so no upper bound.
			if took < tt.minRun-20*time.Millisecond {
				t.Errorf("the execution took %s; the bucket allows it no less than %s", took, tt.minRun)
			}
			if throttled <= 0 || throttled > n-int64(tt.quota.Burst) {
				t.Errorf("ExecutionThrottled %d; want 1..%d (the transitions past the burst)", throttled, n-tt.quota.Burst)
			}
			if reported.Load() != throttled {
				t.Errorf("OnThrottle called %d times; ExecutionThrottled is %d", reported.Load(), throttled)
			}
		})
	}
}

// TestTransitionQuotaChargesRetries: a retry attempt is a transition
// (ExecutionThrottled counts "StateEntered events and retries"). With a
// bucket of one token that barely refills, on the executor's fake clock
// (so the waits cost no real time), the task's state entered takes the
// token and every retry attempt after it is throttled.
func TestTransitionQuotaChargesRetries(t *testing.T) {
	t.Parallel()
	def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:flaky","End":true,
		"Retry":[{"ErrorEquals":["TransientError"],"IntervalSeconds":1,"BackoffRate":1,"MaxAttempts":5}]}}}`
	for _, failures := range []int{0, 1, 3} {
		t.Run(fmt.Sprintf("%d retries", failures), func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			e := startExecutor(t, pgtest.NewPool(t), Options{Clock: asltest.NewClock(false), TransitionQuota: &TransitionQuota{Burst: 1, Rate: 0.001}},
				func(e *Executor) {
					e.RegisterFunction("flaky", func(_ context.Context, p json.RawMessage) (json.RawMessage, error) {
						if int(calls.Add(1)) <= failures {
							return nil, &TransientError{"busy"}
						}
						return p, nil
					})
				})
			sm := register(t, e, "retried", def)
			x := waitDone(t, e, start(t, e, sm, "x", `{}`))
			if x.Status != "SUCCEEDED" || int(calls.Load()) != failures+1 {
				t.Fatalf("status %s after %d calls; want SUCCEEDED after %d", x.Status, calls.Load(), failures+1)
			}
			if got := e.ExecutionThrottled()[sm]; got != int64(failures) {
				t.Errorf("ExecutionThrottled %d; want %d (each retry attempt takes a token)", got, failures)
			}
		})
	}
}

// TestTransitionWaitEndsWithExecution: an execution waiting for a token
// does not outlive its end: StopExecution leaves it ABORTED and its
// goroutine returns at once, and Close returns at once (the execution
// stays RUNNING, to resume on the next Start), though the bucket would
// make them wait 100 s.
func TestTransitionWaitEndsWithExecution(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		end        func(t *testing.T, e *Executor, arn string)
		wantStatus string
	}{
		{name: "StopExecution", wantStatus: "ABORTED", end: func(t *testing.T, e *Executor, arn string) {
			if _, err := e.StopExecution(context.Background(), arn, "Stop", "by the test"); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "Close", wantStatus: "RUNNING", end: func(_ *testing.T, e *Executor, _ string) { e.Close() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := startExecutor(t, pgtest.NewPool(t), Options{TransitionQuota: &TransitionQuota{Burst: 1, Rate: 0.01}}, nil)
			sm := register(t, e, "slow", `{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"},"B":{"Type":"Pass","End":true}}}`)
			arn := start(t, e, sm, "x", `{}`)
			waitFor(t, "the second transition to wait for a token", func() bool { return e.ExecutionThrottled()[sm] == 1 })
			began := time.Now()
			tt.end(t, e, arn)
			waitFor(t, "the execution's goroutine to return", func() bool {
				e.mu.Lock()
				defer e.mu.Unlock()
				_, running := e.running[arn]
				return !running
			})
			if took := time.Since(began); took > 5*time.Second {
				t.Errorf("the execution's goroutine returned %s after its end; want at once, not after the bucket's 100 s", took)
			}
			x, err := e.DescribeExecution(context.Background(), arn)
			if err != nil {
				t.Fatal(err)
			}
			if x.Status != tt.wantStatus {
				t.Errorf("status %s; want %s", x.Status, tt.wantStatus)
			}
		})
	}
}

// TestExpressNotThrottled: Express workflows are not subject to the
// Standard StateTransition bucket (their quotas are others): a synchronous
// Express execution runs past an empty bucket unthrottled and takes no
// token, while a STANDARD execution of the same definition is throttled
// (on a fake clock, so its waits cost no real time).
func TestExpressNotThrottled(t *testing.T) {
	t.Parallel()
	e := startExecutor(t, pgtest.NewPool(t), Options{Clock: asltest.NewClock(false), TransitionQuota: &TransitionQuota{Burst: 1, Rate: 0.001}},
		func(e *Executor) { e.RegisterFunction("echo", echo) })
	srv := httptest.NewServer(e.Handler())
	t.Cleanup(srv.Close)
	c := sdkClient(srv.URL)
	ctx := context.Background()
	const n = 5
	def := chainDef(n)
	for range 3 {
		expr, err := c.CreateStateMachine(ctx, &sdk.CreateStateMachineInput{Name: aws.String("fast"), Definition: aws.String(def),
			RoleArn: aws.String("arn:aws:iam::123456789012:role/r"), Type: types.StateMachineTypeExpress})
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.StartSyncExecution(ctx, &sdk.StartSyncExecutionInput{StateMachineArn: expr.StateMachineArn, Input: aws.String(`{}`)}, noHostPrefix)
		if err != nil || out.Status != types.SyncExecutionStatusSucceeded {
			t.Fatalf("StartSyncExecution: %v %+v", err, out)
		}
	}
	if got := e.ExecutionThrottled(); len(got) != 0 {
		t.Fatalf("ExecutionThrottled %v after Express executions; want none", got)
	}
	sm := register(t, e, "standard", def)
	if x := waitDone(t, e, start(t, e, sm, "x", `{}`)); x.Status != "SUCCEEDED" {
		t.Fatalf("standard execution %s", x.Status)
	}
	// The bucket's one token is still there for the first transition:
	// the Express executions took none.
	if got := e.ExecutionThrottled()[sm]; got != n-1 {
		t.Errorf("ExecutionThrottled %d for the STANDARD execution; want %d", got, n-1)
	}
}
