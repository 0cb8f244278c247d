package payment

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/checkout-dev/checkout/internal/apperr"
)

// Backoff retries transient failures with exponential backoff and full
// jitter (sleep a random time in [0, min(Max, Base·2^n)]), bounded by
// Attempts and by ctx's deadline: it never starts a sleep that would end
// within Reserve of the deadline, so a Lambda returns its error in time for
// the state machine to retry.
type Backoff struct {
	Attempts int           // total tries; default 4
	Base     time.Duration // default 100 ms
	Max      time.Duration // default 2 s
	Reserve  time.Duration // time kept before the deadline; default 1 s
	// Sleep waits d or until ctx ends; tests replace it to never sleep.
	Sleep func(ctx context.Context, d time.Duration) error
}

// retryable reports errors worth another try inside the step.
func retryable(err error) bool {
	switch apperr.KindOf(err) {
	case apperr.Transient, apperr.Unavailable, apperr.UnknownOutcome, apperr.Pending:
		return true
	}
	return false
}

// Do calls fn until it succeeds, fails with a non-retryable error, or the
// attempts or the deadline run out; it returns fn's last error.
func (b Backoff) Do(ctx context.Context, fn func(context.Context) error) error {
	attempts, base, maxDelay, reserve := b.Attempts, b.Base, b.Max, b.reserve()
	if attempts <= 0 {
		attempts = 4
	}
	if base <= 0 {
		base = 100 * time.Millisecond
	}
	if maxDelay <= 0 {
		maxDelay = 2 * time.Second
	}
	sleep := b.Sleep
	if sleep == nil {
		sleep = sleepCtx
	}
	var err error
	for n := 0; n < attempts; n++ {
		if err = fn(ctx); err == nil || !retryable(err) || n == attempts-1 {
			return err
		}
		ceiling := min(maxDelay, base<<n)
		d := time.Duration(rand.Int64N(int64(ceiling) + 1))
		if dl, ok := ctx.Deadline(); ok && time.Until(dl)-d < reserve {
			return err
		}
		if serr := sleep(ctx, d); serr != nil {
			return err
		}
	}
	return err
}

// reserve is the time kept before the deadline (Reserve, default 1 s).
func (b Backoff) reserve() time.Duration {
	if b.Reserve > 0 {
		return b.Reserve
	}
	return time.Second
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
