package checkout

import (
	"context"
	"time"
)

// A Source reads one checkout for WaitFrom. primary asks for the primary
// database's answer; fromPrimary reports whether the answer came from the
// primary (false: from a read replica, which may be behind).
type Source func(ctx context.Context, primary bool) (c Checkout, fromPrimary bool, err error)

// stopsWait reports whether a wait ends at status s: final, or the
// customer must act.
func stopsWait(s Status) bool { return s.Final() || s == StatusRequiresAction }

// WaitFrom returns the checkout src reads once its status is final or
// requires_action, or when d has passed, whichever comes first, polling
// with a growing interval (20 ms doubling to 250 ms). d = 0 reads once.
//
// src may answer from a read replica; what is returned is still never
// older than what the primary held when WaitFrom was called, so a client
// polling after its POST, or after an earlier answer, never sees its
// checkout go back or disappear:
//
//   - a replica's answer is returned only when it is settled
//     (Status.Settled: nothing can change it any more, so it cannot be
//     stale);
//   - anything else is asked of the primary: at the first poll, when the
//     replica shows a status that ends the wait (failed, requires_action:
//     the primary confirms it), and when d has passed. An absence on the
//     replica (a checkout just created) is never answered.
//
// The polls in between read the replica alone: a checkout long-polled for
// 20 s costs the primary two or three reads instead of about eighty. A
// Source without a replica (Store.Source) answers from the primary every
// time, which is plain polling.
//
// On ctx's end it returns the primary's latest answer and ctx's error.
func WaitFrom(ctx context.Context, d time.Duration, src Source) (Checkout, error) {
	deadline := time.Now().Add(d)
	interval := 20 * time.Millisecond
	var last Checkout // the primary's latest answer
	asked := false    // whether the primary has answered
	for {
		c, fromPrimary, err := src(ctx, false)
		if err == nil && c.Status.Settled() {
			return c, nil
		}
		done := !time.Now().Before(deadline)
		if !fromPrimary && (!asked || done || (err == nil && stopsWait(c.Status))) {
			c, _, err = src(ctx, true)
			fromPrimary = true
		}
		if fromPrimary {
			last, asked = c, true
			if err != nil || stopsWait(c.Status) || done {
				return c, err
			}
		}
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-time.After(min(interval, time.Until(deadline))):
		}
		interval = min(interval*2, 250*time.Millisecond)
	}
}
