package payment

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

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
	BreakerOpen                         // calls fail fast until the cooldown has passed
	BreakerHalfOpen                     // one caller holds the probe lease; others fail fast
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

func parseBreakerState(s string) BreakerState {
	switch s {
	case "open":
		return BreakerOpen
	case "half_open":
		return BreakerHalfOpen
	}
	return BreakerClosed
}

// Breaker defaults.
const (
	// DefaultBreakerThreshold is how many consecutive unhealthy results
	// open the breaker.
	DefaultBreakerThreshold = 5
	// DefaultBreakerCooldown is how long the breaker stays open before one
	// caller may probe the gateway. The state machine's retries on
	// PaymentGatewayUnavailable must outlast it (statemachine_test.go
	// checks).
	DefaultBreakerCooldown = 30 * time.Second
	// DefaultBreakerProbeLease is how long a probe holds the half-open
	// lease before another caller may take it over (a prober that died).
	// It is the Lambda timeout of the payment functions.
	DefaultBreakerProbeLease = 30 * time.Second
	// DefaultBreakerName names the row of the Stripe gateway's breaker.
	DefaultBreakerName = "stripe"
)

// BreakerOptions configures a Breaker. The zero value is usable.
type BreakerOptions struct {
	// Name is the breaker's row in payment_breakers; default "stripe".
	// Every Breaker with the same name on the same database shares one
	// state.
	Name string
	// FailureThreshold is how many consecutive unhealthy results open the
	// breaker; default DefaultBreakerThreshold.
	FailureThreshold int
	// OpenFor is the cooldown: how long the breaker stays open before one
	// caller may probe; default DefaultBreakerCooldown.
	OpenFor time.Duration
	// ProbeLease bounds how long the half-open probe is exclusive; default
	// DefaultBreakerProbeLease.
	ProbeLease time.Duration
	// Holder identifies this instance as a probe holder; default host name,
	// process id and a random suffix.
	Holder string
	// Now is the clock; default time.Now. Every instance sharing a row
	// compares its clock with the times stored by the others.
	Now func() time.Time
	// OnStateChange, when set, is called with true each time this instance
	// opens the breaker (including when its failed probe re-opens it) and
	// with false each time it closes it, after the transition committed. A
	// transition is made, and reported, by exactly one instance.
	OnStateChange func(open bool)
}

// Breaker is a circuit breaker around a Gateway (closed, open, half-open;
// see docs/money.md) whose state is a row of payment_breakers in
// PostgreSQL, so that every process on the database — each Lambda
// container, the local runtime — shares one breaker. It is itself a
// Gateway.
//
//   - Closed: calls pass through. FailureThreshold consecutive unhealthy
//     results, counted across all instances, open it.
//   - Open: every call fails fast, without reaching the gateway, with
//     apperr Unavailable, code payment_gateway_unavailable, message
//     "circuit breaker open" (errors.Is ErrBreakerOpen); the saga maps it
//     to PaymentGatewayUnavailable, which the state machine retries for
//     longer than the cooldown.
//   - Half-open: once OpenFor has passed, exactly one caller, in any
//     process, takes the probe lease (one conditional UPDATE); the others
//     keep failing fast. A healthy probe result closes the breaker, an
//     unhealthy one re-opens it for OpenFor. A lease not settled within
//     ProbeLease (the prober died) may be taken by the next caller.
//
// Every transition is one SQL statement that also appends the
// transition to payment_breaker_events, so each opening is recorded once.
// A generation number, bumped on each transition, makes results of calls
// admitted before it (or of a probe whose lease was taken over) change
// nothing.
//
// Only results that say the gateway is unhealthy count as failures: apperr
// Transient, Unavailable and UnknownOutcome (5xx, 429, network errors,
// timeouts), except a 409 "request with the same idempotency key in
// flight" and a call the caller canceled. Any answer from the gateway —
// including a decline, an invalid request or a state error — is healthy
// and resets the count.
//
// Every method is guarded, GetIntent included: letting retrievals through
// while the gateway fails would cost each the HTTP timeout and add load to
// a gateway that is throttling us; an unresolved charge stays processing
// and the step's retries (same idempotency keys) or the reconciliation
// resolve it once the gateway recovers. A GetIntent may be the probe.
//
// Cost: one primary-key SELECT per call, plus an UPDATE after an
// unhealthy result, after a healthy one that resets a non-zero count, and
// on transitions. If the breaker's own row cannot be read the call fails
// with apperr Transient without reaching the gateway.
//
// A Breaker is safe for concurrent use.
type Breaker struct {
	gw        Gateway
	pool      *pgxpool.Pool
	name      string
	holder    string
	threshold int
	openFor   time.Duration
	lease     time.Duration
	now       func() time.Time
	onChange  func(open bool)
}

// NewBreaker wraps gw in the circuit breaker stored in pool's
// payment_breakers row o.Name (created closed on first use).
func NewBreaker(gw Gateway, pool *pgxpool.Pool, o BreakerOptions) *Breaker {
	if o.Name == "" {
		o.Name = DefaultBreakerName
	}
	if o.FailureThreshold <= 0 {
		o.FailureThreshold = DefaultBreakerThreshold
	}
	if o.OpenFor <= 0 {
		o.OpenFor = DefaultBreakerCooldown
	}
	if o.ProbeLease <= 0 {
		o.ProbeLease = DefaultBreakerProbeLease
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	clock := o.Now
	o.Now = func() time.Time { return clock().Truncate(time.Microsecond) } // PostgreSQL's resolution
	if o.Holder == "" {
		host, _ := os.Hostname()
		var r [4]byte
		_, _ = rand.Read(r[:])
		o.Holder = fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(r[:]))
	}
	return &Breaker{gw: gw, pool: pool, name: o.Name, holder: o.Holder, threshold: o.FailureThreshold,
		openFor: o.OpenFor, lease: o.ProbeLease, now: o.Now, onChange: o.OnStateChange}
}

// BreakerStatus is a snapshot of a breaker's row.
type BreakerStatus struct {
	Name                string
	State               BreakerState
	ConsecutiveFailures int
	OpenedAt            time.Time // zero if never opened
	ProbeHolder         string    // half-open only
	ProbeExpiresAt      time.Time // half-open only
	UpdatedAt           time.Time
}

// Status reads the breaker's state. An open breaker whose cooldown has
// passed reports open until a caller takes the probe lease.
func (b *Breaker) Status(ctx context.Context) (BreakerStatus, error) {
	st := BreakerStatus{Name: b.name}
	var state string
	var openedAt, expires, updated *time.Time
	var holder *string
	err := b.pool.QueryRow(ctx, `
		SELECT state, consecutive_failures, opened_at, probe_holder, probe_expires_at, updated_at
		FROM payment_breakers WHERE name = $1`, b.name).Scan(&state, &st.ConsecutiveFailures, &openedAt, &holder, &expires, &updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return st, nil
	}
	if err != nil {
		return st, apperr.Wrap(apperr.Transient, "", err, "read payment breaker")
	}
	st.State = parseBreakerState(state)
	if openedAt != nil {
		st.OpenedAt = *openedAt
	}
	if holder != nil {
		st.ProbeHolder = *holder
	}
	if expires != nil {
		st.ProbeExpiresAt = *expires
	}
	if updated != nil {
		st.UpdatedAt = *updated
	}
	return st, nil
}

// ticket is one admitted call: the generation it was admitted in, whether
// it is the half-open probe, and whether the count it saw was non-zero.
type ticket struct {
	gen      int64
	probe    bool
	failures bool
}

var errOpen = &apperr.Error{Kind: apperr.Unavailable, Code: CodeGatewayUnavailable, Message: "circuit breaker open", Err: ErrBreakerOpen}

func openError() error {
	e := *errOpen // a fresh copy: callers may edit the code (Service.refundOnce does)
	return &e
}

// admit decides whether a call may reach the gateway.
func (b *Breaker) admit(ctx context.Context) (ticket, error) {
	now := b.now()
	var state string
	var failures int
	var gen int64
	var openedAt, expires *time.Time
	err := b.pool.QueryRow(ctx, `
		SELECT state, consecutive_failures, generation, opened_at, probe_expires_at
		FROM payment_breakers WHERE name = $1`, b.name).Scan(&state, &failures, &gen, &openedAt, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		if _, err := b.pool.Exec(ctx, `INSERT INTO payment_breakers (name, updated_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, b.name, now); err != nil {
			return ticket{}, apperr.Wrap(apperr.Transient, "", err, "create payment breaker")
		}
		return b.admit(ctx)
	}
	if err != nil {
		return ticket{}, apperr.Wrap(apperr.Transient, "", err, "read payment breaker")
	}
	switch state {
	case "closed":
		return ticket{gen: gen, failures: failures > 0}, nil
	case "open":
		if openedAt != nil && now.Sub(*openedAt) < b.openFor {
			return ticket{}, openError()
		}
	default: // half_open
		if expires != nil && now.Before(*expires) {
			return ticket{}, openError()
		}
	}
	// Try to take the probe lease: the row lock makes exactly one caller
	// find it free.
	probe := false
	err = pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		var state string
		var openedAt, expires *time.Time
		if err := tx.QueryRow(ctx, `SELECT state, opened_at, probe_expires_at FROM payment_breakers WHERE name = $1 FOR UPDATE`,
			b.name).Scan(&state, &openedAt, &expires); err != nil {
			return err
		}
		reason := "cooldown over, probe by " + b.holder
		switch {
		case state == "open" && openedAt != nil && now.Sub(*openedAt) >= b.openFor:
		case state == "half_open" && expires != nil && !now.Before(*expires):
			reason = "probe lease expired, taken over by " + b.holder
		default:
			return nil // another caller is, or was, the probe
		}
		if err := tx.QueryRow(ctx, `
			UPDATE payment_breakers SET state = 'half_open', probe_holder = $2, probe_expires_at = $3,
				generation = generation + 1, updated_at = $4
			WHERE name = $1 RETURNING generation`, b.name, b.holder, now.Add(b.lease), now).Scan(&gen); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO payment_breaker_events (name, from_state, to_state, at, reason) VALUES ($1, $2, 'half_open', $3, $4)`,
			b.name, state, now, reason); err != nil {
			return err
		}
		probe = true
		return nil
	})
	if err != nil {
		return ticket{}, apperr.Wrap(apperr.Transient, "", err, "take payment breaker probe lease")
	}
	if !probe {
		return ticket{}, openError()
	}
	return ticket{gen: gen, probe: true}, nil
}

// done records the result of an admitted call. Errors recording it are
// dropped: the call's own result is what the caller needs.
func (b *Breaker) done(ctx context.Context, t ticket, err error) {
	if callerGaveUp(ctx, err) {
		b.release(ctx, t)
		return
	}
	ctx = context.WithoutCancel(ctx)
	now := b.now()
	if !unhealthy(err) {
		switch {
		case t.probe:
			if b.settle(ctx, t, `
				UPDATE payment_breakers SET state = 'closed', consecutive_failures = 0, probe_holder = NULL, probe_expires_at = NULL,
					generation = generation + 1, updated_at = $3
				WHERE name = $1 AND state = 'half_open' AND generation = $2
				RETURNING 'half_open'::text, 'closed'::text, 'probe succeeded'::text`, now) {
				b.notify(false)
			}
		case t.failures:
			_, _ = b.pool.Exec(ctx, `
				UPDATE payment_breakers SET consecutive_failures = 0, updated_at = $3
				WHERE name = $1 AND state = 'closed' AND generation = $2 AND consecutive_failures > 0`, b.name, t.gen, now)
		}
		return
	}
	reason := "gateway unhealthy"
	if err != nil {
		reason = err.Error()
	}
	if t.probe {
		if b.settle(ctx, t, `
			UPDATE payment_breakers SET state = 'open', opened_at = $3, probe_holder = NULL, probe_expires_at = NULL,
				generation = generation + 1, updated_at = $3
			WHERE name = $1 AND state = 'half_open' AND generation = $2
			RETURNING 'half_open'::text, 'open'::text, 'probe failed: ' || $4::text`, now, reason) {
			b.notify(true)
		}
		return
	}
	// One more consecutive failure; the one reaching the threshold opens.
	if b.settle(ctx, t, `
		UPDATE payment_breakers SET consecutive_failures = consecutive_failures + 1,
			state = CASE WHEN consecutive_failures + 1 >= $5 THEN 'open' ELSE 'closed' END,
			opened_at = CASE WHEN consecutive_failures + 1 >= $5 THEN $3 ELSE opened_at END,
			generation = CASE WHEN consecutive_failures + 1 >= $5 THEN generation + 1 ELSE generation END,
			updated_at = $3
		WHERE name = $1 AND state = 'closed' AND generation = $2
		RETURNING 'closed'::text, state, (consecutive_failures)::text || ' consecutive failures, last: ' || $4::text`, now, reason, b.threshold) {
		b.notify(true)
	}
}

// settle runs update (parameters $1 name, $2 generation, then args), which
// returns (from, to, reason) for the row it changed, and in the same
// statement records a transition in payment_breaker_events. It reports
// whether a transition happened.
func (b *Breaker) settle(ctx context.Context, t ticket, update string, args ...any) bool {
	var from, to string
	err := b.pool.QueryRow(ctx, `
		WITH u (from_state, to_state, reason) AS (`+update+`
		), e AS (
			INSERT INTO payment_breaker_events (name, from_state, to_state, at, reason)
			SELECT $1, from_state, to_state, $3, reason FROM u WHERE from_state <> to_state
		)
		SELECT from_state, to_state FROM u`, append([]any{b.name, t.gen}, args...)...).Scan(&from, &to)
	return err == nil && from != to
}

// release ends a call that gave no verdict on the gateway's health: a
// probe's lease is expired so that the next caller becomes the probe.
func (b *Breaker) release(ctx context.Context, t ticket) {
	if !t.probe {
		return
	}
	_, _ = b.pool.Exec(context.WithoutCancel(ctx), `
		UPDATE payment_breakers SET probe_expires_at = $3, updated_at = $3
		WHERE name = $1 AND state = 'half_open' AND generation = $2`, b.name, t.gen, b.now())
}

func (b *Breaker) notify(open bool) {
	if b.onChange != nil {
		b.onChange(open)
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
	t, err := b.admit(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	finished := false
	defer func() {
		if !finished { // call panicked: no verdict, but never leave the probe lease taken
			b.release(ctx, t)
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
