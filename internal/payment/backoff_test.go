package payment

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/checkout-dev/checkout/internal/apperr"
)

func TestBackoff(t *testing.T) {
	t.Parallel()
	transient := apperr.E(apperr.Transient, "transient", "blip")
	var slept []time.Duration
	b := Backoff{Attempts: 5, Base: 100 * time.Millisecond, Max: 300 * time.Millisecond,
		Sleep: func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }}

	calls := 0
	err := b.Do(context.Background(), Retryable, func(context.Context) error { calls++; return transient })
	if !errors.Is(err, transient) || calls != 5 || len(slept) != 4 {
		t.Fatalf("err=%v calls=%d sleeps=%d; want the last error after 5 calls and 4 sleeps", err, calls, len(slept))
	}
	for i, d := range slept { // full jitter: each sleep in [0, min(Max, Base·2^i)]
		ceiling := min(300*time.Millisecond, 100*time.Millisecond<<i)
		if d < 0 || d > ceiling {
			t.Errorf("sleep %d = %s; want within [0, %s]", i, d, ceiling)
		}
	}

	calls = 0
	declined := apperr.E(apperr.Declined, "payment_declined", "no")
	if err := b.Do(context.Background(), Retryable, func(context.Context) error { calls++; return declined }); !errors.Is(err, declined) || calls != 1 {
		t.Fatalf("a declined payment was tried %d times; want 1", calls)
	}

	// Close to the deadline no sleep starts: the step returns in time for
	// the state machine to retry it.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	calls, slept = 0, nil
	b.Reserve = time.Second
	if err := b.Do(ctx, Retryable, func(context.Context) error { calls++; return transient }); !errors.Is(err, transient) || calls != 1 || len(slept) != 0 {
		t.Fatalf("near the deadline: calls=%d sleeps=%d; want 1 call and no sleep", calls, len(slept))
	}
}
