package partition

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Keeper keeps the months ahead partitioned: the sweeper runs it.
type Keeper struct {
	Pool *pgxpool.Pool
	// MonthsAhead after the current month to keep partitioned (0:
	// DefaultMonthsAhead).
	MonthsAhead int
	// Now is the clock (nil: time.Now); tests move it.
	Now func() time.Time
}

// Outcome is what one Run did and found.
type Outcome struct {
	Created int // partitions made by this run
	// Ahead is how many months after the current one every table has
	// partitioned (Ahead of the partitions found after the run).
	Ahead int
}

// Run ensures the partitions of the current month and of the months ahead,
// then measures how far ahead they reach. Errors: Ensure's, List's.
func (k *Keeper) Run(ctx context.Context) (Outcome, error) {
	now := time.Now()
	if k.Now != nil {
		now = k.Now()
	}
	months := k.MonthsAhead
	if months == 0 {
		months = DefaultMonthsAhead
	}
	created, err := Ensure(ctx, k.Pool, now, months)
	if err != nil {
		return Outcome{}, err
	}
	parts, err := List(ctx, k.Pool)
	if err != nil {
		return Outcome{Created: created}, err
	}
	return Outcome{Created: created, Ahead: Ahead(parts, now)}, nil
}
