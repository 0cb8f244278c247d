package payment

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/checkout-dev/checkout/internal/apperr"
)

// ErrBreakerOpen is the cause (errors.Is) of the error a Breaker returns
// when it refuses a call without reaching the gateway.
var ErrBreakerOpen = errors.New("payment: circuit breaker open")

// BreakerState is a circuit breaker's state.
type BreakerState int

// Breaker states.
const (
	BreakerClosed   BreakerState = iota // calls pass; consecutive failures are counted
	BreakerOpen                         // calls fail fast until OpenFor has passed
	BreakerHalfOpen                     // one trial call is in flight; others fail fast
)

func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerOpen:
		return "open"
	case BreakerHalfOpen:
		return "half_open"
	}
	return "unknown"
}

// BreakerOptions configures a Breaker. The zero value is usable.
type BreakerOptions struct {
	// FailureThreshold is how many consecutive unhealthy results open the
	// breaker; default 5.
	FailureThreshold int
	// OpenFor is how long the breaker stays open before it lets one trial
	// call through; default 30 s.
	OpenFor time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// OnStateChange, when set, is called with true each time the breaker
	// opens (including when a failed trial re-opens it) and with false
	// each time it closes. It is called synchronously, in transition order,
	// while the breaker's lock is held: it must be quick and must not call
	// the breaker.
	OnStateChange func(open bool)
}

// Breaker is a circuit breaker around a Gateway (closed, open, half-open;
// see docs/design.md). It is itself a Gateway.
//
//   - Closed: calls pass through. FailureThreshold consecutive unhealthy
//     results open it.
//   - Open: every call fails fast, without reaching the gateway, with
//     apperr Unavailable, code payment_gateway_unavailable, message
//     "circuit breaker open" (errors.Is ErrBreakerOpen); the saga maps it
//     to PaymentGatewayUnavailable, which the state machine retries later.
//   - Half-open: once OpenFor has passed, the next call is let through as
//     the one trial; concurrent callers keep failing fast. A healthy trial
//     result closes the breaker, an unhealthy one re-opens it for OpenFor.
//
// Only results that say the gateway is unhealthy count as failures: apperr
// Transient, Unavailable and UnknownOutcome (5xx, 429, network errors,
// timeouts), except a 409 "request with the same idempotency key in
// flight" and a call the caller canceled. Any answer from the gateway —
// including a decline, an invalid request or a state error — is healthy
// and resets the count. Results of calls admitted before the breaker
// opened, or while another call was the trial, do not change the state.
//
// Every method is guarded, GetIntent included. Retrieval resolves unknown
// outcomes, but letting it through while the gateway is failing buys
// nothing: an unresolved charge stays recorded as processing, and the
// step's retries (with the same idempotency keys) or the compensation
// resolve it once the gateway recovers, so guarding it can delay a
// resolution but never causes a double charge or a lost one. Letting it
// through would cost every such call the HTTP timeout against a dead
// gateway (as long as the Lambda's whole budget) and add load to a gateway
// that is throttling us. A GetIntent may also be the half-open trial.
//
// Scope: a Breaker is per process. In AWS Lambda each warm container has
// its own, opened by the failures that container saw; containers do not
// share state (the usual Lambda pattern: no shared store on the hot path).
// The CircuitBreakerOpen metric's Maximum across containers shows whether
// any of them is open.
//
// A Breaker is safe for concurrent use.
type Breaker struct {
	gw        Gateway
	threshold int
	openFor   time.Duration
	now       func() time.Time
	onChange  func(open bool)

	mu       sync.Mutex
	state    BreakerState
	failures int       // consecutive unhealthy results while closed
	openedAt time.Time // when the breaker last opened
	gen      uint64    // bumped on every transition: stale results are ignored
}

// NewBreaker wraps gw in a circuit breaker.
func NewBreaker(gw Gateway, o BreakerOptions) *Breaker {
	if o.FailureThreshold <= 0 {
		o.FailureThreshold = 5
	}
	if o.OpenFor <= 0 {
		o.OpenFor = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Breaker{gw: gw, threshold: o.FailureThreshold, openFor: o.OpenFor, now: o.Now, onChange: o.OnStateChange}
}

// State returns the breaker's state. An open breaker whose OpenFor has
// passed reports open until a call makes it half-open.
func (b *Breaker) State() BreakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}

// ticket is one admitted call: the generation it was admitted in, and
// whether it is the half-open trial.
type ticket struct {
	gen   uint64
	trial bool
}

var errOpen = &apperr.Error{Kind: apperr.Unavailable, Code: CodeGatewayUnavailable, Message: "circuit breaker open", Err: ErrBreakerOpen}

func openError() error {
	e := *errOpen // a fresh copy: callers may edit the code (Service.refundOnce does)
	return &e
}

// admit decides whether a call may reach the gateway.
func (b *Breaker) admit() (ticket, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case BreakerClosed:
		return ticket{gen: b.gen}, nil
	case BreakerOpen:
		if b.now().Sub(b.openedAt) < b.openFor {
			return ticket{}, openError()
		}
		b.state = BreakerHalfOpen
		b.gen++
		return ticket{gen: b.gen, trial: true}, nil
	default: // half-open: the trial is in flight
		return ticket{}, openError()
	}
}

// done records the result of an admitted call.
func (b *Breaker) done(ctx context.Context, t ticket, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t.gen != b.gen {
		return // the state changed while the call was in flight
	}
	if callerGaveUp(ctx, err) {
		b.release(t)
		return
	}
	if !unhealthy(err) {
		b.failures = 0
		if t.trial {
			b.transition(BreakerClosed)
		}
		return
	}
	if t.trial {
		b.transition(BreakerOpen)
		return
	}
	b.failures++
	if b.failures >= b.threshold {
		b.transition(BreakerOpen)
	}
}

// release ends a call that gave no verdict on the gateway's health: a
// trial's slot is freed so that the next caller becomes the trial. b.mu is
// held.
func (b *Breaker) release(t ticket) {
	if t.trial && t.gen == b.gen {
		b.state = BreakerOpen
		b.openedAt = b.now().Add(-b.openFor)
		b.gen++
	}
}

// transition moves to open or closed and notifies; b.mu is held.
func (b *Breaker) transition(to BreakerState) {
	b.state = to
	b.gen++
	b.failures = 0
	if to == BreakerOpen {
		b.openedAt = b.now()
	}
	if b.onChange != nil {
		b.onChange(to == BreakerOpen)
	}
}

// unhealthy reports results that mean the gateway is failing.
func unhealthy(err error) bool {
	switch apperr.KindOf(err) {
	case apperr.Transient, apperr.Unavailable, apperr.UnknownOutcome:
	default:
		return false
	}
	if se := stripeErr(err); se != nil && se.HTTPStatusCode == http.StatusConflict {
		return false // our own concurrent request with the same key: the gateway is fine
	}
	return true
}

// callerGaveUp reports a failure caused by the caller canceling ctx (not a
// deadline: a gateway too slow for the deadline is unhealthy).
func callerGaveUp(ctx context.Context, err error) bool {
	return err != nil && errors.Is(ctx.Err(), context.Canceled)
}

// guard runs one gateway call through the breaker.
func guard[T any](ctx context.Context, b *Breaker, call func() (T, error)) (T, error) {
	t, err := b.admit()
	if err != nil {
		var zero T
		return zero, err
	}
	finished := false
	defer func() {
		if !finished { // call panicked: no verdict, but never leave the trial slot taken
			b.mu.Lock()
			b.release(t)
			b.mu.Unlock()
		}
	}()
	v, err := call()
	finished = true
	b.done(ctx, t, err)
	return v, err
}

// CreateIntent implements Gateway.
func (b *Breaker) CreateIntent(ctx context.Context, in NewIntent, key string) (Intent, error) {
	return guard(ctx, b, func() (Intent, error) { return b.gw.CreateIntent(ctx, in, key) })
}

// ConfirmIntent implements Gateway.
func (b *Breaker) ConfirmIntent(ctx context.Context, intentID, paymentMethod, key string) (Intent, error) {
	return guard(ctx, b, func() (Intent, error) { return b.gw.ConfirmIntent(ctx, intentID, paymentMethod, key) })
}

// GetIntent implements Gateway; it is guarded like every other call (see
// Breaker).
func (b *Breaker) GetIntent(ctx context.Context, intentID string) (Intent, error) {
	return guard(ctx, b, func() (Intent, error) { return b.gw.GetIntent(ctx, intentID) })
}

// CancelIntent implements Gateway.
func (b *Breaker) CancelIntent(ctx context.Context, intentID, key string) (Intent, error) {
	return guard(ctx, b, func() (Intent, error) { return b.gw.CancelIntent(ctx, intentID, key) })
}

// Refund implements Gateway.
func (b *Breaker) Refund(ctx context.Context, intentID string, amount int64, key string) (Refund, error) {
	return guard(ctx, b, func() (Refund, error) { return b.gw.Refund(ctx, intentID, amount, key) })
}

// CaptureIntent implements Gateway.
func (b *Breaker) CaptureIntent(ctx context.Context, intentID, key string) (Intent, error) {
	return guard(ctx, b, func() (Intent, error) { return b.gw.CaptureIntent(ctx, intentID, key) })
}

// ListRefunds implements Gateway.
func (b *Breaker) ListRefunds(ctx context.Context, intentID string) ([]Refund, error) {
	return guard(ctx, b, func() ([]Refund, error) { return b.gw.ListRefunds(ctx, intentID) })
}

var _ Gateway = (*Breaker)(nil)
