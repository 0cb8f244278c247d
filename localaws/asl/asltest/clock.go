// Package asltest holds test helpers for the ASL interpreter and the local
// Step Functions built on it.
package asltest

import (
	"sync"
	"time"
)

// Clock is a fake asl.Clock. In auto mode After(d) advances the clock by d
// at once and records d, so tests never sleep and can assert the waits
// requested; in manual mode After's channel fires only when Advance moves
// the clock to or past its deadline. It is safe for concurrent use.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	manual bool
	waits  []time.Duration
	timers []timer
}

type timer struct {
	at time.Time
	ch chan time.Time
}

// NewClock returns a Clock at a fixed instant, in manual mode if manual.
func NewClock(manual bool) *Clock {
	return &Clock{now: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), manual: manual}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// After returns a channel that receives the clock's time d from now: at
// once in auto mode (which also advances the clock by d and records d),
// on the Advance that reaches it in manual mode.
func (c *Clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if c.manual {
		c.timers = append(c.timers, timer{c.now.Add(d), ch})
		return ch
	}
	c.waits = append(c.waits, d)
	c.now = c.now.Add(d)
	ch <- c.now
	return ch
}

// Advance moves the clock by d and fires the manual timers now due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if !t.at.After(c.now) {
			t.ch <- c.now
		} else {
			kept = append(kept, t)
		}
	}
	c.timers = kept
}

// Waits returns the durations After was called with in auto mode, in order.
func (c *Clock) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

// Pending returns the number of manual timers not yet fired.
func (c *Clock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}
