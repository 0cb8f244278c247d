package stripefake

import (
	"errors"
	"testing"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
)

// newTest serves a fresh fake and returns it with a stripe-go client.
func newTest(t *testing.T) (*Fake, *client.API) {
	t.Helper()
	f := StartTest(t)
	return f, f.Client()
}

// asStripeErr asserts err is a *stripe.Error decoded from the fake.
func asStripeErr(t *testing.T, err error) *stripe.Error {
	t.Helper()
	if err == nil {
		t.Fatal("expected an error, got nil")
	}
	var se *stripe.Error
	if !errors.As(err, &se) {
		t.Fatalf("error %T %v is not a *stripe.Error", err, err)
	}
	return se
}

func piParams(amount int64, cur, pm string, confirm bool) *stripe.PaymentIntentParams {
	p := &stripe.PaymentIntentParams{Amount: stripe.Int64(amount), Currency: stripe.String(cur)}
	if pm != "" {
		p.PaymentMethod = stripe.String(pm)
	}
	if confirm {
		p.Confirm = stripe.Bool(true)
	}
	return p
}

func wantErr(t *testing.T, err error, status int, typ stripe.ErrorType, code stripe.ErrorCode, param string) *stripe.Error {
	t.Helper()
	se := asStripeErr(t, err)
	if se.HTTPStatusCode != status || se.Type != typ || se.Code != code || se.Param != param {
		t.Fatalf("got status=%d type=%q code=%q param=%q (msg %q); want %d %q %q %q",
			se.HTTPStatusCode, se.Type, se.Code, se.Param, se.Msg, status, typ, code, param)
	}
	if se.RequestID == "" || se.Msg == "" {
		t.Fatalf("error lacks request id or message: %+v", se)
	}
	return se
}
