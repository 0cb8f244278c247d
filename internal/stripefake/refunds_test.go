package stripefake

import (
	"net/http"
	"testing"

	"github.com/stripe/stripe-go/v76"
)

func TestRefundRules(t *testing.T) {
	t.Parallel()
	f, sc := newTest(t)
	pi, err := sc.PaymentIntents.New(piParams(10000, "usd", "pm_card_visa", true))
	if err != nil {
		t.Fatal(err)
	}

	rp := &stripe.RefundParams{PaymentIntent: stripe.String(pi.ID), Amount: stripe.Int64(3000), Reason: stripe.String("requested_by_customer")}
	rp.AddMetadata("return_id", "r1")
	re, err := sc.Refunds.New(rp)
	if err != nil {
		t.Fatal(err)
	}
	if re.Amount != 3000 || re.Currency != "usd" || re.Status != stripe.RefundStatusSucceeded || re.Object != "refund" ||
		re.PaymentIntent == nil || re.PaymentIntent.ID != pi.ID || re.Charge == nil || re.Charge.ID != pi.LatestCharge.ID ||
		re.Metadata["return_id"] != "r1" || re.Reason != "requested_by_customer" {
		t.Fatalf("refund %+v", re)
	}
	got, err := sc.Refunds.Get(re.ID, nil)
	if err != nil || got.ID != re.ID || got.Amount != 3000 {
		t.Fatalf("get refund %v %+v", err, got)
	}

	// Over the remaining 7000: amount_too_large.
	_, err = sc.Refunds.New(&stripe.RefundParams{PaymentIntent: stripe.String(pi.ID), Amount: stripe.Int64(7001)})
	wantErr(t, err, 400, stripe.ErrorTypeInvalidRequest, "amount_too_large", "amount")

	// No amount = the remaining 7000.
	re2, err := sc.Refunds.New(&stripe.RefundParams{PaymentIntent: stripe.String(pi.ID)})
	if err != nil || re2.Amount != 7000 {
		t.Fatalf("remaining refund %v %+v", err, re2)
	}
	// Fully refunded: charge_already_refunded.
	_, err = sc.Refunds.New(&stripe.RefundParams{PaymentIntent: stripe.String(pi.ID), Amount: stripe.Int64(1)})
	wantErr(t, err, 400, stripe.ErrorTypeInvalidRequest, "charge_already_refunded", "")
	if rs := f.RefundsFor(pi.ID); len(rs) != 2 || rs[0].Amount+rs[1].Amount != 10000 {
		t.Fatalf("refunds %+v", rs)
	}
	// The PI still shows the money received; the charge shows it refunded.
	gp := &stripe.PaymentIntentParams{}
	gp.AddExpand("latest_charge")
	pig, err := sc.PaymentIntents.Get(pi.ID, gp)
	if err != nil || pig.AmountReceived != 10000 || !pig.LatestCharge.Refunded || pig.LatestCharge.AmountRefunded != 10000 {
		t.Fatalf("after refunds %v %+v", err, pig.LatestCharge)
	}

	// A PaymentIntent that did not succeed cannot be refunded.
	unpaid, err := sc.PaymentIntents.New(piParams(1000, "usd", "", false))
	if err != nil {
		t.Fatal(err)
	}
	_, err = sc.Refunds.New(&stripe.RefundParams{PaymentIntent: stripe.String(unpaid.ID)})
	wantErr(t, err, 400, stripe.ErrorTypeInvalidRequest, "", "payment_intent")
	_, err = sc.Refunds.New(&stripe.RefundParams{PaymentIntent: stripe.String("pi_nope")})
	wantErr(t, err, http.StatusNotFound, stripe.ErrorTypeInvalidRequest, "resource_missing", "payment_intent")
	_, err = sc.Refunds.Get("re_nope", nil)
	wantErr(t, err, http.StatusNotFound, stripe.ErrorTypeInvalidRequest, "resource_missing", "id")
	_, err = sc.Refunds.New(&stripe.RefundParams{})
	wantErr(t, err, 400, stripe.ErrorTypeInvalidRequest, "parameter_missing", "payment_intent")
	_, err = sc.Refunds.New(&stripe.RefundParams{PaymentIntent: stripe.String(pi.ID), Amount: stripe.Int64(0)})
	wantErr(t, err, 400, stripe.ErrorTypeInvalidRequest, "parameter_invalid_integer", "amount")
	_, err = sc.Refunds.New(&stripe.RefundParams{PaymentIntent: stripe.String(pi.ID), Reason: stripe.String("whim")})
	wantErr(t, err, 400, stripe.ErrorTypeInvalidRequest, "", "reason")

	// Refund by charge id works too.
	pi3, _ := sc.PaymentIntents.New(piParams(800, "usd", "pm_card_visa", true))
	re3, err := sc.Refunds.New(&stripe.RefundParams{Charge: stripe.String(pi3.LatestCharge.ID)})
	if err != nil || re3.Amount != 800 || re3.PaymentIntent.ID != pi3.ID {
		t.Fatalf("refund by charge %v %+v", err, re3)
	}
	if n := len(f.Refunds()); n != 3 {
		t.Fatalf("refund count %d, want 3", n)
	}
}
