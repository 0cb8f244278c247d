package checkout_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/checkout"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

func TestSettled(t *testing.T) {
	t.Parallel()
	for s, want := range map[checkout.Status]bool{
		checkout.StatusPending: false, checkout.StatusProcessing: false, checkout.StatusRequiresAction: false,
		checkout.StatusFailed:    false, // may still become needs_review
		checkout.StatusCompleted: true, checkout.StatusNeedsReview: true, "bogus": false,
	} {
		if got := s.Settled(); got != want {
			t.Errorf("%s.Settled() = %v; want %v", s, got, want)
		}
	}
}

// replicated is a checkout store on the test database and one on a
// streaming replica of it, with a Source that reads the replica unless
// asked for the primary, counting each side's reads.
type replicated struct {
	*pgtest.Replica
	primary, replica           *checkout.Store
	primaryReads, replicaReads atomic.Int64
}

func newReplicated(t *testing.T) *replicated {
	t.Helper()
	dsn := pgtest.NewDB(t)
	pool := pgtest.PoolOn(t, dsn)
	seed(t, pool)
	r := &replicated{primary: checkout.NewStore(pool), Replica: pgtest.NewReplica(t, dsn)}
	r.replica = checkout.NewStore(pgtest.PoolOn(t, r.DSN))
	r.WaitReplayed(t)
	return r
}

func (r *replicated) source(id uuid.UUID, user string) checkout.Source {
	return func(ctx context.Context, primary bool) (checkout.Checkout, bool, error) {
		if primary {
			r.primaryReads.Add(1)
			c, err := r.primary.GetForUser(ctx, id, user)
			return c, true, err
		}
		r.replicaReads.Add(1)
		c, err := r.replica.GetForUser(ctx, id, user)
		return c, false, err
	}
}

func (r *replicated) create(t *testing.T, key string) checkout.Checkout {
	t.Helper()
	c, _, err := r.primary.CreateOrGet(context.Background(), "user-1", key, visa(checkout.Item{SKU: "TEE-1", Quantity: 1}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (r *replicated) complete(t *testing.T, id uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	if err := r.primary.MarkProcessing(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := r.primary.Finish(ctx, id, checkout.Outcome{Status: checkout.StatusCompleted}); err != nil {
		t.Fatal(err)
	}
}

func wantStatus(t *testing.T, c checkout.Checkout, err error, want checkout.Status) {
	t.Helper()
	if err != nil || c.Status != want {
		t.Fatalf("WaitFrom: %s, %v; want %s", c.Status, err, want)
	}
}

// TestWaitFromReplica: WaitFrom on a real streaming replica answers what
// the primary holds, however far behind the replica is, and reads the
// replica alone for settled checkouts and between the polls of a wait.
func TestWaitFromReplica(t *testing.T) {
	t.Parallel()
	r := newReplicated(t)
	ctx := context.Background()

	t.Run("created while the replica is paused", func(t *testing.T) {
		r.PauseReplay(t, true)
		defer r.PauseReplay(t, false)
		c := r.create(t, "paused-create")
		if _, err := r.replica.GetForUser(ctx, c.ID, "user-1"); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("replica read of the new checkout: %v; want not found (the test needs a stale replica)", err)
		}
		got, err := r.primary.WaitFrom(ctx, c.ID, 0, r.source(c.ID, "user-1"))
		wantStatus(t, got, err, checkout.StatusPending)
		// Completed on the primary while the replica still has nothing.
		r.complete(t, c.ID)
		got, err = r.primary.WaitFrom(ctx, c.ID, 2*time.Second, r.source(c.ID, "user-1"))
		wantStatus(t, got, err, checkout.StatusCompleted)
	})

	t.Run("a settled checkout is read from the replica alone", func(t *testing.T) {
		c := r.create(t, "settled")
		r.complete(t, c.ID)
		r.WaitReplayed(t)
		before := r.primaryReads.Load()
		got, err := r.primary.WaitFrom(ctx, c.ID, 0, r.source(c.ID, "user-1"))
		wantStatus(t, got, err, checkout.StatusCompleted)
		if n := r.primaryReads.Load() - before; n != 0 {
			t.Errorf("%d primary reads for a completed checkout the replica has; want 0", n)
		}
	})

	t.Run("failed on the replica, needs_review on the primary", func(t *testing.T) {
		c := r.create(t, "failed")
		if err := r.primary.Finish(ctx, c.ID, checkout.Failed("payment_declined", "declined")); err != nil {
			t.Fatal(err)
		}
		r.WaitReplayed(t)
		r.PauseReplay(t, true)
		defer r.PauseReplay(t, false)
		if err := r.primary.Finish(ctx, c.ID, checkout.NeedsReview("refund_failed", "a person finishes it")); err != nil {
			t.Fatal(err)
		}
		got, err := r.primary.WaitFrom(ctx, c.ID, 2*time.Second, r.source(c.ID, "user-1"))
		wantStatus(t, got, err, checkout.StatusNeedsReview)
	})

	t.Run("a long poll reads the replica between its polls", func(t *testing.T) {
		c := r.create(t, "long-poll")
		r.WaitReplayed(t)
		p0, r0 := r.primaryReads.Load(), r.replicaReads.Load()
		done := make(chan error, 1)
		go func() {
			time.Sleep(500 * time.Millisecond)
			err := r.primary.MarkProcessing(ctx, c.ID)
			if err == nil {
				err = r.primary.Finish(ctx, c.ID, checkout.Outcome{Status: checkout.StatusCompleted})
			}
			done <- err
		}()
		got, err := r.primary.WaitFrom(ctx, c.ID, 10*time.Second, r.source(c.ID, "user-1"))
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		wantStatus(t, got, err, checkout.StatusCompleted)
		primary, replica := r.primaryReads.Load()-p0, r.replicaReads.Load()-r0
		t.Logf("a wait that ended after about 500 ms: %d primary read(s), %d replica reads", primary, replica)
		if primary != 1 || replica < 3 {
			t.Errorf("%d primary and %d replica reads for a 500 ms wait; want 1 (the first poll) and several", primary, replica)
		}
	})

	t.Run("a wait that times out answers the primary's state", func(t *testing.T) {
		c := r.create(t, "timeout")
		r.WaitReplayed(t)
		r.PauseReplay(t, true)
		defer r.PauseReplay(t, false)
		if err := r.primary.MarkProcessing(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		got, err := r.primary.WaitFrom(ctx, c.ID, 300*time.Millisecond, r.source(c.ID, "user-1"))
		wantStatus(t, got, err, checkout.StatusProcessing) // the replica still says pending
	})

	t.Run("another user's checkout", func(t *testing.T) {
		c := r.create(t, "mine")
		r.WaitReplayed(t)
		_, err := r.primary.WaitFrom(ctx, c.ID, 0, r.source(c.ID, "user-2"))
		if !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("WaitFrom for another user: %v; want not found", err)
		}
	})
}
