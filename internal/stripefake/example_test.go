package stripefake_test

import (
	"fmt"

	"github.com/checkout-dev/checkout/internal/stripefake"
	"github.com/stripe/stripe-go/v76"
)

// Serving the fake on loopback and paying through stripe-go's real client.
func Example() {
	fake := stripefake.New(stripefake.Options{})
	url, stop, err := fake.Start("127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer stop()

	sc := stripefake.Client(url)
	params := &stripe.PaymentIntentParams{
		Amount: stripe.Int64(2000), Currency: stripe.String("usd"),
		PaymentMethod: stripe.String("pm_card_visa"), Confirm: stripe.Bool(true),
	}
	params.SetIdempotencyKey("checkout-42")
	pi, err := sc.PaymentIntents.New(params)
	if err != nil {
		panic(err)
	}
	fmt.Println(pi.Status, pi.AmountReceived, len(fake.SuccessfulCharges()))

	_, err = sc.PaymentIntents.New(&stripe.PaymentIntentParams{
		Amount: stripe.Int64(2000), Currency: stripe.String("usd"),
		PaymentMethod: stripe.String("pm_card_chargeDeclined"), Confirm: stripe.Bool(true),
	})
	se := err.(*stripe.Error)
	fmt.Println(se.HTTPStatusCode, se.Code, se.DeclineCode, se.PaymentIntent.Status)
	// Output:
	// succeeded 2000 1
	// 402 card_declined generic_decline requires_payment_method
}
