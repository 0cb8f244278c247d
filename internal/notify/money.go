// Package notify renders the order confirmation e-mail and hands it to a
// Sender: Amazon SES v2 in production, the outbox_emails table locally.
package notify

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/checkout-dev/checkout/internal/events"
)

// FormatMoney formats an amount in minor units with the currency's ISO 4217
// exponent, using integer arithmetic only: (199999, "USD") is
// "1,999.99 USD", (1500, "JPY") is "1,500 JPY", (1234, "KWD") is
// "1.234 KWD". An unknown currency is formatted with exponent 2.
func FormatMoney(amount int64, currency string) string {
	exp, ok := events.CurrencyExponent(currency)
	if !ok {
		exp = 2
	}
	neg := amount < 0
	// Work on the decimal string so that math.MinInt64 needs no negation.
	digits := strconv.FormatInt(amount, 10)
	digits = strings.TrimPrefix(digits, "-")
	if len(digits) <= exp {
		digits = strings.Repeat("0", exp-len(digits)+1) + digits
	}
	whole, frac := digits[:len(digits)-exp], digits[len(digits)-exp:]
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if exp > 0 {
		b.WriteByte('.')
		b.WriteString(frac)
	}
	return fmt.Sprintf("%s %s", b.String(), currency)
}
