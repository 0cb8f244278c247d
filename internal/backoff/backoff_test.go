package backoff

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestJitterStaysUnderItsCeiling(t *testing.T) {
	t.Parallel()
	for n := 1; n <= 40; n++ {
		ceiling := min(100*time.Millisecond<<min(n-1, 29), 5*time.Second)
		for range 100 {
			if d := Jitter(n, 100*time.Millisecond, 5*time.Second); d <= 0 || d > ceiling {
				t.Fatalf("Jitter(%d) = %s; want in (0, %s]", n, d, ceiling)
			}
		}
	}
}

func TestSleepEndsWithItsContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if err := Sleep(ctx, time.Minute); !errors.Is(err, context.Canceled) || time.Since(start) > time.Second {
		t.Fatalf("Sleep on a canceled context: %v after %s", err, time.Since(start))
	}
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatal(err)
	}
}

func TestDoStopsOnANonRetryableError(t *testing.T) {
	t.Parallel()
	permanent, passing := errors.New("permanent"), errors.New("passing")
	calls := 0
	p := Policy{Attempts: 5, Sleep: func(context.Context, time.Duration) error { return nil }}
	retryable := func(err error) bool { return errors.Is(err, passing) }
	err := p.Do(context.Background(), retryable, func(context.Context) error {
		calls++
		if calls < 3 {
			return passing
		}
		return permanent
	})
	if !errors.Is(err, permanent) || calls != 3 {
		t.Fatalf("%v after %d calls; want permanent after 3", err, calls)
	}
}
