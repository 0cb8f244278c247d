package api

import (
	"context"
	"sync"
	"testing"

	"github.com/checkout-dev/checkout/localaws/pgtest"

	"github.com/checkout-dev/checkout/internal/metrics"
)

// recorded keeps what the handler publishes (metrics.Recorder is our own
// port; CloudWatch is the edge).
type recorded struct {
	mu      sync.Mutex
	entries []metrics.Entry
}

func (r *recorded) Record(_ context.Context, e metrics.Entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries = append(r.entries, e)
}

func (r *recorded) count(name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.entries {
		for _, m := range e.Metrics {
			if m.Name == name {
				n++
			}
		}
	}
	return n
}

// TestAPIPublishesLatencyAndServerErrors: every answer publishes its
// latency but a long poll's; a 5xx publishes a server error too.
func TestAPIPublishesLatencyAndServerErrors(t *testing.T) {
	t.Parallel()
	rec := &recorded{}
	pool := pgtest.NewPool(t)
	pool.Close() // the health check's ping fails: a 5xx
	h := New(Deps{Metrics: rec, Pool: pool})
	do(t, h, newReq("GET", "/v1/nope"))                                               // 404: latency only
	do(t, h, newReq("GET", "/v1/orders/x", asUser("ann")))                            // 400
	do(t, h, newReq("GET", "/v1/checkouts/x", asUser("ann"), withQuery("wait", "5"))) // a long poll: no latency
	if resp := do(t, h, newReq("GET", "/v1/health")); resp.StatusCode < 500 {
		t.Fatalf("health without a database: %d; want a 5xx for this test", resp.StatusCode)
	}
	if n := rec.count(metrics.ApiLatency); n != 3 {
		t.Errorf("%d ApiLatency points; want 3 (the long poll excluded)", n)
	}
	if n := rec.count(metrics.ApiServerErrors); n != 1 {
		t.Errorf("%d ApiServerErrors points; want 1", n)
	}
}
