package stockgate_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/stockgate"
)

// 1,000 concurrent buyers of one unit, 100 units: exactly 100 are held, 900
// are told out of stock, and the gate's figures add up.
func TestThousandBuyersHundredUnits(t *testing.T) {
	t.Parallel()
	g, _ := newGate(t, stockgate.Options{})
	arm(t, g, "HOT", 100)
	var held, short, other atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < 1000; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r, err := g.Reserve(context.Background(), uuid.New(), []stockgate.Line{line("HOT", 1)})
			switch {
			case err != nil:
				t.Error(err)
				other.Add(1)
			case r.Outcome == stockgate.Held:
				held.Add(1)
			case r.Outcome == stockgate.OutOfStock && r.Short.SKU == "HOT" && r.Short.Available == 0:
				short.Add(1)
			default:
				other.Add(1)
				t.Errorf("unexpected result %+v", r)
			}
		}()
	}
	close(start)
	wg.Wait()
	if held.Load() != 100 || short.Load() != 900 || other.Load() != 0 {
		t.Fatalf("held %d, out of stock %d, other %d; want 100, 900, 0", held.Load(), short.Load(), other.Load())
	}
	wantLevel(t, g, "HOT", 0, 100)
}

// A cart is held whole or not at all; the shortage names the SKU and what is
// left; SKUs that are not armed pass through as ungated.
func TestCartAllOrNothing(t *testing.T) {
	t.Parallel()
	g, _ := newGate(t, stockgate.Options{})
	arm(t, g, "A", 5)
	arm(t, g, "B", 1)
	r := reserve(t, g, uuid.New(), line("B", 2), line("A", 2))
	if r.Outcome != stockgate.OutOfStock || *r.Short != (stockgate.Shortage{SKU: "B", Requested: 2, Available: 1}) {
		t.Fatalf("short cart: %+v", r)
	}
	if e := apperr.As(r.Err()); e == nil || e.Kind != apperr.OutOfStock || e.Details["sku"] != "B" || e.Details["available"] != 1 {
		t.Fatalf("Err(): %v", r.Err())
	}
	wantLevel(t, g, "A", 5, 0)
	wantLevel(t, g, "B", 1, 0)

	r = reserve(t, g, uuid.New(), line("C", 3), line("B", 1), line("A", 2))
	if r.Outcome != stockgate.Held || fmt.Sprint(r.Lines) != "[{A 2} {B 1}]" || fmt.Sprint(r.Ungated) != "[{C 3}]" {
		t.Fatalf("mixed cart: %+v", r)
	}
	if r.Err() != nil {
		t.Fatal(r.Err())
	}
	wantLevel(t, g, "A", 3, 2)
	wantLevel(t, g, "B", 0, 1)
	if l := level(t, g, "C"); l.Armed || l.Held != 0 {
		t.Fatalf("C: %+v, want not armed and nothing held", l)
	}
}

// No armed SKU: NotArmed and nothing written, so the same checkout can be
// gated once the SKU is armed.
func TestNotArmedWritesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g, _ := newGate(t, stockgate.Options{})
	id := uuid.New()
	r := reserve(t, g, id, line("COLD", 1))
	if r.Outcome != stockgate.NotArmed || len(r.Ungated) != 1 {
		t.Fatalf("%+v", r)
	}
	snap, err := g.Snapshot(ctx)
	if err != nil || len(snap) != 0 {
		t.Fatalf("snapshot after NotArmed: %v %v", snap, err)
	}
	arm(t, g, "COLD", 1)
	if r := reserve(t, g, id, line("COLD", 1)); r.Outcome != stockgate.Held || r.Replayed {
		t.Fatalf("after arming: %+v", r)
	}
}

// A retried Reserve never takes twice, sequentially or concurrently; a retry
// with other lines is a conflict.
func TestReserveIsIdempotent(t *testing.T) {
	t.Parallel()
	g, _ := newGate(t, stockgate.Options{})
	arm(t, g, "A", 10)
	arm(t, g, "B", 10)
	id := uuid.New()
	first := reserve(t, g, id, line("A", 2), line("B", 1))
	if first.Outcome != stockgate.Held || first.Replayed {
		t.Fatalf("first: %+v", first)
	}
	for i := 0; i < 5; i++ {
		r := reserve(t, g, id, line("B", 1), line("A", 2))
		if r.Outcome != stockgate.Held || !r.Replayed || fmt.Sprint(r.Lines) != "[{A 2} {B 1}]" || !r.Until.Equal(first.Until.Truncate(time.Millisecond)) {
			t.Fatalf("retry %d: %+v (first until %v)", i, r, first.Until)
		}
	}
	// 20 concurrent duplicates of a new checkout: one take.
	dup := uuid.New()
	var fresh atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := g.Reserve(context.Background(), dup, []stockgate.Line{line("A", 3)})
			if err != nil || r.Outcome != stockgate.Held {
				t.Errorf("%+v %v", r, err)
			}
			if !r.Replayed {
				fresh.Add(1)
			}
		}()
	}
	wg.Wait()
	if fresh.Load() != 1 {
		t.Fatalf("%d calls took stock; want 1", fresh.Load())
	}
	wantLevel(t, g, "A", 5, 5)
	_, err := g.Reserve(context.Background(), id, []stockgate.Line{line("A", 3), line("B", 1)})
	if e := apperr.As(err); e == nil || e.Kind != apperr.Conflict || e.Code != "gate_hold_mismatch" {
		t.Fatalf("retry with other lines: %v", err)
	}
}

// Release returns the units once; Commit keeps them sold; both are
// idempotent; a Reserve after either takes nothing, even when the Release
// came first (a late duplicate).
func TestReleaseAndCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g, _ := newGate(t, stockgate.Options{})
	arm(t, g, "A", 10)
	arm(t, g, "B", 10)
	rel, com := uuid.New(), uuid.New()
	reserve(t, g, rel, line("A", 2), line("B", 3))
	reserve(t, g, com, line("A", 4))
	wantLevel(t, g, "A", 4, 6)

	s, err := g.Release(ctx, rel)
	if err != nil || s.Previous != stockgate.StateHeld || fmt.Sprint(s.Lines) != "[{A 2} {B 3}]" {
		t.Fatalf("release: %+v %v", s, err)
	}
	wantLevel(t, g, "A", 6, 4)
	wantLevel(t, g, "B", 10, 0)
	if s, err := g.Release(ctx, rel); err != nil || s.Previous != stockgate.StateReleased || len(s.Lines) != 0 {
		t.Fatalf("second release: %+v %v", s, err)
	}
	if s, err := g.Commit(ctx, rel); err != nil || s.Previous != stockgate.StateReleased {
		t.Fatalf("commit after release: %+v %v", s, err)
	}
	wantLevel(t, g, "A", 6, 4)

	if s, err := g.Commit(ctx, com); err != nil || s.Previous != stockgate.StateHeld || fmt.Sprint(s.Lines) != "[{A 4}]" {
		t.Fatalf("commit: %+v %v", s, err)
	}
	wantLevel(t, g, "A", 6, 0)
	if s, err := g.Release(ctx, com); err != nil || s.Previous != stockgate.StateCommitted {
		t.Fatalf("release after commit: %+v %v", s, err)
	}
	wantLevel(t, g, "A", 6, 0)

	for id, code := range map[uuid.UUID]string{rel: "gate_hold_released", com: "gate_hold_committed"} {
		_, err := g.Reserve(ctx, id, []stockgate.Line{line("A", 1)})
		if e := apperr.As(err); e == nil || e.Kind != apperr.State || e.Code != code {
			t.Fatalf("reserve after settle: %v; want %s", err, code)
		}
	}
	// The compensation's Release overtook its Reserve.
	late := uuid.New()
	if s, err := g.Release(ctx, late); err != nil || s.Previous != stockgate.StateNone {
		t.Fatalf("release of nothing: %+v %v", s, err)
	}
	if _, err := g.Reserve(ctx, late, []stockgate.Line{line("A", 1)}); apperr.KindOf(err) != apperr.State {
		t.Fatalf("late reserve: %v", err)
	}
	wantLevel(t, g, "A", 6, 0)
}

// Expire returns holds past their deadline, and only those.
func TestExpireReturnsUnitsAfterTheDeadline(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := &clock{t: time.Now()}
	g, _ := newGate(t, stockgate.Options{HoldFor: 20 * time.Minute, Now: clk.Now})
	arm(t, g, "A", 10)
	old, young, released := uuid.New(), uuid.New(), uuid.New()
	reserve(t, g, old, line("A", 3))
	reserve(t, g, released, line("A", 1))
	clk.Add(10 * time.Minute)
	reserve(t, g, young, line("A", 2))
	if _, err := g.Release(ctx, released); err != nil {
		t.Fatal(err)
	}
	if ex, err := g.Expire(ctx, 100); err != nil || len(ex) != 0 {
		t.Fatalf("nothing is due yet: %v %v", ex, err)
	}
	clk.Add(10*time.Minute + time.Millisecond)
	ex, err := g.Expire(ctx, 100)
	if err != nil || len(ex) != 1 || ex[0].CheckoutID != old || fmt.Sprint(ex[0].Lines) != "[{A 3}]" {
		t.Fatalf("expire: %v %v", ex, err)
	}
	wantLevel(t, g, "A", 8, 2)
	if ex, err := g.Expire(ctx, 100); err != nil || len(ex) != 0 {
		t.Fatalf("second expire: %v %v", ex, err)
	}
	if s, err := g.Release(ctx, old); err != nil || s.Previous != stockgate.StateExpired {
		t.Fatalf("release after expiry: %+v %v", s, err)
	}
	wantLevel(t, g, "A", 8, 2)
}

// Bad input is refused with the field named, and nothing is written.
func TestBadInputWritesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g, _ := newGate(t, stockgate.Options{})
	arm(t, g, "A", 10)
	many := make([]stockgate.Line, stockgate.MaxLines+1)
	for i := range many {
		many[i] = line(fmt.Sprintf("S%d", i), 1)
	}
	for _, c := range []struct {
		id    uuid.UUID
		lines []stockgate.Line
		field string
	}{
		{uuid.Nil, []stockgate.Line{line("A", 1)}, "checkout_id"},
		{uuid.New(), nil, "items"},
		{uuid.New(), many, "items"},
		{uuid.New(), []stockgate.Line{line("A", 1), line("bad sku", 1)}, "items[1].sku"},
		{uuid.New(), []stockgate.Line{line("A", 1), line("A", 2)}, "items[1].sku"},
		{uuid.New(), []stockgate.Line{line("A", 0)}, "items[0].quantity"},
		{uuid.New(), []stockgate.Line{line("A", stockgate.MaxQuantity+1)}, "items[0].quantity"},
	} {
		_, err := g.Reserve(ctx, c.id, c.lines)
		if e := apperr.As(err); e == nil || e.Kind != apperr.Invalid || e.Field != c.field {
			t.Errorf("%v: %v; want invalid %s", c.lines, err, c.field)
		}
	}
	for _, req := range []stockgate.ArmRequest{{SKU: "", Available: 1}, {SKU: "A", Available: -1}} {
		if _, err := g.Arm(ctx, req); apperr.KindOf(err) != apperr.Invalid {
			t.Errorf("Arm(%+v): %v", req, err)
		}
	}
	if _, err := g.Level(ctx, "x y"); apperr.KindOf(err) != apperr.Invalid {
		t.Errorf("Level: %v", err)
	}
	if _, err := g.Release(ctx, uuid.Nil); apperr.KindOf(err) != apperr.Invalid {
		t.Errorf("Release: %v", err)
	}
	wantLevel(t, g, "A", 10, 0)
	if _, err := stockgate.New(nil, stockgate.Options{Namespace: "a{b}"}); err == nil {
		t.Error("namespace with braces accepted")
	}
}

// Every key of the gate carries the namespace's hash tag, so the whole gate
// lives in one Redis Cluster slot (and multi-SKU carts work there).
func TestEveryKeyHasTheHashTag(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, prefix := redistestClient(t)
	g := gateOn(t, c, prefix, stockgate.Options{})
	arm(t, g, "A", 3)
	arm(t, g, "B", 3)
	id := uuid.New()
	reserve(t, g, id, line("A", 1), line("B", 1))
	if _, err := g.Release(ctx, uuid.New()); err != nil {
		t.Fatal(err)
	}
	keys, err := c.Keys(ctx, "*"+prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) < 5 {
		t.Fatalf("keys: %v", keys)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "{"+prefix+"gate}:") {
			t.Errorf("key %q outside the hash tag", k)
		}
	}
}
