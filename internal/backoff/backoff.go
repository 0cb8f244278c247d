// Package backoff is the one retry helper: exponential backoff with full
// jitter (a delay drawn uniformly from (0, min(ceiling, base·2^n)], which
// spreads the retries of many clients instead of syncing them) and a sleep
// that ends with its context.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Jitter returns the full-jitter delay before retry n (1-based): uniform in
// (0, min(ceiling, base·2^(n-1))].
func Jitter(n int, base, ceiling time.Duration) time.Duration {
	d := ceiling
	if shift := n - 1; shift >= 0 && shift < 30 {
		d = min(base<<shift, ceiling)
	}
	if d <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(d))) + 1
}

// Sleep waits d, or until ctx ends; it returns ctx's error then.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Policy retries a call with Jitter delays, bounded by Attempts and by the
// context's deadline: it never starts a sleep that would end within Reserve
// of the deadline, so a Lambda returns its error in time for the state
// machine to retry. The zero value is usable.
type Policy struct {
	Attempts int           // total tries; default 4
	Base     time.Duration // default 100 ms
	Max      time.Duration // default 2 s
	Reserve  time.Duration // time kept before the deadline; default 1 s
	// Sleep waits d or until ctx ends; tests replace it to never sleep.
	Sleep func(ctx context.Context, d time.Duration) error
}

// ReserveOrDefault is the time kept before a deadline (Reserve, default 1 s).
func (p Policy) ReserveOrDefault() time.Duration {
	if p.Reserve > 0 {
		return p.Reserve
	}
	return time.Second
}

// Do calls fn until it succeeds, fails with an error retryable rejects, or
// the attempts or the deadline run out; it returns fn's last error.
func (p Policy) Do(ctx context.Context, retryable func(error) bool, fn func(context.Context) error) error {
	attempts, base, ceiling, reserve := p.Attempts, p.Base, p.Max, p.ReserveOrDefault()
	if attempts <= 0 {
		attempts = 4
	}
	if base <= 0 {
		base = 100 * time.Millisecond
	}
	if ceiling <= 0 {
		ceiling = 2 * time.Second
	}
	sleep := p.Sleep
	if sleep == nil {
		sleep = Sleep
	}
	var err error
	for n := 1; n <= attempts; n++ {
		if err = fn(ctx); err == nil || !retryable(err) || n == attempts {
			return err
		}
		d := Jitter(n, base, ceiling)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl)-d < reserve {
			return err
		}
		if serr := sleep(ctx, d); serr != nil {
			return err
		}
	}
	return err
}
