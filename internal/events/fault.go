package events

import (
	"fmt"
	"os"
	"strconv"
	"sync"
)

// FailFirst returns a Consumer.Fault that fails the first n attempts of
// every event id (counted in this process) and lets later attempts through.
// With n equal to the queue's maxReceiveCount an event lands in the
// dead-letter queue, and a replay then succeeds. n <= 0 returns nil.
func FailFirst(n int) func(Delivery) error {
	if n <= 0 {
		return nil
	}
	var mu sync.Mutex
	seen := map[string]int{}
	return func(d Delivery) error {
		mu.Lock()
		defer mu.Unlock()
		seen[d.Event.EventID]++
		if k := seen[d.Event.EventID]; k <= n {
			return fmt.Errorf("injected fault %d of %d", k, n)
		}
		return nil
	}
}

// FaultFromEnv reads CONSUMER_FAIL_TIMES (a non-negative integer) and
// returns FailFirst of it; unset or 0 means no fault.
func FaultFromEnv() (func(Delivery) error, error) {
	v := os.Getenv("CONSUMER_FAIL_TIMES")
	if v == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("CONSUMER_FAIL_TIMES=%q: want a non-negative integer", v)
	}
	return FailFirst(n), nil
}
