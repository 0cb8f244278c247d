package checkout

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// A Source reads one checkout for WaitFrom. primary asks for the primary
// database's answer; fromPrimary reports whether the answer came from the
// primary (false: from a read replica, which may be behind).
type Source func(ctx context.Context, primary bool) (c Checkout, fromPrimary bool, err error)

// stopsWait reports whether a wait ends at status s: final, or the
// customer must act.
func stopsWait(s Status) bool { return s.Final() || s == StatusRequiresAction }

// WaitFrom returns the checkout id that src reads once its status is final
// or requires_action, or when d has passed, whichever comes first. d = 0
// reads once.
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
//     the primary confirms it), after a status notification, and when d
//     has passed. An absence on the replica (a checkout just created) is
//     never answered.
//
// Between reads it sleeps: with the status listener running
// ([Store.StartStatusListener]) until the checkout's status notification
// arrives (then it asks the primary, which committed it; the replica may
// not have replayed it yet), re-reading every second in case one was
// missed; without it, polling from 20 ms doubling to 250 ms. The polls in
// between read the replica alone: a checkout long-polled for 20 s costs the
// primary two or three reads instead of about eighty. A Source without a
// replica (Store.Source) answers from the primary every time.
//
// On ctx's end it returns the primary's latest answer and ctx's error.
func (s *Store) WaitFrom(ctx context.Context, id uuid.UUID, d time.Duration, src Source) (Checkout, error) {
	deadline := time.Now().Add(d)
	interval := pollFirst
	var last Checkout // the primary's latest answer
	asked := false    // whether the primary has answered
	notified := false // a status notification arrived: the primary has news
	// Subscribed before the first read, so a change that commits between a
	// read and the sleep still wakes us.
	woken, stop := s.status.subscribe(id)
	defer stop()
	for {
		c, fromPrimary, err := src(ctx, notified)
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
		sleep := min(interval, time.Until(deadline))
		if s.status.listening.Load() {
			sleep = min(s.status.fallback, time.Until(deadline))
		}
		t := time.NewTimer(sleep)
		notified = false
		select {
		case <-ctx.Done():
			t.Stop()
			return last, ctx.Err()
		case <-woken:
			notified = true
		case <-t.C:
		}
		t.Stop()
		interval = min(interval*2, pollMax)
	}
}
