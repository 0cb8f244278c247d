package inventory

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/internal/apperr"
)

// skuPattern is the products.sku CHECK constraint.
var skuPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// validateReserve checks a Reserve request without touching the database and
// returns the lines sorted by SKU. Fields are named JSON-path style after the
// checkout request body ("items", "items[2].quantity"); indexes refer to the
// caller's order.
func validateReserve(checkoutID uuid.UUID, lines []Line, expiresAt, now time.Time) ([]Line, error) {
	if checkoutID == uuid.Nil {
		return nil, apperr.InvalidField("checkout_id", "is required")
	}
	switch {
	case len(lines) == 0:
		return nil, apperr.InvalidField("items", "must hold at least one line")
	case len(lines) > MaxLines:
		return nil, apperr.InvalidField("items", "must hold at most %d lines, got %d", MaxLines, len(lines))
	}
	seen := make(map[string]int, len(lines))
	for i, l := range lines {
		field := fmt.Sprintf("items[%d]", i)
		if !skuPattern.MatchString(l.SKU) {
			return nil, apperr.InvalidField(field+".sku", "malformed SKU %q", l.SKU)
		}
		if j, dup := seen[l.SKU]; dup {
			return nil, apperr.InvalidField(field+".sku", "duplicate SKU %q (already in items[%d])", l.SKU, j)
		}
		seen[l.SKU] = i
		if l.Quantity < 1 || l.Quantity > MaxQuantity {
			return nil, apperr.InvalidField(field+".quantity", "must be between 1 and %d, got %d", MaxQuantity, l.Quantity)
		}
	}
	if !expiresAt.After(now) {
		return nil, apperr.InvalidField("expires_at", "must be in the future")
	}
	sorted := slices.Clone(lines)
	slices.SortFunc(sorted, func(a, b Line) int { return strings.Compare(a.SKU, b.SKU) })
	return sorted, nil
}

// validateSKU checks a single SKU argument.
func validateSKU(sku string) error {
	if !skuPattern.MatchString(sku) {
		return apperr.InvalidField("sku", "malformed SKU %q", sku)
	}
	return nil
}
