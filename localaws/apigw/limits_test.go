package apigw

import (
	"testing"
	"time"

	"github.com/checkout-dev/checkout/localaws/sam"
)

// TestMethodBucketsAreSeparate: with per-method throttles and no plan-wide
// one, emptying one method's bucket leaves the others' full; a plan-wide
// throttle, when set, is shared by every method of the key.
func TestMethodBucketsAreSeparate(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	plan := &sam.UsagePlan{MethodThrottles: map[string]sam.Throttle{
		"GET /v1/products/{sku}": {BurstLimit: 3, RateLimit: 1},
		"POST /v1/checkouts":     {BurstLimit: 2, RateLimit: 1},
	}}
	l := newLimiter(plan, nil, clock)
	for i := range 3 {
		if _, over, _, _ := l.usagePlan("key", "GET", "/v1/products/{sku}"); over {
			t.Fatalf("catalog read %d throttled within the burst", i)
		}
	}
	if _, over, why, _ := l.usagePlan("key", "GET", "/v1/products/{sku}"); !over || why == "" {
		t.Fatal("the 4th catalog read passed a burst of 3")
	}
	if _, over, _, _ := l.usagePlan("key", "POST", "/v1/checkouts"); over {
		t.Fatal("a checkout was throttled by the catalog's bucket")
	}
	if _, over, _, _ := l.usagePlan("other-key", "GET", "/v1/products/{sku}"); over {
		t.Fatal("another key was throttled by this key's bucket")
	}

	shared := newLimiter(&sam.UsagePlan{RateLimit: 1, BurstLimit: 2, MethodThrottles: plan.MethodThrottles}, nil, clock)
	shared.usagePlan("key", "GET", "/v1/products/{sku}")
	shared.usagePlan("key", "GET", "/v1/products/{sku}")
	if _, over, _, _ := shared.usagePlan("key", "POST", "/v1/checkouts"); !over {
		t.Fatal("a plan-wide bucket emptied by catalog reads let a checkout through")
	}
}
