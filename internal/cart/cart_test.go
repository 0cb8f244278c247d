package cart_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/cart"
	"github.com/checkout-dev/checkout/internal/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

func newStore(t *testing.T, opts cart.Options) *cart.Store {
	t.Helper()
	c, prefix := redistest.NewClient(t)
	opts.Prefix = prefix
	if opts.Timeout == 0 {
		opts.Timeout = 10 * time.Second
	}
	return cart.New(c, opts)
}

func wantKind(t *testing.T, err error, kind apperr.Kind, field string) {
	t.Helper()
	e := apperr.As(err)
	if e == nil || e.Kind != kind || e.Field != field {
		t.Fatalf("error %v; want %v with field %q", err, kind, field)
	}
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, cart.Options{})
	before := time.Now()
	c, err := s.Create(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if c.ID == uuid.Nil || len(c.Lines) != 0 || c.ExpiresAt.Before(before.Add(24*time.Hour-time.Minute)) || c.ExpiresAt.After(time.Now().Add(24*time.Hour+time.Second)) {
		t.Fatalf("created %+v", c)
	}
	if c, err = s.SetLine(ctx, c.ID, "alice", "TEE-BLACK-M", 2); err != nil {
		t.Fatal(err)
	}
	if c, err = s.SetLine(ctx, c.ID, "alice", "MUG-LOGO", 1); err != nil {
		t.Fatal(err)
	}
	if c, err = s.SetLine(ctx, c.ID, "alice", "TEE-BLACK-M", 3); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(c.Lines) != "[{MUG-LOGO 1} {TEE-BLACK-M 3}]" {
		t.Fatalf("lines %v", c.Lines)
	}
	got, err := s.Get(ctx, c.ID, "alice")
	if err != nil || fmt.Sprint(got.Lines) != fmt.Sprint(c.Lines) || got.Version != c.Version {
		t.Fatalf("get: %+v %v; want %+v", got, err, c)
	}
	if c, err = s.SetLine(ctx, c.ID, "alice", "MUG-LOGO", 0); err != nil || fmt.Sprint(c.Lines) != "[{TEE-BLACK-M 3}]" {
		t.Fatalf("remove: %+v %v", c, err)
	}
	v := c.Version
	if c, err = s.SetLine(ctx, c.ID, "alice", "NOT-THERE", 0); err != nil || c.Version != v {
		t.Fatalf("removing an absent line: %+v %v", c, err)
	}
	if err := s.Delete(ctx, c.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	_, err = s.Get(ctx, c.ID, "alice")
	wantKind(t, err, apperr.NotFound, "")
	wantKind(t, s.Delete(ctx, c.ID, "alice"), apperr.NotFound, "")
}

// Another owner sees nothing and changes nothing.
func TestOwnership(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, cart.Options{})
	c, _ := s.Create(ctx, "alice")
	s.SetLine(ctx, c.ID, "alice", "A", 1)
	_, err := s.Get(ctx, c.ID, "mallory")
	wantKind(t, err, apperr.NotFound, "")
	if e := apperr.As(err); e.Code != "cart_not_found" {
		t.Fatalf("code %q", e.Code)
	}
	_, err = s.SetLine(ctx, c.ID, "mallory", "B", 1)
	wantKind(t, err, apperr.NotFound, "")
	wantKind(t, s.Delete(ctx, c.ID, "mallory"), apperr.NotFound, "")
	if ok, err := s.Clear(ctx, c.ID, "mallory", 0); ok || err != nil {
		t.Fatalf("clear by another owner: %v %v", ok, err)
	}
	got, err := s.Get(ctx, c.ID, "alice")
	if err != nil || fmt.Sprint(got.Lines) != "[{A 1}]" {
		t.Fatalf("alice's cart after mallory: %+v %v", got, err)
	}
	_, err = s.Get(ctx, uuid.New(), "alice")
	wantKind(t, err, apperr.NotFound, "")
}

// A cart not changed for its TTL is gone; a change refreshes the TTL; a read
// does not.
func TestIdleExpiry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const ttl = 600 * time.Millisecond
	s := newStore(t, cart.Options{TTL: ttl})
	srv := redistest.Shared(t)
	sleep := func(d time.Duration) {
		if srv.Embedded() {
			srv.Mini().FastForward(d) // miniredis expires keys on its own clock only
			return
		}
		time.Sleep(d)
	}
	c, err := s.Create(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	sleep(ttl / 2)
	if c, err = s.SetLine(ctx, c.ID, "alice", "A", 1); err != nil { // refreshes
		t.Fatal(err)
	}
	if d := time.Until(c.ExpiresAt); d < ttl/2 || d > ttl {
		t.Fatalf("expires in %s after a change; want about %s", d, ttl)
	}
	sleep(ttl / 2)
	if _, err := s.Get(ctx, c.ID, "alice"); err != nil { // alive: changed ttl/2 ago
		t.Fatalf("get before the idle expiry: %v", err)
	}
	sleep(ttl/2 + 300*time.Millisecond)
	_, err = s.Get(ctx, c.ID, "alice")
	wantKind(t, err, apperr.NotFound, "")
	_, err = s.SetLine(ctx, c.ID, "alice", "A", 2)
	wantKind(t, err, apperr.NotFound, "")
}

// Bad input is refused with the field named and writes nothing.
func TestBadInputWritesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, cart.Options{})
	c, _ := s.Create(ctx, "alice")
	c, _ = s.SetLine(ctx, c.ID, "alice", "A", 1)
	for _, tc := range []struct {
		owner, sku string
		q          int
		field      string
	}{
		{"alice", "", 1, "sku"},
		{"alice", "-A", 1, "sku"},
		{"alice", "A B", 1, "sku"},
		{"alice", "A", -1, "quantity"},
		{"alice", "A", cart.MaxQuantity + 1, "quantity"},
		{"", "A", 1, "owner"},
	} {
		_, err := s.SetLine(ctx, c.ID, tc.owner, tc.sku, tc.q)
		wantKind(t, err, apperr.Invalid, tc.field)
	}
	_, err := s.Create(ctx, "")
	wantKind(t, err, apperr.Invalid, "owner")
	got, _ := s.Get(ctx, c.ID, "alice")
	if fmt.Sprint(got.Lines) != "[{A 1}]" || got.Version != c.Version {
		t.Fatalf("after bad input: %+v; want %+v", got, c)
	}
}

// Concurrent SetLine calls on one cart: no line is lost, and the line limit
// holds exactly.
func TestConcurrentSetLine(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, cart.Options{})
	c, _ := s.Create(ctx, "alice")
	var ok, full atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < cart.MaxLines+50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.SetLine(ctx, c.ID, "alice", fmt.Sprintf("SKU-%03d", i), 1+i%5)
			switch {
			case err == nil:
				ok.Add(1)
			case apperr.As(err) != nil && apperr.As(err).Field == "items":
				full.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got, err := s.Get(ctx, c.ID, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if ok.Load() != cart.MaxLines || full.Load() != 50 || len(got.Lines) != cart.MaxLines || got.Version != 1+cart.MaxLines {
		t.Fatalf("ok %d, full %d, lines %d, version %d", ok.Load(), full.Load(), len(got.Lines), got.Version)
	}
	// Changing an existing line of a full cart is still allowed.
	if _, err := s.SetLine(ctx, c.ID, "alice", got.Lines[0].SKU, 7); err != nil {
		t.Fatal(err)
	}
}

// Clear empties the cart after its checkout, unless it changed since.
func TestClearAfterCheckout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, cart.Options{})
	c, _ := s.Create(ctx, "alice")
	c, _ = s.SetLine(ctx, c.ID, "alice", "A", 1)
	checkoutVersion := c.Version
	c, _ = s.SetLine(ctx, c.ID, "alice", "B", 1) // added while the checkout ran
	if ok, err := s.Clear(ctx, c.ID, "alice", checkoutVersion); ok || err != nil {
		t.Fatalf("clear of a changed cart: %v %v", ok, err)
	}
	if ok, err := s.Clear(ctx, c.ID, "alice", c.Version); !ok || err != nil {
		t.Fatalf("clear: %v %v", ok, err)
	}
	got, err := s.Get(ctx, c.ID, "alice")
	if err != nil || len(got.Lines) != 0 {
		t.Fatalf("after clear: %+v %v", got, err)
	}
	if ok, err := s.Clear(ctx, uuid.New(), "alice", 0); ok || err != nil {
		t.Fatalf("clear of no cart: %v %v", ok, err)
	}
}

// Redis gone: calls fail fast with the Unavailable kind.
func TestRedisDown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := redistest.StartPrivate(t, redistest.Options{})
	c, prefix := redistest.ClientOn(t, srv)
	s := cart.New(c, cart.Options{Prefix: prefix, Timeout: 500 * time.Millisecond})
	ct, err := s.Create(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = s.Get(ctx, ct.ID, "alice")
	if apperr.KindOf(err) != apperr.Unavailable || time.Since(start) > 3*time.Second {
		t.Fatalf("get with Redis down: %v after %s", err, time.Since(start))
	}
}

// On a Redis Cluster (ElastiCache cluster mode, Serverless) a cart is one
// key, so every script is single-slot.
func TestOnRedisCluster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := redistest.StartPrivate(t, redistest.Options{Cluster: true})
	c, prefix := redistest.ClientOn(t, srv)
	s := cart.New(c, cart.Options{Prefix: prefix, Timeout: 10 * time.Second})
	ct, err := s.Create(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if ct, err = s.SetLine(ctx, ct.ID, "alice", "A", 2); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Clear(ctx, ct.ID, "alice", ct.Version); !ok || err != nil {
		t.Fatalf("clear: %v %v", ok, err)
	}
	if err := s.Delete(ctx, ct.ID, "alice"); err != nil {
		t.Fatal(err)
	}
}
