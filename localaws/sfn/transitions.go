package sfn

import (
	"context"
	"maps"
	"sync"

	"golang.org/x/time/rate"

	"github.com/checkout-dev/checkout/localaws/asl"
)

// TransitionQuota is the account's state-transition token bucket (Step
// Functions Developer Guide, "Quotas related to state throttling": "Step
// Functions state transitions are throttled using a token bucket scheme
// to maintain service bandwidth"; service metric StateTransition): Burst
// transitions at once ("bucket size"), refilled at Rate per second. Every
// state entered and every retry attempt of a STANDARD execution takes a
// token. A transition that finds the bucket empty is not an error: it
// waits for a token (the execution is delayed, never failed) and counts
// in the ExecutionThrottled metric. A zero Burst or Rate throttles
// nothing.
type TransitionQuota struct {
	Burst int
	Rate  float64
}

// DefaultTransitionQuota is the quota of Standard workflows in US East
// (N. Virginia), US West (Oregon) and Europe (Ireland): a bucket of 5,000
// refilled at 5,000 per second ("Quotas related to state throttling"; the
// other regions have 800 and 800/s; an older revision of the guide listed
// 5,000/1,500 and 800/500, and new accounts start with reduced quotas that
// AWS raises with usage, so a real account may throttle earlier).
func DefaultTransitionQuota() TransitionQuota {
	return TransitionQuota{Burst: 5000, Rate: 5000}
}

// Unlimited reports whether q throttles nothing.
func (q TransitionQuota) Unlimited() bool { return q.Burst <= 0 || q.Rate <= 0 }

// transitionBucket is the executor's shared StateTransition bucket (the
// quota is per account and region, so every execution draws from one),
// and the ExecutionThrottled counts per state machine. It waits on the
// executor's clock, like Wait states and retries.
type transitionBucket struct {
	lim        *rate.Limiter // nil: unlimited
	clock      asl.Clock
	onThrottle func(stateMachineARN string)

	mu        sync.Mutex
	throttled map[string]int64 // ExecutionThrottled by state machine ARN
}

func newTransitionBucket(q TransitionQuota, clock asl.Clock, onThrottle func(string)) *transitionBucket {
	b := &transitionBucket{clock: clock, onThrottle: onThrottle, throttled: map[string]int64{}}
	if !q.Unlimited() {
		b.lim = rate.NewLimiter(rate.Limit(q.Rate), q.Burst)
	}
	return b
}

// take takes a token for one transition of an execution of state machine
// sm, waiting for one while the bucket is empty. It returns ctx's error
// (and gives the reserved token back) when ctx ends first: a stopped
// execution or a closing executor does not wait for the bucket.
func (b *transitionBucket) take(ctx context.Context, sm string) error {
	if b.lim == nil {
		return nil
	}
	now := b.clock.Now()
	if b.lim.AllowN(now, 1) { // the common case: no allocation, no wait
		return nil
	}
	r := b.lim.ReserveN(now, 1) // always OK: one token never exceeds the burst
	d := r.DelayFrom(now)
	if d <= 0 {
		return nil
	}
	b.mu.Lock()
	b.throttled[sm]++
	b.mu.Unlock()
	if b.onThrottle != nil {
		b.onThrottle(sm)
	}
	select {
	case <-b.clock.After(d):
		return nil
	case <-ctx.Done():
		r.CancelAt(b.clock.Now())
		return ctx.Err()
	}
}

// counts returns a copy of the ExecutionThrottled counts.
func (b *transitionBucket) counts() map[string]int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return maps.Clone(b.throttled)
}

// ExecutionThrottled returns, by state machine ARN, how many state
// transitions (StateEntered events and retries) of its executions had to
// wait for the StateTransition bucket since the executor was made: the
// sum of CloudWatch's ExecutionThrottled metric (namespace AWS/States,
// dimension StateMachineArn: "The number of StateEntered events and
// retries that have been throttled"). State machines never throttled are
// absent.
func (e *Executor) ExecutionThrottled() map[string]int64 {
	return e.transitions.counts()
}
