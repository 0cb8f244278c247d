package stack_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/internal/local/stack"
	"github.com/checkout-dev/checkout/localaws/sfn"
)

// TestThrottledStartsAreQueuedNotFailed: with Step Functions throttling
// StartExecution (a bucket of 3 refilled at 5 per second, standing in for
// the account's 1,300 and 300/s), a burst of buyers gets no error: every
// checkout is accepted (202, pending), the starts the quota refuses go
// through the start queue, and every checkout ends final with exactly the
// stock sold.
func TestThrottledStartsAreQueuedNotFailed(t *testing.T) {
	t.Parallel()
	e := startE2EWith(t, roomy, func(o *stack.Options) {
		o.SFNQuotas = map[string]sfn.APIQuota{"StartExecution": {Burst: 3, Rate: 5}}
	})
	const buyers, stock = 40, 30
	e.product("E2E-LEVEL", 2500, stock)
	type result struct {
		post, final reply
		tok         string
	}
	results := make([]result, buyers)
	var wg sync.WaitGroup
	begin := time.Now()
	for i := range buyers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok := e.token(fmt.Sprintf("leveled-%d", i), false)
			results[i] = result{post: e.post(tok, uuid.NewString(), cart("E2E-LEVEL", 1, "pm_card_visa")), tok: tok}
		}()
	}
	wg.Wait()
	deferred := 0
	for i, r := range results {
		if r.post.status != 202 && r.post.status != 200 {
			t.Fatalf("buyer %d: %d %s; want the checkout accepted (no error for a throttled start)", i, r.post.status, r.post.raw)
		}
		var n int
		if err := e.stack.Core().Pool.QueryRow(t.Context(), `SELECT count(*) FROM checkouts WHERE id = $1 AND execution_id IS NULL AND status = 'pending'`,
			r.post.str("checkout_id")).Scan(&n); err != nil {
			t.Fatal(err)
		}
		deferred += n
	}
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i].final = e.wait(results[i].tok, results[i].post.str("checkout_id"))
		}()
	}
	wg.Wait()
	counts := map[string]int{}
	for _, r := range results {
		counts[r.final.str("status")+"/"+r.final.failure()]++
	}
	t.Logf("%d buyers, %d units, StartExecution 3 burst 5/s: %d starts were queued; outcomes %v; last final after %s",
		buyers, stock, deferred, counts, time.Since(begin).Round(time.Millisecond))
	if deferred == 0 {
		t.Fatal("no start was throttled and queued: the test did not exercise the start queue")
	}
	if counts["completed/"] != stock || counts["failed/out_of_stock"] != buyers-stock {
		t.Fatalf("outcomes %v; want %d completed and %d out_of_stock", counts, stock, buyers-stock)
	}
	if n := e.rows("orders"); n != stock {
		t.Fatalf("%d orders; want %d", n, stock)
	}
}

// TestThrottledTransitionsDelayNotFail: with the StateTransition bucket
// far below AWS's (a burst of 5 refilled at 20 per second, standing in for
// 5,000 and 5,000/s), the saga's executions are delayed, not failed:
// every checkout ends final with exactly the stock sold, and the delayed
// transitions show as ExecutionThrottled on the stack and the dashboard.
func TestThrottledTransitionsDelayNotFail(t *testing.T) {
	t.Parallel()
	e := startE2EWith(t, roomy, func(o *stack.Options) {
		o.SFNTransitionQuota = &sfn.TransitionQuota{Burst: 5, Rate: 20}
	})
	const buyers, stock = 6, 4
	e.product("E2E-TRANSITIONS", 2500, stock)
	finals := make([]reply, buyers)
	var wg sync.WaitGroup
	for i := range buyers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok := e.token(fmt.Sprintf("transitions-%d", i), false)
			post := e.post(tok, uuid.NewString(), cart("E2E-TRANSITIONS", 1, "pm_card_visa"))
			if post.status != 202 && post.status != 200 {
				t.Errorf("buyer %d: %d %s; want the checkout accepted", i, post.status, post.raw)
				return
			}
			finals[i] = e.wait(tok, post.str("checkout_id"))
		}()
	}
	wg.Wait()
	counts := map[string]int{}
	for _, f := range finals {
		counts[f.str("status")+"/"+f.failure()]++
	}
	if counts["completed/"] != stock || counts["failed/out_of_stock"] != buyers-stock {
		t.Fatalf("outcomes %v; want %d completed and %d out_of_stock", counts, stock, buyers-stock)
	}
	// A checkout is final before its execution's last states (Completed,
	// CheckoutFailed) are entered: wait for the executions to end, so
	// that the counts below no longer move.
	for deadline := time.Now().Add(30 * time.Second); e.count(`SELECT count(*) FROM localaws.sfn_executions WHERE status = 'RUNNING'`) > 0; {
		if time.Now().After(deadline) {
			t.Fatal("executions still running 30 s after every checkout was final")
		}
		time.Sleep(20 * time.Millisecond)
	}
	throttled := e.stack.ExecutionThrottled()[e.stack.StateMachineARN]
	if throttled == 0 {
		t.Fatalf("ExecutionThrottled %v; want the saga's transitions past the bucket counted", e.stack.ExecutionThrottled())
	}
	resp, err := http.Get(e.stack.DashboardURL + "api/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m struct {
		ExecutionThrottled float64 `json:"execution_throttled"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	if m.ExecutionThrottled != float64(throttled) {
		t.Errorf("the dashboard's ExecutionThrottled %v; the executor counted %d", m.ExecutionThrottled, throttled)
	}
	t.Logf("%d buyers, StateTransition bucket 5 burst 20/s: %d transitions throttled; outcomes %v", buyers, throttled, counts)
}
