package stockgate_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/internal/redistest"
	"github.com/checkout-dev/checkout/internal/stockgate"
)

// BenchmarkReserve: one Reserve of one unit of a hot SKU per operation, from
// GOMAXPROCS goroutines on one client (go test -bench Reserve -run '^$').
// cmd/gatebench measures the Lambda shape (a connection per buyer).
func BenchmarkReserve(b *testing.B) {
	c, prefix := redistest.NewClient(b)
	g, err := stockgate.New(c, stockgate.Options{Namespace: prefix + "gate"})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := g.Arm(ctx, stockgate.ArmRequest{SKU: "HOT", Available: stockgate.MaxAvailable}); err != nil {
		b.Fatal(err)
	}
	lines := []stockgate.Line{{SKU: "HOT", Quantity: 1}}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if r, err := g.Reserve(ctx, uuid.New(), lines); err != nil || r.Outcome != stockgate.Held {
				b.Error(r, err)
				return
			}
		}
	})
}

// BenchmarkReserveSoldOut: one refused Reserve per operation.
func BenchmarkReserveSoldOut(b *testing.B) {
	c, prefix := redistest.NewClient(b)
	g, err := stockgate.New(c, stockgate.Options{Namespace: prefix + "gate"})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := g.Arm(ctx, stockgate.ArmRequest{SKU: "HOT", Available: 0}); err != nil {
		b.Fatal(err)
	}
	lines := []stockgate.Line{{SKU: "HOT", Quantity: 1}}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if r, err := g.Reserve(ctx, uuid.New(), lines); err != nil || r.Outcome != stockgate.OutOfStock {
				b.Error(r, err)
				return
			}
		}
	})
}
