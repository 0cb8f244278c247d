package inventory

import (
	"strings"

	"github.com/checkout-dev/checkout/internal/apperr"
)

// Strategy is how [Store.Reserve] takes stock from an inventory row.
type Strategy string

// The strategies; see the package documentation.
const (
	Conditional Strategy = "conditional" // one conditional UPDATE per line (default)
	Pessimistic Strategy = "pessimistic" // lock the row, check, then UPDATE
	Optimistic  Strategy = "optimistic"  // versioned UPDATE, bounded retries on conflict
)

// Strategies lists every strategy, default first.
var Strategies = []Strategy{Conditional, Pessimistic, Optimistic}

// ParseStrategy returns the strategy named s (case-insensitive, surrounding
// space ignored). The empty string means [Conditional]. Any other name is an
// [apperr.Invalid] error for field "strategy".
func ParseStrategy(s string) (Strategy, error) {
	switch st := Strategy(strings.ToLower(strings.TrimSpace(s))); st {
	case "":
		return Conditional, nil
	case Conditional, Pessimistic, Optimistic:
		return st, nil
	}
	return "", apperr.InvalidField("strategy", "unknown inventory strategy %q (want conditional, pessimistic or optimistic)", s)
}

func (s Strategy) valid() bool {
	return s == Conditional || s == Pessimistic || s == Optimistic
}
