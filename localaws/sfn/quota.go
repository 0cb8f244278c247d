package sfn

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// APIQuota is a token bucket on one API action, the shape of Step
// Functions' API throttling quotas: Burst calls at once ("bucket size"),
// refilled at Rate calls per second. A call past it is answered
// ThrottlingException (HTTP 400), which the AWS SDKs retry with backoff.
type APIQuota struct {
	Burst int
	Rate  float64
}

// DefaultAPIQuotas are the account's default quotas for the actions that
// a flash sale drives, with the values of the largest regions (US East
// (N. Virginia), US West (Oregon), Europe (Ireland)): StartExecution, a
// bucket of 1,300 refilled at 300 per second (Step Functions Developer
// Guide, "Quotas related to API action throttling"). Other actions are
// not throttled here.
func DefaultAPIQuotas() map[string]APIQuota {
	return map[string]APIQuota{"StartExecution": {Burst: 1300, Rate: 300}}
}

// quotas holds one token bucket per throttled action, shared by every
// caller (the quotas are per account and region, not per client).
type quotas struct {
	mu      sync.Mutex
	buckets map[string]*rate.Limiter
	now     func() time.Time
}

func newQuotas(q map[string]APIQuota, now func() time.Time) *quotas {
	qs := &quotas{buckets: map[string]*rate.Limiter{}, now: now}
	for action, v := range q {
		if v.Rate > 0 && v.Burst > 0 {
			qs.buckets[action] = rate.NewLimiter(rate.Limit(v.Rate), v.Burst)
		}
	}
	return qs
}

// allow takes a token for action, or reports the call throttled.
func (q *quotas) allow(action string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	b := q.buckets[action]
	return b == nil || b.AllowN(q.now(), 1)
}
