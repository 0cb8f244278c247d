package checkout

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/localaws/pgtest"
)

// waitFixture is a store on its own database with one pending checkout of
// user-1 and, when listen is set, its status listener running with the
// re-read fallback turned off (an hour), so only a notification can end a
// wait before its deadline.
func waitFixture(t *testing.T, listen bool) (*Store, *pgxpool.Pool, Checkout) {
	t.Helper()
	pool := pgtest.NewPool(t)
	// Registered after the pool: cleanups run last first, so the listener
	// stops before its database is dropped.
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if _, err := pool.Exec(ctx, `INSERT INTO products (sku, name, amount, currency) VALUES ('TEE-1', 'T-shirt', 1999, 'USD');
		INSERT INTO inventory (sku, on_hand) VALUES ('TEE-1', 10)`); err != nil {
		t.Fatal(err)
	}
	s := NewStore(pool)
	if listen {
		s.status.fallback = time.Hour
		if err := s.StartStatusListener(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	return s, pool, newProcessing(t, s, "key-1")
}

// newProcessing creates a checkout of user-1 under key and moves it to
// processing, the status from which every final status can be reached.
func newProcessing(t *testing.T, s *Store, key string) Checkout {
	t.Helper()
	c, _, err := s.CreateOrGet(context.Background(), "user-1", key, Request{Items: []Item{{SKU: "TEE-1", Quantity: 1}}, Currency: "USD", PaymentMethod: "pm_card_visa"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.MarkProcessing(context.Background(), c.ID); err != nil {
		t.Fatal(err)
	}
	return c
}

// waitAsync runs Wait(d) for c and returns where its answer arrives, once
// the wait is subscribed (when the listener runs).
func waitAsync(t *testing.T, s *Store, c Checkout, d time.Duration, subscribed bool) <-chan Checkout {
	t.Helper()
	before := s.WaitStats().Waiters
	out := make(chan Checkout, 1)
	go func() {
		got, err := s.Wait(context.Background(), c.ID, c.UserID, d)
		if err != nil {
			t.Errorf("Wait: %v", err)
		}
		out <- got
	}()
	for deadline := time.Now().Add(10 * time.Second); subscribed && s.WaitStats().Waiters == before; {
		if time.Now().After(deadline) {
			t.Fatal("the wait never subscribed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return out
}

func TestWaitAnswersOnTheStatusNotification(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		to   Status
	}{
		{"completed", StatusCompleted},
		{"failed", StatusFailed},
		{"requires_action", StatusRequiresAction},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, _, c := waitFixture(t, true)
			const deadline = time.Minute
			began := time.Now()
			done := waitAsync(t, s, c, deadline, true)
			var err error
			switch tc.to {
			case StatusRequiresAction:
				err = s.MarkRequiresAction(context.Background(), c.ID)
			case StatusFailed:
				err = s.Finish(context.Background(), c.ID, Outcome{Status: StatusFailed, Code: "card_declined", Message: "declined"})
			default:
				err = s.Finish(context.Background(), c.ID, Outcome{Status: tc.to})
			}
			if err != nil {
				t.Fatal(err)
			}
			got := <-done
			if got.Status != tc.to {
				t.Fatalf("Wait returned %s; want %s", got.Status, tc.to)
			}
			// The fallback re-read is an hour away and the deadline a minute:
			// only the notification could have ended the wait this early.
			if took := time.Since(began); took > deadline/2 {
				t.Fatalf("Wait took %s: not woken by the notification", took)
			}
			if st := s.WaitStats(); st.Wakeups < 1 || !st.Listening || st.Waiters != 0 {
				t.Fatalf("stats %+v: want a wake-up, listening, no waiter left", st)
			}
		})
	}
}

func TestWaitKeepsWorkingAcrossALostListener(t *testing.T) {
	t.Parallel()
	s, pool, c := waitFixture(t, true)
	ctx := context.Background()
	var killed int
	if err := pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query ILIKE 'listen%'`).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("terminated %d listener connections (err %v); want 1", killed, err)
	}
	// Meanwhile a wait polls: the checkout ends while nobody listens, and
	// the wait still sees it (by polling, or by the reconnect's wake-up).
	done := waitAsync(t, s, c, time.Minute, false)
	if err := s.Finish(ctx, c.ID, Outcome{Status: StatusCompleted}); err != nil {
		t.Fatal(err)
	}
	if got := <-done; got.Status != StatusCompleted {
		t.Fatalf("Wait during the outage returned %s", got.Status)
	}
	for deadline := time.Now().Add(20 * time.Second); ; {
		if st := s.WaitStats(); st.Listening && st.Reconnects >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("listener not back: %+v", s.WaitStats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Back on notifications: a second checkout's wait is woken by one.
	c2 := newProcessing(t, s, "key-2")
	wakeups := s.WaitStats().Wakeups
	done = waitAsync(t, s, c2, time.Minute, true)
	if err := s.Finish(ctx, c2.ID, Outcome{Status: StatusFailed, Code: "out_of_stock", Message: "sold out"}); err != nil {
		t.Fatal(err)
	}
	if got := <-done; got.Status != StatusFailed || s.WaitStats().Wakeups <= wakeups {
		t.Fatalf("after the reconnect: status %s, stats %+v", got.Status, s.WaitStats())
	}
}

func TestWaitPollsWithoutAListener(t *testing.T) {
	t.Parallel()
	s, _, c := waitFixture(t, false)
	done := waitAsync(t, s, c, time.Minute, false)
	if err := s.Finish(context.Background(), c.ID, Outcome{Status: StatusCompleted}); err != nil {
		t.Fatal(err)
	}
	if got := <-done; got.Status != StatusCompleted {
		t.Fatalf("Wait returned %s", got.Status)
	}
	if st := s.WaitStats(); st.Listening || st.Wakeups != 0 {
		t.Fatalf("stats %+v: no listener was started", st)
	}
	// Another user's checkout is not found, waiting or not.
	if _, err := s.Wait(context.Background(), c.ID, "user-2", time.Second); err == nil {
		t.Fatal("Wait for another user's checkout: no error")
	}
}

// TestWaitFromAsksThePrimaryOnNotification: with a read replica that has
// not replayed the change, the notification still ends the wait at once,
// because WaitFrom asks the primary (which committed it) after one.
func TestWaitFromAsksThePrimaryOnNotification(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	pool := pgtest.PoolOn(t, dsn)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if _, err := pool.Exec(ctx, `INSERT INTO products (sku, name, amount, currency) VALUES ('TEE-1', 'T-shirt', 1999, 'USD');
		INSERT INTO inventory (sku, on_hand) VALUES ('TEE-1', 10)`); err != nil {
		t.Fatal(err)
	}
	s := NewStore(pool)
	s.status.fallback = time.Hour
	if err := s.StartStatusListener(ctx, nil); err != nil {
		t.Fatal(err)
	}
	rep := pgtest.NewReplica(t, dsn)
	replica := NewStore(pgtest.PoolOn(t, rep.DSN))
	c := newProcessing(t, s, "key-1")
	rep.WaitReplayed(t)
	rep.PauseReplay(t, true)
	t.Cleanup(func() { rep.PauseReplay(t, false) })
	var primaryReads atomic.Int64
	src := func(ctx context.Context, primary bool) (Checkout, bool, error) {
		if primary {
			got, err := s.GetForUser(ctx, c.ID, c.UserID)
			primaryReads.Add(1) // after the read: the test finishes the checkout once one was answered
			return got, true, err
		}
		got, err := replica.GetForUser(ctx, c.ID, c.UserID)
		return got, false, err
	}
	const deadline = time.Minute
	began := time.Now()
	out := make(chan Checkout, 1)
	go func() {
		got, err := s.WaitFrom(ctx, c.ID, deadline, src)
		if err != nil {
			t.Errorf("WaitFrom: %v", err)
		}
		out <- got
	}()
	// Finish once the first poll has asked the primary (and so subscribed).
	for limit := time.Now().Add(10 * time.Second); primaryReads.Load() == 0; {
		if time.Now().After(limit) {
			t.Fatal("the wait never asked the primary")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := s.Finish(ctx, c.ID, Outcome{Status: StatusCompleted}); err != nil {
		t.Fatal(err)
	}
	got := <-out
	if got.Status != StatusCompleted {
		t.Fatalf("WaitFrom returned %s; want completed", got.Status)
	}
	// The replica still shows processing (replay paused), the fallback
	// re-read is an hour away: only the notification, answered by the
	// primary, could end the wait before its deadline.
	if took := time.Since(began); took > deadline/2 {
		t.Fatalf("WaitFrom took %s", took)
	}
	if n := primaryReads.Load(); n != 2 {
		t.Errorf("%d primary reads; want 2 (the first poll, the one after the notification)", n)
	}
}
