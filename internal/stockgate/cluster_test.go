package stockgate_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/internal/redistest"
	"github.com/checkout-dev/checkout/internal/stockgate"
)

// The gate on a Redis Cluster (one node owning every slot, spoken to with
// the cluster protocol as ElastiCache cluster mode and Serverless are): a
// multi-SKU cart is one script because every key shares the gate's hash
// tag. The control shows the same script with untagged keys is refused.
func TestOnRedisCluster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := redistest.StartPrivate(t, redistest.Options{Cluster: true})
	c, prefix := redistest.ClientOn(t, srv)
	err := c.Eval(ctx, "return redis.call('MSET', KEYS[1], 1, KEYS[2], 1)", []string{prefix + "sku:A", prefix + "sku:B"}).Err()
	if err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Fatalf("control: untagged keys in one script: %v; want CROSSSLOT", err)
	}
	g := gateOn(t, c, prefix, stockgate.Options{})
	for _, sku := range []string{"A", "B", "C"} {
		arm(t, g, sku, 5)
	}
	x, y := uuid.New(), uuid.New()
	if r := reserve(t, g, x, line("A", 2), line("B", 1), line("C", 5)); r.Outcome != stockgate.Held || len(r.Lines) != 3 {
		t.Fatalf("cart of 3 SKUs: %+v", r)
	}
	if r := reserve(t, g, y, line("A", 1), line("C", 1)); r.Outcome != stockgate.OutOfStock || r.Short.SKU != "C" {
		t.Fatalf("short cart: %+v", r)
	}
	if r, err := g.Arm(ctx, stockgate.ArmRequest{SKU: "A", Available: 5}); err != nil || r.Available != 3 || r.Uncounted != 2 {
		t.Fatalf("arm: %+v %v", r, err)
	}
	if s, err := g.Release(ctx, x); err != nil || fmt.Sprint(s.Lines) != "[{A 2} {B 1} {C 5}]" {
		t.Fatalf("release: %+v %v", s, err)
	}
	if _, err := g.Expire(ctx, 10); err != nil {
		t.Fatal(err)
	}
	snap, err := g.Snapshot(ctx)
	if err != nil || fmt.Sprint(snap) != "[{A true 5 0} {B true 5 0} {C true 5 0}]" {
		t.Fatalf("snapshot: %v %v", snap, err)
	}
}
