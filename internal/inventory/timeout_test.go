package inventory_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/inventory"
)

// TestStuckLockIsTransient: a row held by someone else past LockTimeout makes
// every operation fail fast with Transient, not hang, and changes nothing.
func TestStuckLockIsTransient(t *testing.T) {
	t.Parallel()
	forEachStrategy(t, func(t *testing.T, f *fixture) {
		f.product("A", 10)
		held := f.checkout()
		_, err := f.store.Reserve(f.ctx, held, lines("A", 1), f.expires())
		mustOK(t, err)
		store := inventory.New(f.pool, inventory.Options{Strategy: f.store.Strategy(), Now: f.clock.Now,
			LockTimeout: 100 * time.Millisecond, Logger: quiet})

		blocker, err := f.pool.Begin(f.ctx)
		mustOK(t, err)
		defer blocker.Rollback(f.ctx) //nolint:errcheck
		_, err = blocker.Exec(f.ctx, `UPDATE inventory SET updated_at = now() WHERE sku = 'A'`)
		mustOK(t, err)
		_, err = blocker.Exec(f.ctx, `UPDATE inventory_buckets SET updated_at = now() WHERE sku = 'A'`) // every stock row
		mustOK(t, err)

		began := time.Now()
		_, err = store.Reserve(f.ctx, f.checkout(), lines("A", 1), f.expires())
		wantKind(t, err, apperr.Transient, "lock_timeout")
		_, err = store.Release(f.ctx, held)
		wantKind(t, err, apperr.Transient, "lock_timeout")
		_, err = store.SetOnHand(f.ctx, "A", 20)
		wantKind(t, err, apperr.Transient, "lock_timeout")
		if d := time.Since(began); d > 20*time.Second {
			t.Errorf("three timed-out calls took %v", d)
		}
		mustOK(t, blocker.Rollback(f.ctx))
		f.wantLevel("A", 10, 1)
		if n := f.count(`SELECT count(*) FROM audit_log`); n != 1 {
			t.Errorf("%d audit rows, want only the first reserve", n)
		}
	})
}

// TestCommitSerializationIsTransient: in a REPEATABLE READ order transaction
// whose snapshot predates a concurrent change of the reservation, CommitTx
// reports Transient instead of leaking the serialization failure.
func TestCommitSerializationIsTransient(t *testing.T) {
	t.Parallel()
	f := newFixture(t, inventory.Conditional)
	f.product("A", 10)
	id := f.checkout()
	_, err := f.store.Reserve(f.ctx, id, lines("A", 2), f.expires())
	mustOK(t, err)

	tx, err := f.pool.BeginTx(f.ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	mustOK(t, err)
	defer tx.Rollback(f.ctx)                                     //nolint:errcheck
	_, err = tx.Exec(f.ctx, `SELECT count(*) FROM reservations`) // take the snapshot
	mustOK(t, err)
	_, err = f.store.Release(f.ctx, id) // changes the rows after the snapshot
	mustOK(t, err)
	wantKind(t, f.store.CommitTx(f.ctx, tx, id), apperr.Transient, "contention")
	f.wantLevel("A", 10, 0)
}

// TestReleaseWaitsForRunningReserve: a compensation that arrives while the
// reserve of the same checkout is still running releases its stock.
func TestReleaseWaitsForRunningReserve(t *testing.T) {
	t.Parallel()
	forEachStrategy(t, func(t *testing.T, f *fixture) {
		f.product("A", 10)
		id := f.checkout()
		// Block the reserve on the inventory row after it took the checkout's
		// advisory lock and inserted its rows.
		blocker, err := f.pool.Begin(f.ctx)
		mustOK(t, err)
		defer blocker.Rollback(f.ctx) //nolint:errcheck
		_, err = blocker.Exec(f.ctx, `UPDATE inventory SET updated_at = now() WHERE sku = 'A'`)
		mustOK(t, err)
		_, err = blocker.Exec(f.ctx, `UPDATE inventory_buckets SET updated_at = now() WHERE sku = 'A'`) // every stock row
		mustOK(t, err)

		reserved := make(chan error, 1)
		go func() {
			_, err := f.store.Reserve(f.ctx, id, lines("A", 3), f.expires())
			reserved <- err
		}()
		waitFor(t, func() bool {
			return f.count(`SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`) == 1
		})
		released := make(chan bool, 1)
		go func() {
			ok, err := f.store.Release(f.ctx, id)
			if err != nil {
				t.Errorf("release: %v", err)
			}
			released <- ok
		}()
		waitFor(t, func() bool {
			return f.count(`SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`) == 1
		})
		mustOK(t, blocker.Rollback(f.ctx))
		mustOK(t, <-reserved)
		if !<-released {
			t.Error("release did not release the reserve that was running")
		}
		f.wantLevel("A", 10, 0)
	})
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
