package inventory

import (
	"strings"

	"github.com/checkout-dev/checkout/internal/apperr"
)

// Strategy is how [Store.Reserve] takes stock from an inventory row.
type Strategy string

// The strategies; see the package documentation.
const (
	Bucketed    Strategy = "bucketed"    // hot SKUs split over buckets (default)
	Conditional Strategy = "conditional" // one conditional UPDATE per line
	Pessimistic Strategy = "pessimistic" // lock the row, check, then UPDATE
	Optimistic  Strategy = "optimistic"  // versioned UPDATE, bounded retries on conflict
	// Gated: the Redis stock gate (Options.Gate) admits or refuses the whole
	// cart first; admitted lines are taken from the SKU's buckets without the
	// database's availability pre-check. Without a gate, or when the gate is
	// unavailable or the SKU is not armed, it is [Bucketed].
	Gated Strategy = "gated"
)

// Strategies lists every strategy, default first.
var Strategies = []Strategy{Bucketed, Conditional, Pessimistic, Optimistic, Gated}

// DefaultStrategy is the strategy of a zero [Options] and of an empty name.
const DefaultStrategy = Bucketed

// ParseStrategy returns the strategy named s (case-insensitive, surrounding
// space ignored). The empty string means [DefaultStrategy]. Any other name is an
// [apperr.Invalid] error for field "strategy".
func ParseStrategy(s string) (Strategy, error) {
	switch st := Strategy(strings.ToLower(strings.TrimSpace(s))); st {
	case "":
		return DefaultStrategy, nil
	case Bucketed, Conditional, Pessimistic, Optimistic, Gated:
		return st, nil
	}
	return "", apperr.InvalidField("strategy", "unknown inventory strategy %q (want bucketed, conditional, pessimistic, optimistic or gated)", s)
}

func (s Strategy) valid() bool {
	return s == Bucketed || s == Conditional || s == Pessimistic || s == Optimistic || s == Gated
}
