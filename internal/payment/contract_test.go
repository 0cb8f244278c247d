package payment_test

import (
	"context"
	"testing"
	"time"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/payment"
	"github.com/checkout-dev/checkout/internal/stripefake"
)

// TestStripeMockAcceptsEveryRequest sends every request the payment package
// makes, through the production adapter, to stripe-mock: Stripe's own mock
// that validates requests against Stripe's OpenAPI specification. It is
// stateless (fixtures only), so only the request shapes are checked here.
func TestStripeMockAcceptsEveryRequest(t *testing.T) {
	t.Parallel()
	url := stripefake.StripeMock(t)
	gw := payment.NewStripe(payment.StripeConfig{SecretKey: "sk_test_123", URL: url, Timeout: 10 * time.Second})
	ctx := context.Background()
	in, err := gw.CreateIntent(ctx, payment.NewIntent{Amount: 2500, Currency: "USD", PaymentMethod: "pm_card_visa",
		CheckoutID: "6f1c3c9e-8a5b-4d35-9d55-1b1f0a6a9d11"}, "contract-create")
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if in.ID == "" {
		t.Fatal("create returned no PaymentIntent id")
	}
	calls := []struct {
		name string
		call func() error
	}{
		{"confirm", func() error {
			_, err := gw.ConfirmIntent(ctx, in.ID, "pm_card_visa", "contract-confirm")
			return err
		}},
		{"retrieve", func() error { _, err := gw.GetIntent(ctx, in.ID); return err }},
		{"refund", func() error { _, err := gw.Refund(ctx, in.ID, 2500, "contract-refund"); return err }},
	}
	for _, c := range calls {
		if err := c.call(); err != nil {
			t.Errorf("%s: stripe-mock refused the request (%v): %v", c.name, apperr.KindOf(err), err)
		}
	}
}
