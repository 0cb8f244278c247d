package stripefake

import (
	"net/http"
	"testing"

	"github.com/stripe/stripe-go/v76"
)

func TestCreateConfirmTestCards(t *testing.T) {
	t.Parallel()
	f, sc := newTest(t)
	type want struct {
		status      stripe.PaymentIntentStatus
		httpStatus  int
		code        stripe.ErrorCode
		declineCode stripe.DeclineCode
	}
	cases := []struct {
		pm   string
		want want
	}{
		{"pm_card_visa", want{status: stripe.PaymentIntentStatusSucceeded}},
		{"pm_card_mastercard", want{status: stripe.PaymentIntentStatusSucceeded}},
		{"pm_card_amex", want{status: stripe.PaymentIntentStatusSucceeded}},
		{"pm_card_chargeDeclined", want{stripe.PaymentIntentStatusRequiresPaymentMethod, 402, "card_declined", "generic_decline"}},
		{"pm_card_chargeDeclinedInsufficientFunds", want{stripe.PaymentIntentStatusRequiresPaymentMethod, 402, "card_declined", "insufficient_funds"}},
		{"pm_card_chargeDeclinedExpiredCard", want{stripe.PaymentIntentStatusRequiresPaymentMethod, 402, "expired_card", "expired_card"}},
		{"pm_card_authenticationRequired", want{status: stripe.PaymentIntentStatusRequiresAction}},
	}
	for _, tc := range cases {
		t.Run(tc.pm, func(t *testing.T) {
			t.Parallel()
			params := piParams(2500, "EUR", tc.pm, true)
			params.AddMetadata("checkout_id", "co_"+tc.pm)
			params.Description = stripe.String("order " + tc.pm)
			pi, err := sc.PaymentIntents.New(params)
			if tc.want.httpStatus != 0 {
				se := wantErr(t, err, tc.want.httpStatus, stripe.ErrorTypeCard, tc.want.code, se0(tc.want.code))
				if se.DeclineCode != tc.want.declineCode {
					t.Fatalf("decline_code = %q, want %q", se.DeclineCode, tc.want.declineCode)
				}
				var ce *stripe.CardError
				if ce, _ = se.Err.(*stripe.CardError); ce == nil || ce.DeclineCode != tc.want.declineCode {
					t.Fatalf("typed error = %#v, want *stripe.CardError with decline code", se.Err)
				}
				if se.PaymentIntent == nil || se.PaymentIntent.Status != tc.want.status || se.PaymentIntent.ID == "" {
					t.Fatalf("error.payment_intent = %+v, want status %s", se.PaymentIntent, tc.want.status)
				}
				if se.PaymentIntent.LastPaymentError == nil || se.PaymentIntent.LastPaymentError.DeclineCode != tc.want.declineCode {
					t.Fatalf("last_payment_error = %+v", se.PaymentIntent.LastPaymentError)
				}
				if se.ChargeID == "" || se.PaymentMethod == nil || se.PaymentMethod.Card == nil {
					t.Fatalf("error lacks charge/payment_method: %+v", se)
				}
				// The decline is visible on retrieve, with a failed charge.
				got, err := sc.PaymentIntents.Get(se.PaymentIntent.ID, nil)
				if err != nil {
					t.Fatal(err)
				}
				if got.Status != tc.want.status || got.PaymentMethod != nil || got.LatestCharge == nil || got.LatestCharge.ID != se.ChargeID {
					t.Fatalf("retrieved %+v", got)
				}
				if got.Metadata["checkout_id"] != "co_"+tc.pm {
					t.Fatalf("metadata = %v", got.Metadata)
				}
				return
			}
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			if pi.Status != tc.want.status || pi.Amount != 2500 || pi.Currency != "eur" || pi.Object != "payment_intent" {
				t.Fatalf("pi = %+v", pi)
			}
			if pi.Metadata["checkout_id"] != "co_"+tc.pm || pi.Description != "order "+tc.pm || pi.Livemode {
				t.Fatalf("metadata/description/livemode = %v %q %v", pi.Metadata, pi.Description, pi.Livemode)
			}
			if pi.PaymentMethod == nil || pi.PaymentMethod.ID == "" || pi.PaymentMethod.ID == tc.pm {
				t.Fatalf("payment_method should be a new pm_ id, got %+v", pi.PaymentMethod)
			}
			if pi.ClientSecret == "" || pi.CaptureMethod != "automatic" || pi.ConfirmationMethod != "automatic" {
				t.Fatalf("client_secret/capture/confirmation = %q %q %q", pi.ClientSecret, pi.CaptureMethod, pi.ConfirmationMethod)
			}
			switch tc.want.status {
			case stripe.PaymentIntentStatusSucceeded:
				if pi.AmountReceived != 2500 || pi.LatestCharge == nil || pi.NextAction != nil {
					t.Fatalf("succeeded pi = %+v", pi)
				}
			case stripe.PaymentIntentStatusRequiresAction:
				if pi.NextAction == nil || pi.NextAction.Type != "use_stripe_sdk" || pi.LatestCharge != nil || pi.AmountReceived != 0 {
					t.Fatalf("requires_action pi next_action=%+v latest_charge=%+v", pi.NextAction, pi.LatestCharge)
				}
			}
		})
	}
	t.Cleanup(func() {
		// 3 succeeding cards -> exactly 3 successful charges; 3 failed ones.
		if n := len(f.SuccessfulCharges()); n != 3 {
			t.Errorf("successful charges = %d, want 3", n)
		}
		if n := len(f.Charges()); n != 6 {
			t.Errorf("charges = %d, want 6", n)
		}
	})
}

// se0 gives the param Stripe reports for a decline code.
func se0(code stripe.ErrorCode) string {
	if code == "expired_card" {
		return "exp_month"
	}
	return ""
}

func TestStateMachineTwoStep(t *testing.T) {
	t.Parallel()
	f, sc := newTest(t)

	pi, err := sc.PaymentIntents.New(piParams(1000, "usd", "", false))
	if err != nil {
		t.Fatal(err)
	}
	if pi.Status != stripe.PaymentIntentStatusRequiresPaymentMethod {
		t.Fatalf("status %s", pi.Status)
	}
	// Confirm without a payment method: 400, nothing changes.
	_, err = sc.PaymentIntents.Confirm(pi.ID, nil)
	wantErr(t, err, 400, stripe.ErrorTypeInvalidRequest, "payment_intent_unexpected_state", "payment_method")

	// A decline on confirm, then a retry with a good card succeeds.
	_, err = sc.PaymentIntents.Confirm(pi.ID, &stripe.PaymentIntentConfirmParams{PaymentMethod: stripe.String("pm_card_chargeDeclined")})
	se := wantErr(t, err, 402, stripe.ErrorTypeCard, "card_declined", "")
	if se.PaymentIntent.Status != stripe.PaymentIntentStatusRequiresPaymentMethod {
		t.Fatalf("after decline status %s", se.PaymentIntent.Status)
	}
	pi, err = sc.PaymentIntents.Confirm(pi.ID, &stripe.PaymentIntentConfirmParams{PaymentMethod: stripe.String("pm_card_visa")})
	if err != nil {
		t.Fatal(err)
	}
	if pi.Status != stripe.PaymentIntentStatusSucceeded || pi.LastPaymentError != nil || pi.AmountReceived != 1000 {
		t.Fatalf("after retry %+v", pi)
	}
	// Confirming a succeeded PI: 400 payment_intent_unexpected_state with the PI.
	_, err = sc.PaymentIntents.Confirm(pi.ID, nil)
	se = wantErr(t, err, 400, stripe.ErrorTypeInvalidRequest, "payment_intent_unexpected_state", "")
	if se.PaymentIntent == nil || se.PaymentIntent.ID != pi.ID {
		t.Fatalf("error.payment_intent = %+v", se.PaymentIntent)
	}
	// Cancel of succeeded: same error.
	_, err = sc.PaymentIntents.Cancel(pi.ID, nil)
	wantErr(t, err, 400, stripe.ErrorTypeInvalidRequest, "payment_intent_unexpected_state", "")

	// requires_confirmation with a PM at create, then confirm.
	pi2, err := sc.PaymentIntents.New(piParams(700, "gbp", "pm_card_mastercard", false))
	if err != nil {
		t.Fatal(err)
	}
	if pi2.Status != stripe.PaymentIntentStatusRequiresConfirmation {
		t.Fatalf("status %s", pi2.Status)
	}
	pi2, err = sc.PaymentIntents.Confirm(pi2.ID, nil)
	if err != nil || pi2.Status != stripe.PaymentIntentStatusSucceeded {
		t.Fatalf("confirm: %v %+v", err, pi2)
	}
	if n := len(f.SuccessfulCharges()); n != 2 {
		t.Fatalf("successful charges %d, want 2", n)
	}
	snap, ok := f.PaymentIntent(pi.ID)
	if !ok || snap.Status != "succeeded" || snap.AmountReceived != 1000 {
		t.Fatalf("snapshot %+v", snap)
	}
}

func TestManualCaptureAndCancel(t *testing.T) {
	t.Parallel()
	f, sc := newTest(t)
	newManual := func() *stripe.PaymentIntent {
		p := piParams(5000, "usd", "pm_card_visa", true)
		p.CaptureMethod = stripe.String("manual")
		pi, err := sc.PaymentIntents.New(p)
		if err != nil {
			t.Fatal(err)
		}
		if pi.Status != stripe.PaymentIntentStatusRequiresCapture || pi.AmountCapturable != 5000 || pi.AmountReceived != 0 {
			t.Fatalf("manual pi %+v", pi)
		}
		return pi
	}
	pi := newManual()
	if len(f.SuccessfulCharges()) != 0 {
		t.Fatal("an uncaptured authorization counted as a successful charge")
	}
	_, err := sc.PaymentIntents.Capture(pi.ID, &stripe.PaymentIntentCaptureParams{AmountToCapture: stripe.Int64(6000)})
	wantErr(t, err, 400, stripe.ErrorTypeInvalidRequest, "amount_too_large", "amount_to_capture")
	pi, err = sc.PaymentIntents.Capture(pi.ID, &stripe.PaymentIntentCaptureParams{AmountToCapture: stripe.Int64(4000)})
	if err != nil {
		t.Fatal(err)
	}
	if pi.Status != stripe.PaymentIntentStatusSucceeded || pi.AmountReceived != 4000 || pi.AmountCapturable != 0 {
		t.Fatalf("captured %+v", pi)
	}
	_, err = sc.PaymentIntents.Capture(pi.ID, nil)
	wantErr(t, err, 400, stripe.ErrorTypeInvalidRequest, "payment_intent_unexpected_state", "")
	ch := f.SuccessfulCharges()
	if len(ch) != 1 || ch[0].AmountCaptured != 4000 {
		t.Fatalf("charges %+v", ch)
	}
	// Only the captured 4000 can be refunded.
	_, err = sc.Refunds.New(&stripe.RefundParams{PaymentIntent: stripe.String(pi.ID), Amount: stripe.Int64(4001)})
	wantErr(t, err, 400, stripe.ErrorTypeInvalidRequest, "amount_too_large", "amount")

	// Cancel an authorization.
	pi2 := newManual()
	pi2, err = sc.PaymentIntents.Cancel(pi2.ID, &stripe.PaymentIntentCancelParams{CancellationReason: stripe.String("requested_by_customer")})
	if err != nil {
		t.Fatal(err)
	}
	if pi2.Status != stripe.PaymentIntentStatusCanceled || pi2.CanceledAt == 0 || pi2.CancellationReason != "requested_by_customer" {
		t.Fatalf("canceled %+v", pi2)
	}
	_, err = sc.PaymentIntents.Confirm(pi2.ID, nil)
	wantErr(t, err, 400, stripe.ErrorTypeInvalidRequest, "payment_intent_unexpected_state", "")
	_, err = sc.PaymentIntents.Cancel(pi2.ID, nil)
	wantErr(t, err, 400, stripe.ErrorTypeInvalidRequest, "payment_intent_unexpected_state", "")
	_, err = sc.PaymentIntents.Cancel(pi2.ID, &stripe.PaymentIntentCancelParams{CancellationReason: stripe.String("bored")})
	wantErr(t, err, 400, stripe.ErrorTypeInvalidRequest, "", "cancellation_reason")
}

func TestAuthenticationRequired(t *testing.T) {
	t.Parallel()
	f, sc := newTest(t)
	pi, err := sc.PaymentIntents.New(piParams(1200, "usd", "pm_card_authenticationRequired", true))
	if err != nil || pi.Status != stripe.PaymentIntentStatusRequiresAction {
		t.Fatalf("%v %+v", err, pi)
	}
	if err := f.CompleteAuthentication(pi.ID, true); err != nil {
		t.Fatal(err)
	}
	pi, err = sc.PaymentIntents.Get(pi.ID, nil)
	if err != nil || pi.Status != stripe.PaymentIntentStatusSucceeded || pi.AmountReceived != 1200 {
		t.Fatalf("after 3DS %v %+v", err, pi)
	}
	if err := f.CompleteAuthentication(pi.ID, true); err == nil {
		t.Fatal("authenticating a succeeded PI should fail")
	}

	// Failed authentication.
	pi, _ = sc.PaymentIntents.New(piParams(1200, "usd", "pm_card_authenticationRequired", true))
	if err := f.CompleteAuthentication(pi.ID, false); err != nil {
		t.Fatal(err)
	}
	pi, _ = sc.PaymentIntents.Get(pi.ID, nil)
	if pi.Status != stripe.PaymentIntentStatusRequiresPaymentMethod || pi.LastPaymentError == nil ||
		pi.LastPaymentError.Code != "payment_intent_authentication_failure" {
		t.Fatalf("after failed 3DS %+v", pi)
	}

	// Off-session: declined with authentication_required instead.
	p := piParams(1200, "usd", "pm_card_authenticationRequired", true)
	p.OffSession = stripe.Bool(true)
	_, err = sc.PaymentIntents.New(p)
	se := wantErr(t, err, 402, stripe.ErrorTypeCard, "authentication_required", "")
	if se.DeclineCode != "authentication_required" || se.PaymentIntent.Status != stripe.PaymentIntentStatusRequiresPaymentMethod {
		t.Fatalf("off-session %+v", se)
	}
}

func TestParameterValidation(t *testing.T) {
	t.Parallel()
	f, sc := newTest(t)
	cases := []struct {
		name   string
		params func() *stripe.PaymentIntentParams
		status int
		code   stripe.ErrorCode
		param  string
	}{
		{"missing amount", func() *stripe.PaymentIntentParams {
			return &stripe.PaymentIntentParams{Currency: stripe.String("usd")}
		}, 400, "parameter_missing", "amount"},
		{"missing currency", func() *stripe.PaymentIntentParams {
			return &stripe.PaymentIntentParams{Amount: stripe.Int64(100)}
		}, 400, "parameter_missing", "currency"},
		{"zero amount", func() *stripe.PaymentIntentParams { return piParams(0, "usd", "", false) }, 400, "parameter_invalid_integer", "amount"},
		{"negative amount", func() *stripe.PaymentIntentParams { return piParams(-5, "usd", "", false) }, 400, "parameter_invalid_integer", "amount"},
		{"non-integer amount", func() *stripe.PaymentIntentParams {
			p := &stripe.PaymentIntentParams{Currency: stripe.String("usd")}
			p.AddExtra("amount", "12.50")
			return p
		}, 400, "parameter_invalid_integer", "amount"},
		{"below minimum", func() *stripe.PaymentIntentParams { return piParams(10, "usd", "", false) }, 400, "amount_too_small", "amount"},
		{"unknown currency", func() *stripe.PaymentIntentParams { return piParams(1000, "xyz", "", false) }, 400, "", "currency"},
		{"unknown parameter", func() *stripe.PaymentIntentParams {
			p := piParams(1000, "usd", "", false)
			p.AddExtra("colour", "blue")
			return p
		}, 400, "parameter_unknown", "colour"},
		{"bad capture_method", func() *stripe.PaymentIntentParams {
			p := piParams(1000, "usd", "", false)
			p.CaptureMethod = stripe.String("later")
			return p
		}, 400, "", "capture_method"},
		{"unknown payment method", func() *stripe.PaymentIntentParams { return piParams(1000, "usd", "pm_nope", true) }, 400, "resource_missing", "payment_method"},
		{"confirm without payment method", func() *stripe.PaymentIntentParams { return piParams(1000, "usd", "", true) }, 400, "parameter_missing", "payment_method"},
		{"bad expand", func() *stripe.PaymentIntentParams {
			p := piParams(1000, "usd", "", false)
			p.AddExpand("customer.invoice")
			return p
		}, 400, "", "expand"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := sc.PaymentIntents.New(tc.params())
			wantErr(t, err, tc.status, stripe.ErrorTypeInvalidRequest, tc.code, tc.param)
		})
	}
	t.Cleanup(func() {
		if n := len(f.PaymentIntents()); n != 0 {
			t.Errorf("invalid requests created %d PaymentIntents", n)
		}
	})
}

func TestRetrieveAndExpand(t *testing.T) {
	t.Parallel()
	_, sc := newTest(t)
	_, err := sc.PaymentIntents.Get("pi_missing", nil)
	wantErr(t, err, http.StatusNotFound, stripe.ErrorTypeInvalidRequest, "resource_missing", "intent")

	pi, err := sc.PaymentIntents.New(piParams(3000, "usd", "pm_card_amex", true))
	if err != nil {
		t.Fatal(err)
	}
	gp := &stripe.PaymentIntentParams{}
	gp.AddExpand("latest_charge")
	gp.AddExpand("payment_method")
	got, err := sc.PaymentIntents.Get(pi.ID, gp)
	if err != nil {
		t.Fatal(err)
	}
	if got.LatestCharge == nil || got.LatestCharge.Amount != 3000 || !got.LatestCharge.Captured || got.LatestCharge.Status != "succeeded" {
		t.Fatalf("expanded charge %+v", got.LatestCharge)
	}
	if got.PaymentMethod == nil || got.PaymentMethod.Card == nil || got.PaymentMethod.Card.Brand != "amex" {
		t.Fatalf("expanded payment method %+v", got.PaymentMethod)
	}
	pm, err := sc.PaymentMethods.Get(pi.PaymentMethod.ID, nil)
	if err != nil || pm.Card.Last4 != "8431" {
		t.Fatalf("payment method get %v %+v", err, pm)
	}
}
