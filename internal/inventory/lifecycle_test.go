package inventory_test

import (
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/inventory"
)

// TestReleaseOnce: Reserve → Release → Release gives the stock back exactly
// once; releasing a checkout that never reserved is a no-op.
func TestReleaseOnce(t *testing.T) {
	t.Parallel()
	forEachStrategy(t, func(t *testing.T, f *fixture) {
		f.product("A", 10)
		f.product("B", 4)
		id := f.checkout()
		_, err := f.store.Reserve(f.ctx, id, lines("A", 3, "B", 4), f.expires())
		mustOK(t, err)
		f.wantLevel("B", 4, 4)

		for i, want := range []bool{true, false, false} {
			released, err := f.store.Release(f.ctx, id)
			mustOK(t, err)
			if released != want {
				t.Errorf("release #%d = %v, want %v", i+1, released, want)
			}
			f.wantLevel("A", 10, 0)
			f.wantLevel("B", 4, 0)
		}
		if got := f.statuses(id); !slices.Equal(got, []string{"A:released:compensation", "B:released:compensation"}) {
			t.Errorf("statuses %v", got)
		}
		if n := f.auditCount(inventory.ActionRelease); n != 2 {
			t.Errorf("%d release audit rows, want 2", n)
		}

		never := f.checkout()
		released, err := f.store.Release(f.ctx, never)
		mustOK(t, err)
		if released {
			t.Error("release of a checkout without reservation reported released")
		}
		released, err = f.store.Release(f.ctx, uuid.New())
		mustOK(t, err)
		if released {
			t.Error("release of an unknown checkout reported released")
		}
		_, err = f.store.Release(f.ctx, uuid.Nil)
		wantKind(t, err, apperr.Invalid, "")
	})
}

// TestCommit: commit sells the units, is idempotent, and is refused after a
// release; a committed reservation cannot be released.
func TestCommit(t *testing.T) {
	t.Parallel()
	forEachStrategy(t, func(t *testing.T, f *fixture) {
		f.product("A", 10)
		f.product("B", 10)
		id := f.checkout()
		_, err := f.store.Reserve(f.ctx, id, lines("A", 3, "B", 1), f.expires())
		mustOK(t, err)
		mustOK(t, f.commit(id))
		f.wantLevel("A", 7, 0)
		f.wantLevel("B", 9, 0)
		mustOK(t, f.commit(id)) // idempotent
		f.wantLevel("A", 7, 0)
		if n := f.auditCount(inventory.ActionCommit); n != 2 {
			t.Errorf("%d commit audit rows, want 2 (one per SKU, once)", n)
		}
		_, err = f.store.Release(f.ctx, id)
		wantKind(t, err, apperr.State, "reservation_committed")
		f.wantLevel("A", 7, 0)

		rel := f.checkout()
		_, err = f.store.Reserve(f.ctx, rel, lines("A", 2), f.expires())
		mustOK(t, err)
		_, err = f.store.Release(f.ctx, rel)
		mustOK(t, err)
		wantKind(t, f.commit(rel), apperr.State, "reservation_released")
		f.wantLevel("A", 7, 0)

		wantKind(t, f.commit(f.checkout()), apperr.State, "reservation_not_found")
	})
}

// TestCommitRollsBackWithCallerTx: CommitTx writes nothing until the caller
// commits, and leaves the caller's lock_timeout as it found it.
func TestCommitRollsBackWithCallerTx(t *testing.T) {
	t.Parallel()
	f := newFixture(t, inventory.Conditional)
	f.product("A", 10)
	id := f.checkout()
	_, err := f.store.Reserve(f.ctx, id, lines("A", 4), f.expires())
	mustOK(t, err)
	tx, err := f.pool.Begin(f.ctx)
	mustOK(t, err)
	_, err = tx.Exec(f.ctx, `SET LOCAL lock_timeout = '1234ms'`)
	mustOK(t, err)
	mustOK(t, f.store.CommitTx(f.ctx, tx, id))
	var lt string
	mustOK(t, tx.QueryRow(f.ctx, `SHOW lock_timeout`).Scan(&lt))
	if lt != "1234ms" {
		t.Errorf("lock_timeout after CommitTx = %q, want the caller's 1234ms", lt)
	}
	mustOK(t, tx.Rollback(f.ctx))
	f.wantLevel("A", 10, 4)
	if got := f.statuses(id); !slices.Equal(got, []string{"A:reserved"}) {
		t.Errorf("statuses %v", got)
	}
	mustOK(t, f.commit(id))
	f.wantLevel("A", 6, 0)

	// A refusal leaves the caller's transaction usable, with its setting.
	tx, err = f.pool.Begin(f.ctx)
	mustOK(t, err)
	defer tx.Rollback(f.ctx) //nolint:errcheck
	_, err = tx.Exec(f.ctx, `SET LOCAL lock_timeout = '777ms'`)
	mustOK(t, err)
	wantKind(t, f.store.CommitTx(f.ctx, tx, f.checkout()), apperr.State, "reservation_not_found")
	mustOK(t, tx.QueryRow(f.ctx, `SHOW lock_timeout`).Scan(&lt))
	if lt != "777ms" {
		t.Errorf("lock_timeout after a refused CommitTx = %q, want 777ms", lt)
	}
}

// TestExpiry: ExpireDue releases only what is due (injected clock); a late
// commit is refused as Expired, before and after the sweep.
func TestExpiry(t *testing.T) {
	t.Parallel()
	forEachStrategy(t, func(t *testing.T, f *fixture) {
		f.product("A", 10)
		f.product("B", 10)
		early, late := f.checkout(), f.checkout()
		now := f.clock.Now()
		_, err := f.store.Reserve(f.ctx, early, lines("A", 2, "B", 1), now.Add(5*time.Minute))
		mustOK(t, err)
		_, err = f.store.Reserve(f.ctx, late, lines("A", 3), now.Add(20*time.Minute))
		mustOK(t, err)

		n, err := f.store.ExpireDue(f.ctx, 10)
		mustOK(t, err)
		if n != 0 {
			t.Errorf("expired %d before anything was due", n)
		}
		f.clock.Advance(5 * time.Minute) // early's expires_at == now: due
		wantKind(t, f.commit(early), apperr.Expired, "reservation_expired")
		f.wantLevel("A", 10, 5)

		n, err = f.store.ExpireDue(f.ctx, 10)
		mustOK(t, err)
		if n != 1 {
			t.Errorf("expired %d checkouts, want 1", n)
		}
		f.wantLevel("A", 10, 3)
		f.wantLevel("B", 10, 0)
		if got := f.statuses(early); !slices.Equal(got, []string{"A:released:expired", "B:released:expired"}) {
			t.Errorf("statuses %v", got)
		}
		wantKind(t, f.commit(early), apperr.Expired, "reservation_expired")
		released, err := f.store.Release(f.ctx, early) // compensation after expiry: nothing left to do
		mustOK(t, err)
		if released {
			t.Error("release after expiry reported released")
		}
		n, err = f.store.ExpireDue(f.ctx, 10)
		mustOK(t, err)
		if n != 0 {
			t.Errorf("second sweep expired %d", n)
		}
		if c := f.auditCount(inventory.ActionExpire); c != 2 {
			t.Errorf("%d expire audit rows, want 2", c)
		}
		mustOK(t, f.commit(late))
		f.wantLevel("A", 7, 0)
		_, err = f.store.ExpireDue(f.ctx, 0)
		wantKind(t, err, apperr.Invalid, "")
	})
}

// TestExpireDueLimit: the limit counts checkouts, a batch never splits one
// on its own, and repeated sweeps drain the backlog.
func TestExpireDueLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, inventory.Conditional)
	f.product("A", 100)
	f.product("B", 100)
	ids := f.checkouts(7)
	for _, id := range ids {
		_, err := f.store.Reserve(f.ctx, id, lines("A", 1, "B", 2), f.clock.Now().Add(time.Minute))
		mustOK(t, err)
	}
	f.clock.Advance(time.Hour)
	var got []int
	for {
		n, err := f.store.ExpireDue(f.ctx, 3)
		mustOK(t, err)
		got = append(got, n)
		if n == 0 {
			break
		}
		if c := f.count(`SELECT count(*) FROM (SELECT checkout_id FROM reservations
			GROUP BY checkout_id HAVING count(DISTINCT status) > 1) s`); c != 0 {
			t.Errorf("%d checkouts half expired", c)
		}
	}
	if !slices.Equal(got, []int{3, 3, 1, 0}) {
		t.Errorf("sweeps expired %v checkouts, want [3 3 1 0]", got)
	}
	f.wantLevel("A", 100, 0)
	f.wantLevel("B", 100, 0)
}
