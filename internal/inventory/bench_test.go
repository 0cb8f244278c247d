package inventory_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/inventory"
)

// BenchmarkReserve: b.N single-unit reservations, each its own checkout, on
// one hot SKU with enough stock for all of them, from GOMAXPROCS×4 parallel
// goroutines (PostgreSQL is the contended party, not the pool).
//
//	go test -run '^$' -bench BenchmarkReserve ./internal/inventory/
func BenchmarkReserve(b *testing.B) {
	for _, s := range inventory.Strategies {
		b.Run(string(s), func(b *testing.B) {
			f := newFixture(b, s)
			f.product("HOT", 1_000_000)
			ids := f.checkouts(b.N)
			exp := f.clock.Now().Add(time.Hour)
			var next, transient atomic.Int64
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					id := ids[next.Add(1)-1]
					_, err := f.store.Reserve(f.ctx, id, []inventory.Line{{SKU: "HOT", Quantity: 1}}, exp)
					if apperr.Is(err, apperr.Transient) {
						transient.Add(1)
						continue
					}
					if err != nil {
						b.Errorf("reserve: %v", err)
						return
					}
				}
			})
			b.StopTimer()
			if n := transient.Load(); n > 0 {
				b.ReportMetric(float64(n), "transient")
			}
		})
	}
}
