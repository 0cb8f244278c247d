package stripefake

import (
	"encoding/json"
	"testing"

	"github.com/stripe/stripe-go/v76"
)

func TestAsyncRefundTestCards(t *testing.T) {
	t.Parallel()
	cases := []struct {
		pm                string
		initial, final    stripe.RefundStatus
		failureReason     string
		refundedAfter     int64 // charge.amount_refunded once settled
		events            []string
		refundableAgain   bool
		initialRefundedCh int64
	}{
		{"pm_card_refundFail", stripe.RefundStatusSucceeded, stripe.RefundStatusFailed, "expired_or_canceled_card", 0,
			[]string{"refund.created", "charge.refunded", "refund.updated", "charge.refund.updated", "refund.failed"}, true, 3000},
		{"pm_card_pendingRefund", stripe.RefundStatusPending, stripe.RefundStatusSucceeded, "", 3000,
			[]string{"refund.created", "charge.refunded", "refund.updated", "charge.refund.updated"}, false, 3000},
		{"pm_card_visa", stripe.RefundStatusSucceeded, stripe.RefundStatusSucceeded, "", 3000,
			[]string{"refund.created", "charge.refunded"}, false, 3000},
	}
	for _, tc := range cases {
		t.Run(tc.pm, func(t *testing.T) {
			t.Parallel()
			rc := newReceiver(t)
			f := webhookFake(t, rc)
			sc := mirroredClient(t, f)
			pi := mustPI(t, sc, piParams(5000, "usd", tc.pm, true))
			if pi.Status != stripe.PaymentIntentStatusSucceeded {
				t.Fatalf("the charge should succeed: %s", pi.Status)
			}
			re, err := sc.Refunds.New(&stripe.RefundParams{PaymentIntent: stripe.String(pi.ID), Amount: stripe.Int64(3000)})
			if err != nil || re.Status != tc.initial {
				t.Fatalf("refund: %v %+v", err, re)
			}
			ch, err := sc.Charges.Get(pi.LatestCharge.ID, nil)
			if err != nil || ch.AmountRefunded != tc.initialRefundedCh {
				t.Fatalf("charge right after the refund: %v %+v", err, ch)
			}
			waitIdle(t, f)
			got, err := sc.Refunds.Get(re.ID, nil)
			if err != nil || got.Status != tc.final || string(got.FailureReason) != tc.failureReason {
				t.Fatalf("refund later: %v %+v", err, got)
			}
			if ch, _ = sc.Charges.Get(pi.LatestCharge.ID, nil); ch.AmountRefunded != tc.refundedAfter {
				t.Fatalf("charge amount_refunded %d, want %d", ch.AmountRefunded, tc.refundedAfter)
			}
			var refundEvents []string
			for _, ty := range rc.types() {
				if ty == "refund.created" || ty == "charge.refunded" || ty == "refund.updated" || ty == "charge.refund.updated" || ty == "refund.failed" {
					refundEvents = append(refundEvents, ty)
				}
			}
			if !equalStrings(refundEvents, tc.events) {
				t.Fatalf("events %v\nwant   %v", refundEvents, tc.events)
			}
			if upd := f.EventsOfType("refund.updated"); len(upd) == 1 {
				var ev stripe.Event
				if err := json.Unmarshal(upd[0].Payload, &ev); err != nil || ev.Data.PreviousAttributes["status"] != string(tc.initial) ||
					ev.Data.Object["status"] != string(tc.final) {
					t.Fatalf("refund.updated %v %+v", err, ev.Data)
				}
			}
			// A failed refund returns the money to the refundable amount:
			// the whole 5000 can be refunded again.
			if tc.refundableAgain {
				re2, err := sc.Refunds.New(&stripe.RefundParams{PaymentIntent: stripe.String(pi.ID)})
				if err != nil || re2.Amount != 5000 {
					t.Fatalf("refund after the failure: %v %+v", err, re2)
				}
			} else {
				_, err := sc.Refunds.New(&stripe.RefundParams{PaymentIntent: stripe.String(pi.ID), Amount: stripe.Int64(2001)})
				wantErr(t, err, 400, stripe.ErrorTypeInvalidRequest, "amount_too_large", "amount")
			}
		})
	}
}

func TestCreateDisputeTestCard(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	f := webhookFake(t, rc)
	sc := mirroredClient(t, f)
	pi := mustPI(t, sc, piParams(7300, "eur", "pm_card_createDispute", true))
	if pi.Status != stripe.PaymentIntentStatusSucceeded {
		t.Fatalf("the charge should succeed: %s", pi.Status)
	}
	waitIdle(t, f)
	ds := f.Disputes()
	if len(ds) != 1 || ds[0].Charge != pi.LatestCharge.ID || ds[0].PaymentIntent != pi.ID || ds[0].Amount != 7300 ||
		ds[0].Currency != "eur" || ds[0].Reason != "fraudulent" || ds[0].Status != "needs_response" || ds[0].ID[:3] != "du_" {
		t.Fatalf("disputes %+v", ds)
	}
	ch, err := sc.Charges.Get(pi.LatestCharge.ID, nil)
	if err != nil || !ch.Disputed || ch.Status != "succeeded" {
		t.Fatalf("charge %v %+v", err, ch)
	}
	evs := rc.received()
	last := evs[len(evs)-1]
	var dp stripe.Dispute
	if err := dp.UnmarshalJSON(last.Data.Raw); err != nil || last.Type != "charge.dispute.created" || dp.ID != ds[0].ID ||
		dp.Amount != 7300 || dp.Status != stripe.DisputeStatusNeedsResponse || dp.Reason != stripe.DisputeReasonFraudulent ||
		dp.Charge == nil || dp.Charge.ID != ch.ID {
		t.Fatalf("last event %s: %v %+v", last.Type, err, dp)
	}
	// A charged-back charge cannot be refunded as well.
	_, err = sc.Refunds.New(&stripe.RefundParams{PaymentIntent: stripe.String(pi.ID)})
	wantErr(t, err, 400, stripe.ErrorTypeInvalidRequest, "charge_disputed", "charge")

	// Fully refunded before the dispute would open: no chargeback.
	pi2 := mustPI(t, sc, piParams(1000, "usd", "pm_card_createDispute", true))
	if _, err := sc.Refunds.New(&stripe.RefundParams{PaymentIntent: stripe.String(pi2.ID)}); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, f)
	if len(f.Disputes()) != 1 {
		t.Fatalf("disputes %+v", f.Disputes())
	}
	// Manual capture: disputed only once captured.
	p := piParams(2000, "usd", "pm_card_createDispute", true)
	p.CaptureMethod = stripe.String("manual")
	pi3 := mustPI(t, sc, p)
	waitIdle(t, f)
	if len(f.Disputes()) != 1 {
		t.Fatal("an uncaptured authorization was disputed")
	}
	if _, err := sc.PaymentIntents.Capture(pi3.ID, nil); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, f)
	if ds := f.Disputes(); len(ds) != 2 || ds[1].PaymentIntent != pi3.ID {
		t.Fatalf("disputes %+v", ds)
	}
}
