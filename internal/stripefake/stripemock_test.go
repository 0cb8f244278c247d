package stripefake

import (
	"testing"

	"github.com/stripe/stripe-go/v76/client"

	"github.com/stripe/stripe-go/v76"
)

// TestStripeMockContract sends the requests our fake is exercised with
// through stripe-go to Stripe's official stripe-mock, which validates them
// against Stripe's OpenAPI spec: proof that the shapes stripe-go builds are
// real Stripe requests (stripe-mock answers with fixtures).
func TestStripeMockContract(t *testing.T) {
	t.Parallel()
	sc := Client(StripeMock(t))

	p := piParams(2000, "usd", "pm_card_visa", false)
	p.CaptureMethod = stripe.String("automatic")
	p.AddMetadata("checkout_id", "co_1")
	p.Description = stripe.String("contract")
	p.SetIdempotencyKey("mock-create")
	pi, err := sc.PaymentIntents.New(p)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if pi.ID == "" || pi.Object != "payment_intent" {
		t.Fatalf("create answer %+v", pi)
	}
	pi, err = sc.PaymentIntents.Confirm(pi.ID, &stripe.PaymentIntentConfirmParams{PaymentMethod: stripe.String("pm_card_visa")})
	if err != nil {
		t.Fatalf("confirm: %v", err)
	}
	re, err := sc.Refunds.New(&stripe.RefundParams{PaymentIntent: stripe.String(pi.ID), Amount: stripe.Int64(500),
		Reason: stripe.String("requested_by_customer")})
	if err != nil {
		t.Fatalf("refund: %v", err)
	}
	if re.ID == "" || re.Object != "refund" {
		t.Fatalf("refund answer %+v", re)
	}
	// stripe-mock rejects what Stripe rejects at the schema level: an
	// unknown parameter is a 400, as in our fake.
	bad := piParams(2000, "usd", "", false)
	bad.AddExtra("colour", "blue")
	_, err = sc.PaymentIntents.New(bad)
	se := asStripeErr(t, err)
	if se.HTTPStatusCode != 400 {
		t.Fatalf("stripe-mock accepted an unknown parameter: %+v", se)
	}
}

// TestContractAgreesWithStripeMock runs the same requests against the fake
// and stripe-mock and checks both accept or both reject each (stripe-mock
// checks only the schema, so the cases are schema-level).
func TestContractAgreesWithStripeMock(t *testing.T) {
	t.Parallel()
	mock := Client(StripeMock(t))
	_, fake := newTest(t)
	cases := []struct {
		name   string
		accept bool
		run    func(tg contractClient) error
	}{
		{"full create", true, func(c contractClient) error {
			p := piParams(2000, "usd", "pm_card_visa", true)
			p.CaptureMethod = stripe.String("manual")
			p.AddMetadata("checkout_id", "co")
			p.Description = stripe.String("d")
			p.ReturnURL = stripe.String("https://example.test/return")
			p.PaymentMethodTypes = stripe.StringSlice([]string{"card"})
			return c.newPI(p)
		}},
		{"off_session create", true, func(c contractClient) error {
			p := piParams(2000, "usd", "pm_card_visa", true)
			p.OffSession = stripe.Bool(true)
			return c.newPI(p)
		}},
		{"missing amount", false, func(c contractClient) error {
			return c.newPI(&stripe.PaymentIntentParams{Currency: stripe.String("usd")})
		}},
		{"non-integer amount", false, func(c contractClient) error {
			p := &stripe.PaymentIntentParams{Currency: stripe.String("usd")}
			p.AddExtra("amount", "ten")
			return c.newPI(p)
		}},
		{"bad capture_method", false, func(c contractClient) error {
			p := piParams(2000, "usd", "", false)
			p.CaptureMethod = stripe.String("eventually")
			return c.newPI(p)
		}},
		{"unknown parameter", false, func(c contractClient) error {
			p := piParams(2000, "usd", "", false)
			p.AddExtra("colour", "blue")
			return c.newPI(p)
		}},
		{"refund with reason and metadata", true, func(c contractClient) error {
			rp := &stripe.RefundParams{PaymentIntent: stripe.String(c.succeededPI()), Amount: stripe.Int64(100), Reason: stripe.String("duplicate")}
			rp.AddMetadata("r", "1")
			return c.refund(rp)
		}},
		{"refund bad reason", false, func(c contractClient) error {
			return c.refund(&stripe.RefundParams{PaymentIntent: stripe.String(c.succeededPI()), Reason: stripe.String("whim")})
		}},
		{"refund unknown parameter", false, func(c contractClient) error {
			rp := &stripe.RefundParams{PaymentIntent: stripe.String(c.succeededPI())}
			rp.AddExtra("speed", "fast")
			return c.refund(rp)
		}},
		// The read side a reconciliation job uses.
		{"list payment intents by created range", true, func(c contractClient) error {
			lp := &stripe.PaymentIntentListParams{ListParams: stripe.ListParams{Limit: stripe.Int64(3), Single: true},
				CreatedRange: &stripe.RangeQueryParams{GreaterThanOrEqual: 1700000000, LesserThan: 4000000000}}
			lp.AddExpand("data.latest_charge")
			return c.sc.PaymentIntents.List(lp).Err()
		}},
		{"list payment intents unknown parameter", false, func(c contractClient) error {
			lp := &stripe.PaymentIntentListParams{ListParams: stripe.ListParams{Single: true}}
			lp.Filters.AddFilter("colour", "", "blue")
			return c.sc.PaymentIntents.List(lp).Err()
		}},
		{"list payment intents non-integer limit", false, func(c contractClient) error {
			lp := &stripe.PaymentIntentListParams{ListParams: stripe.ListParams{Single: true}}
			lp.Filters.AddFilter("limit", "", "ten")
			return c.sc.PaymentIntents.List(lp).Err()
		}},
		{"search payment intents", true, func(c contractClient) error {
			sp := &stripe.PaymentIntentSearchParams{SearchParams: stripe.SearchParams{
				Query: "metadata['checkout_id']:'co_1' AND status:'succeeded'", Limit: stripe.Int64(5), Single: true}}
			return c.sc.PaymentIntents.Search(sp).Err()
		}},
		{"list refunds of a payment intent", true, func(c contractClient) error {
			rp := &stripe.RefundListParams{ListParams: stripe.ListParams{Limit: stripe.Int64(2), Single: true},
				PaymentIntent: stripe.String(c.succeededPI())}
			return c.sc.Refunds.List(rp).Err()
		}},
		{"list refunds unknown parameter", false, func(c contractClient) error {
			rp := &stripe.RefundListParams{ListParams: stripe.ListParams{Single: true}}
			rp.Filters.AddFilter("speed", "", "fast")
			return c.sc.Refunds.List(rp).Err()
		}},
		{"list events by types", true, func(c contractClient) error {
			ep := &stripe.EventListParams{ListParams: stripe.ListParams{Limit: stripe.Int64(10), Single: true},
				Types: stripe.StringSlice([]string{"payment_intent.succeeded", "charge.refunded"}), DeliverySuccess: stripe.Bool(true)}
			return c.sc.Events.List(ep).Err()
		}},
		{"list events unknown parameter", false, func(c contractClient) error {
			ep := &stripe.EventListParams{ListParams: stripe.ListParams{Single: true}}
			ep.Filters.AddFilter("colour", "", "blue")
			return c.sc.Events.List(ep).Err()
		}},
		{"get event and charge", true, func(c contractClient) error {
			pi := c.succeededPI()
			it := c.sc.Events.List(&stripe.EventListParams{ListParams: stripe.ListParams{Limit: stripe.Int64(1), Single: true}})
			if !it.Next() {
				return it.Err()
			}
			if _, err := c.sc.Events.Get(it.Event().ID, nil); err != nil {
				return err
			}
			got, err := c.sc.PaymentIntents.Get(pi, nil)
			if err != nil {
				return err
			}
			chID := "ch_123" // stripe-mock's PaymentIntent fixture has no charge
			if got.LatestCharge != nil {
				chID = got.LatestCharge.ID
			}
			cp := &stripe.ChargeParams{}
			cp.AddExpand("payment_intent")
			_, err = c.sc.Charges.Get(chID, cp)
			return err
		}},
	}
	clients := map[string]contractClient{"stripe-mock": {mock, t}, "fake": {fake, t}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for name, c := range clients {
				c.t = t
				err := tc.run(c)
				if tc.accept && err != nil {
					t.Errorf("%s rejected: %v", name, err)
				}
				if !tc.accept {
					if se := asStripeErr(t, err); se.HTTPStatusCode != 400 {
						t.Errorf("%s: status %d, want 400", name, se.HTTPStatusCode)
					}
				}
			}
		})
	}
}

type contractClient struct {
	sc *client.API
	t  *testing.T
}

func (c contractClient) newPI(p *stripe.PaymentIntentParams) error {
	_, err := c.sc.PaymentIntents.New(p)
	return err
}

func (c contractClient) refund(p *stripe.RefundParams) error {
	_, err := c.sc.Refunds.New(p)
	return err
}

// succeededPI returns a PaymentIntent id that has a refundable charge.
func (c contractClient) succeededPI() string {
	c.t.Helper()
	pi, err := c.sc.PaymentIntents.New(piParams(5000, "usd", "pm_card_visa", true))
	if err != nil {
		c.t.Fatalf("setup payment: %v", err)
	}
	return pi.ID
}
