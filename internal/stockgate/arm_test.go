package stockgate_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/internal/stockgate"
)

// Arm subtracts the holds whose database write the snapshot has not seen,
// forgets the ones it says were sold, returns stale ones, and reports the
// discrepancy it repaired.
func TestArmAccountsForHolds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := &clock{t: time.Now()}
	g, _ := newGate(t, stockgate.Options{Now: clk.Now})
	arm(t, g, "A", 10)
	x := uuid.New()
	reserve(t, g, x, line("A", 3), line("B", 1)) // B not armed: ungated
	// The snapshot was taken before X's database write: X is uncounted.
	r, err := g.Arm(ctx, stockgate.ArmRequest{SKU: "A", Available: 10})
	if err != nil || r.Available != 7 || r.Uncounted != 3 || r.Discrepancy() != 0 || !r.WasArmed || r.Previous != 7 {
		t.Fatalf("arm with X in flight: %+v %v", r, err)
	}
	// X written to the database: the snapshot counts it.
	r, err = g.Arm(ctx, stockgate.ArmRequest{SKU: "A", Available: 7, Reserved: []uuid.UUID{x}})
	if err != nil || r.Available != 7 || r.Uncounted != 0 || r.Discrepancy() != 0 {
		t.Fatalf("arm with X counted: %+v %v", r, err)
	}
	// The gate was wrong (say a lost write after a restart): Arm repairs it
	// and says by how much.
	if _, err := g.Arm(ctx, stockgate.ArmRequest{SKU: "A", Available: 9, Reserved: []uuid.UUID{x}}); err != nil {
		t.Fatal(err)
	}
	r, err = g.Arm(ctx, stockgate.ArmRequest{SKU: "A", Available: 7, Reserved: []uuid.UUID{x}, DryRun: true})
	if err != nil || r.Discrepancy() != 2 || r.Available != 7 {
		t.Fatalf("dry run: %+v %v", r, err)
	}
	wantLevel(t, g, "A", 9, 3) // a dry run writes nothing
	if r, _ = g.Arm(ctx, stockgate.ArmRequest{SKU: "A", Available: 7, Reserved: []uuid.UUID{x}}); r.Discrepancy() != 2 {
		t.Fatalf("repair: %+v", r)
	}
	wantLevel(t, g, "A", 7, 3)

	// X's order committed in the database, but its gate Commit was lost:
	// Arm forgets its line; the rest of X's hold (none armed here) stays.
	r, err = g.Arm(ctx, stockgate.ArmRequest{SKU: "A", Available: 7, Committed: []uuid.UUID{x}})
	if err != nil || r.Committed != 3 || r.Available != 7 || r.Uncounted != 0 {
		t.Fatalf("arm with X sold: %+v %v", r, err)
	}
	wantLevel(t, g, "A", 7, 0)
	if s, err := g.Commit(ctx, x); err != nil || s.Previous != stockgate.StateCommitted {
		t.Fatalf("late commit: %+v %v", s, err)
	}

	// Y's caller vanished before its database write: after
	// ReleaseStaleAfter, Arm gives its units back, and a late retry of Y
	// takes them again (its write may still come).
	y := uuid.New()
	reserve(t, g, y, line("A", 2))
	clk.Add(5 * time.Minute)
	z := uuid.New()
	reserve(t, g, z, line("A", 1)) // young, in flight: kept and subtracted
	r, err = g.Arm(ctx, stockgate.ArmRequest{SKU: "A", Available: 7, ReleaseStaleAfter: 2 * time.Minute})
	if err != nil || r.Stale != 2 || r.Uncounted != 1 || r.Available != 6 {
		t.Fatalf("arm with a stale hold: %+v %v", r, err)
	}
	wantLevel(t, g, "A", 6, 1)
	if rr := reserve(t, g, y, line("A", 2)); rr.Replayed || rr.Outcome != stockgate.Held {
		t.Fatalf("retry of a stale hold: %+v", rr)
	}
	wantLevel(t, g, "A", 4, 3)
}

// A disarmed SKU is not gated; its holds settle without returning units
// anywhere and are still accounted for by the next Arm.
func TestDisarm(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g, _ := newGate(t, stockgate.Options{})
	arm(t, g, "A", 5)
	x := uuid.New()
	reserve(t, g, x, line("A", 2))
	if was, err := g.Disarm(ctx, "A"); err != nil || !was {
		t.Fatalf("disarm: %v %v", was, err)
	}
	if r := reserve(t, g, uuid.New(), line("A", 1)); r.Outcome != stockgate.NotArmed {
		t.Fatalf("after disarm: %+v", r)
	}
	r, err := g.Arm(ctx, stockgate.ArmRequest{SKU: "A", Available: 5}) // X still in flight
	if err != nil || r.WasArmed || r.Available != 3 || r.Discrepancy() != 0 {
		t.Fatalf("re-arm: %+v %v", r, err)
	}
	if _, err := g.Release(ctx, x); err != nil {
		t.Fatal(err)
	}
	wantLevel(t, g, "A", 5, 0)
}

// The Arm protocol under fire: buyers reserve in the gate, then "write the
// database" (a model guarded by one lock, standing for the SKU's row lock),
// then release or commit (database first, gate second), while an armer
// keeps re-arming from locked snapshots. Every Arm is exact (the gate equals
// what the database will say once the holds in flight land), so the
// discrepancy is always 0, the database never refuses a gate-held unit, and
// at the end the gate equals the database.
func TestArmRacingHoldsIsExact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g, _ := newGate(t, stockgate.Options{})
	const stock = 400
	var (
		mu      sync.Mutex // the SKU's stock rows
		dbAvail = stock
		status  = map[uuid.UUID]string{} // reserved, committed, released
	)
	arm(t, g, "A", stock)
	var refusedByDB, discrepancies, arms atomic.Int64
	stop := make(chan struct{})
	armerDone := make(chan struct{})
	go func() {
		defer close(armerDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			mu.Lock()
			holds, err := g.Holds(ctx, "A")
			if err != nil {
				mu.Unlock()
				t.Error(err)
				return
			}
			req := stockgate.ArmRequest{SKU: "A", Available: dbAvail}
			for _, h := range holds {
				switch status[h.CheckoutID] {
				case "reserved":
					req.Reserved = append(req.Reserved, h.CheckoutID)
				case "committed":
					req.Committed = append(req.Committed, h.CheckoutID)
				}
			}
			r, err := g.Arm(ctx, req)
			mu.Unlock()
			if err != nil {
				t.Error(err)
				return
			}
			arms.Add(1)
			if r.Discrepancy() != 0 {
				discrepancies.Add(1)
				t.Errorf("arm found a discrepancy: %+v", r)
			}
			time.Sleep(time.Millisecond)
		}
	}()
	var wg sync.WaitGroup
	for b := 0; b < 16; b++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 60; i++ {
				id := uuid.New()
				q := 1 + rand.IntN(3)
				r, err := g.Reserve(ctx, id, []stockgate.Line{line("A", q)})
				if err != nil {
					t.Error(err)
					return
				}
				if r.Outcome != stockgate.Held {
					continue
				}
				mu.Lock()
				ok := dbAvail >= q
				if ok {
					dbAvail -= q
					status[id] = "reserved"
				}
				mu.Unlock()
				if !ok {
					refusedByDB.Add(1)
					g.Release(ctx, id)
					continue
				}
				mu.Lock()
				if rand.IntN(2) == 0 {
					dbAvail += q
					status[id] = "released"
				} else {
					status[id] = "committed"
				}
				st := status[id]
				mu.Unlock()
				if st == "released" {
					_, err = g.Release(ctx, id)
				} else {
					_, err = g.Commit(ctx, id)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-armerDone
	l := level(t, g, "A")
	if l.Available != dbAvail || l.Held != 0 {
		t.Fatalf("gate %+v, database available %d", l, dbAvail)
	}
	if refusedByDB.Load() != 0 {
		t.Fatalf("the database refused %d gate-held reservations", refusedByDB.Load())
	}
	t.Logf("%d arms during the run, %d discrepancies, database available %d of %d", arms.Load(), discrepancies.Load(), dbAvail, stock)
}
