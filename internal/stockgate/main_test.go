package stockgate_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/checkout-dev/checkout/internal/redistest"
	"github.com/checkout-dev/checkout/internal/stockgate"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// clock is a settable clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newGate returns a gate on the package's Redis, in a namespace of the test's
// own.
func newGate(t *testing.T, opts stockgate.Options) (*stockgate.Gate, redis.UniversalClient) {
	t.Helper()
	c, prefix := redistest.NewClient(t)
	return gateOn(t, c, prefix, opts), c
}

func gateOn(t *testing.T, c redis.UniversalClient, prefix string, opts stockgate.Options) *stockgate.Gate {
	t.Helper()
	opts.Namespace = prefix + "gate"
	if opts.Timeout == 0 {
		opts.Timeout = 10 * time.Second // a loaded test machine; the kill test sets its own
	}
	g, err := stockgate.New(c, opts)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func arm(t *testing.T, g *stockgate.Gate, sku string, n int) {
	t.Helper()
	if _, err := g.Arm(context.Background(), stockgate.ArmRequest{SKU: sku, Available: n}); err != nil {
		t.Fatal(err)
	}
}

func level(t *testing.T, g *stockgate.Gate, sku string) stockgate.Level {
	t.Helper()
	l, err := g.Level(context.Background(), sku)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func wantLevel(t *testing.T, g *stockgate.Gate, sku string, available, held int) {
	t.Helper()
	l := level(t, g, sku)
	if !l.Armed || l.Available != available || l.Held != held {
		t.Fatalf("level of %s: %+v; want armed, available %d, held %d", sku, l, available, held)
	}
}

func reserve(t *testing.T, g *stockgate.Gate, id uuid.UUID, lines ...stockgate.Line) stockgate.Result {
	t.Helper()
	r, err := g.Reserve(context.Background(), id, lines)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func line(sku string, q int) stockgate.Line { return stockgate.Line{SKU: sku, Quantity: q} }

func redistestClient(t *testing.T) (redis.UniversalClient, string) { return redistest.NewClient(t) }
