package invariants

import (
	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/internal/payment"
)

// checkGateway proves invariants 2 and 3 from the gateway's own books.
func (s *snapshot) checkGateway(rep *Report, intents []payment.Intent, refunds []payment.Refund) {
	refundsOf := map[string][]payment.Refund{}
	for _, r := range refunds {
		refundsOf[r.PaymentIntent] = append(refundsOf[r.PaymentIntent], r)
	}
	byID := map[string]payment.Intent{}
	var taken, ours int64
	perCheckout := map[string][]payment.Intent{}
	for _, in := range intents {
		byID[in.ID] = in
		if in.CheckoutID == "" {
			continue
		}
		ours++
		perCheckout[in.CheckoutID] = append(perCheckout[in.CheckoutID], in)
		if in.Status == payment.IntentSucceeded {
			taken++
		}
	}
	rep.count("intents at the gateway", ours)
	rep.count("charges taken (gateway)", taken)
	rep.count("refunds at the gateway", int64(len(refunds)))
	var refused int64
	for _, c := range s.checkouts {
		for _, r := range c.refunds {
			if r.ProviderRefundID == "" && r.Status == payment.StatusFailed {
				refused++
			}
		}
	}
	rep.count("refunds the gateway refused to make", refused)

	chk := rep.check("charged_at_most_once", "no checkout has more than one intent that took or may take money")
	for cid, ins := range perCheckout {
		chk.saw(1)
		live := 0
		for _, in := range ins {
			switch in.Status {
			case payment.IntentSucceeded, payment.IntentRequiresCapture, payment.IntentProcessing:
				live++
			}
		}
		if live > 1 {
			chk.fail(cid, "%d intents took or hold money", live)
		}
	}

	chk = rep.check("charge_ends_in_order_or_refund", "every charge the gateway took ends in exactly one order or in a refund in full")
	for _, in := range intents {
		if in.CheckoutID == "" || in.Status != payment.IntentSucceeded {
			continue
		}
		chk.saw(1)
		var back int64
		for _, r := range refundsOf[in.ID] {
			if r.Status == payment.RefundSucceeded {
				back += r.Amount
			}
		}
		cid, err := uuid.Parse(in.CheckoutID)
		c := s.checkouts[cid]
		switch {
		case err != nil || c == nil:
			chk.fail(in.ID, "took %d %s for checkout %q, which does not exist", in.Amount, in.Currency, in.CheckoutID)
		case s.byIntent[in.ID] != cid:
			chk.fail(in.ID, "took %d %s for checkout %s, whose ledger records another intent (%s)", in.Amount, in.Currency, cid, ledgerIntent(c))
		case c.orderID != nil && back > 0:
			chk.fail(in.ID, "checkout %s has order %s and %d of %d refunded", cid, c.orderID, back, in.Amount)
		case c.orderID == nil && back < in.AmountReceived:
			if (!s.mustBeFinal(c) && !c.status.Final()) || s.withPerson(c) {
				continue // its saga is still running, or a person owns the refused refund
			}
			chk.fail(in.ID, "checkout %s (%s) has no order and %d of %d refunded", cid, c.status, back, in.AmountReceived)
		}
	}

	chk = rep.check("refunds_match_charges", "every refund at the gateway refunds a charge of ours that was taken, never more than it")
	for intentID, rs := range refundsOf {
		in, known := byID[intentID]
		var back int64
		for _, r := range rs {
			chk.saw(1)
			if r.Status != payment.RefundFailed && r.Status != payment.RefundCanceled {
				back += r.Amount
			}
		}
		switch {
		case !known:
			chk.fail(intentID, "%d refunds of an intent outside the window or unknown", len(rs))
		case in.Status != payment.IntentSucceeded:
			chk.fail(intentID, "refunded, but the intent is %s", in.Status)
		case back > in.AmountReceived:
			chk.fail(intentID, "refunds of %d exceed the %d received", back, in.AmountReceived)
		}
	}

	chk = rep.check("ledger_matches_gateway", "the ledger's charge and refund rows say what the gateway says")
	for _, c := range s.checkouts {
		if c.charge == nil || c.charge.ProviderPaymentID == "" {
			continue
		}
		in, ok := byID[c.charge.ProviderPaymentID]
		if !ok {
			continue // created before the window
		}
		chk.saw(1)
		if in.Amount != c.charge.Amount || in.Currency != c.charge.Currency {
			chk.fail(c.id.String(), "intent %s is for %d %s, the ledger says %d %s", in.ID, in.Amount, in.Currency, c.charge.Amount, c.charge.Currency)
		}
		if want := ledgerStatusFor(in, refundsOf[in.ID]); want != "" && c.charge.Status != want {
			chk.fail(c.id.String(), "ledger says %s, the gateway's intent %s is %s", c.charge.Status, in.ID, in.Status)
		}
		gw := map[string]payment.Refund{}
		for _, r := range refundsOf[in.ID] {
			gw[r.ID] = r
		}
		for _, r := range c.refunds {
			g, ok := gw[r.ProviderRefundID]
			switch {
			case r.ProviderRefundID == "" && r.Status == payment.StatusFailed:
				// refused by the gateway before any refund existed
			case r.ProviderRefundID == "":
				chk.fail(c.id.String(), "refund row %d is %s with no refund at the gateway", r.ID, r.Status)
			case r.ProviderRefundID != "" && !ok:
				chk.fail(c.id.String(), "refund %s is in the ledger, not at the gateway", r.ProviderRefundID)
			case ok && string(r.Status) != g.Status && !(r.Status == payment.StatusPending && g.Status == payment.RefundRequiresAction):
				chk.fail(c.id.String(), "refund %s: ledger %s, gateway %s", g.ID, r.Status, g.Status)
			}
			delete(gw, r.ProviderRefundID)
		}
		for id, g := range gw {
			chk.fail(c.id.String(), "refund %s (%s, %d) at the gateway is not in the ledger", id, g.Status, g.Amount)
		}
	}
}

// ledgerStatusFor is the charge status the ledger must show for an intent
// ("" when several are fine).
func ledgerStatusFor(in payment.Intent, refunds []payment.Refund) payment.Status {
	switch in.Status {
	case payment.IntentSucceeded:
		var back int64
		for _, r := range refunds {
			if r.Status == payment.RefundSucceeded {
				back += r.Amount
			}
		}
		if back >= in.Amount {
			return payment.StatusRefunded
		}
		return payment.StatusSucceeded
	case payment.IntentCanceled:
		return payment.StatusCanceled
	case payment.IntentRequiresCapture:
		return payment.StatusAuthorized
	}
	return ""
}

func ledgerIntent(c *checkoutRow) string {
	if c.charge == nil {
		return "none"
	}
	return c.charge.ProviderPaymentID
}
