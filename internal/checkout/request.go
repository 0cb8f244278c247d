package checkout

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/checkout-dev/checkout/internal/apperr"
)

// Limits on a cart. They bound the work one request can cause.
const (
	MaxLines    = 100
	MaxQuantity = 1000
	MaxKeyLen   = 255
)

var (
	skuPattern      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)
	pmPattern       = regexp.MustCompile(`^[A-Za-z0-9_]{1,255}$`)
)

// Item is one cart line as the client sends it: no price, prices come from
// the catalog.
type Item struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

// Request is the body of POST /v1/checkouts.
type Request struct {
	Items         []Item `json:"items"`
	Currency      string `json:"currency"`
	PaymentMethod string `json:"payment_method"`
}

// Validate checks the request's shape without touching the database. The
// error is an apperr Invalid naming the first bad field ("items[2].quantity").
func (r Request) Validate() error {
	if err := ValidateItems(r.Items); err != nil {
		return err
	}
	if !currencyPattern.MatchString(r.Currency) {
		return apperr.InvalidField("currency", "must be an ISO-4217 code in upper case, like \"USD\"")
	}
	if r.PaymentMethod == "" {
		return apperr.InvalidField("payment_method", "is required (a Stripe PaymentMethod id like \"pm_card_visa\")")
	}
	if !pmPattern.MatchString(r.PaymentMethod) {
		return apperr.InvalidField("payment_method", "must be a PaymentMethod id like \"pm_card_visa\"")
	}
	return nil
}

// ValidateItems checks cart lines: 1 to MaxLines lines, each SKU well formed
// and listed once, each quantity between 1 and MaxQuantity.
func ValidateItems(items []Item) error {
	if len(items) == 0 {
		return apperr.InvalidField("items", "must list at least one item")
	}
	if len(items) > MaxLines {
		return apperr.InvalidField("items", "has %d lines; at most %d are allowed", len(items), MaxLines)
	}
	seen := make(map[string]int, len(items))
	for i, it := range items {
		field := fmt.Sprintf("items[%d]", i)
		if it.SKU == "" {
			return apperr.InvalidField(field+".sku", "is required")
		}
		if !skuPattern.MatchString(it.SKU) {
			return apperr.InvalidField(field+".sku", "%q is not a valid SKU", it.SKU)
		}
		if j, dup := seen[it.SKU]; dup {
			return apperr.InvalidField(field+".sku", "%q is already listed in items[%d]; list each SKU once with its total quantity", it.SKU, j)
		}
		seen[it.SKU] = i
		if it.Quantity < 1 || it.Quantity > MaxQuantity {
			return apperr.InvalidField(field+".quantity", "must be between 1 and %d, got %d", MaxQuantity, it.Quantity)
		}
	}
	return nil
}

// ValidateKey checks an Idempotency-Key: 1 to 255 printable ASCII characters.
func ValidateKey(key string) error {
	if key == "" {
		return apperr.InvalidField("Idempotency-Key", "header is required")
	}
	if len(key) > MaxKeyLen {
		return apperr.InvalidField("Idempotency-Key", "is %d characters; at most %d are allowed", len(key), MaxKeyLen)
	}
	for _, c := range key {
		if c < 0x21 || c > 0x7e {
			return apperr.InvalidField("Idempotency-Key", "must be printable ASCII without spaces")
		}
	}
	return nil
}

// Fingerprint is the SHA-256 of the canonical request: lines sorted by SKU,
// so the same cart in another order is the same request.
func Fingerprint(r Request) []byte {
	items := append([]Item(nil), r.Items...)
	sort.Slice(items, func(i, j int) bool { return items[i].SKU < items[j].SKU })
	canon, _ := json.Marshal(Request{Items: items, Currency: strings.ToUpper(r.Currency), PaymentMethod: r.PaymentMethod})
	sum := sha256.Sum256(canon)
	return sum[:]
}
