// Package sweeper releases stock held by reservations that expired: the
// saga normally releases or commits every hold, and the sweeper catches the
// ones an abandoned or crashed execution left behind.
package sweeper

import (
	"context"
	"log/slog"
	"time"

	"github.com/checkout-dev/checkout/internal/inventory"
)

// BatchSize is how many checkouts one transaction expires.
const BatchSize = 100

// Result is what one sweep did.
type Result struct {
	Released int    `json:"released"`
	Duration string `json:"duration"`
}

// Sweeper expires due reservations.
type Sweeper struct {
	Inventory *inventory.Store
	Log       *slog.Logger
}

// Run expires due reservations in batches until none is left or ctx ends
// (a Lambda's deadline). It is safe to run several at once: each batch
// skips rows another sweeper holds.
func (s *Sweeper) Run(ctx context.Context) (Result, error) {
	start := time.Now()
	var res Result
	for {
		n, err := s.Inventory.ExpireDue(ctx, BatchSize)
		res.Released += n
		if err != nil || n < BatchSize || ctx.Err() != nil {
			res.Duration = time.Since(start).String()
			if s.Log != nil && (res.Released > 0 || err != nil) {
				s.Log.InfoContext(ctx, "sweep", "released", res.Released, "err", err)
			}
			return res, err
		}
	}
}
