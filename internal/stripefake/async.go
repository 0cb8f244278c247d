package stripefake

import (
	"time"
)

// Asynchronous transitions: what Stripe does "some time later" by itself.
// Each is scheduled with afterLocked and runs under f.mu; a Reset in
// between turns it into a no-op.

// afterLocked runs fn under f.mu after d (real time), unless Reset ran
// meanwhile. WaitWebhooksIdle waits for scheduled transitions. Callers
// hold f.mu.
func (f *Fake) afterLocked(d time.Duration, fn func()) {
	gen := f.gen
	f.wh.async++
	time.AfterFunc(d, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.wh.async--
		if f.gen == gen {
			fn()
		}
		f.wh.notifyLocked()
	})
}

// cardOf returns the test card behind a charge's payment method.
func (f *Fake) cardOf(ch *charge) testCard {
	if pm := f.pms[ch.paymentMethod]; pm != nil {
		return pm.card
	}
	return testCard{}
}

// settleProcessingLocked ends a Processing confirmation: as the card would
// have gone, or declined when fail.
func (f *Fake) settleProcessingLocked(piID, chID string, fail bool) {
	pi, ch := f.pis[piID], f.charges[chID]
	if pi == nil || ch == nil || pi.status != "processing" || pi.latestCharge != chID || ch.status != "pending" {
		return
	}
	card := f.cardOf(ch)
	_ = f.settleChargeLocked(nil, pi, ch, card, pi.offSession, fail)
}

// capturedLocked runs what follows the capture of a charge: the dispute of
// pm_card_createDispute, after Options.AsyncDelay.
func (f *Fake) capturedLocked(ch *charge, card testCard) {
	if card.dispute {
		id := ch.id
		f.afterLocked(f.opts.AsyncDelay, func() { f.disputeLocked(id) })
	}
}

// disputeLocked opens a fraudulent chargeback on a captured charge:
// a dispute (status needs_response, reason fraudulent) for the captured,
// unrefunded amount (the charge amount unless refunded meanwhile), the
// charge marked disputed, and a charge.dispute.created event. Stripe's
// refund documentation: disputes aren't possible on fully refunded
// charges, so none is opened then.
func (f *Fake) disputeLocked(chID string) {
	ch := f.charges[chID]
	if ch == nil || ch.disputed || !ch.captured {
		return
	}
	amount := ch.amountCaptured - ch.amountRefunded
	if amount <= 0 {
		return
	}
	dp := &dispute{id: newID("du_"), charge: ch.id, paymentIntent: ch.paymentIntent, amount: amount, currency: ch.currency,
		reason: "fraudulent", status: "needs_response", created: f.opts.Now().Unix()}
	f.disputes[dp.id] = dp
	f.disputeOrder = append(f.disputeOrder, dp.id)
	ch.disputed = true
	f.emitLocked(nil, "charge.dispute.created", dp.id, f.renderDispute(dp), nil)
}

// settleRefundLocked moves a refund of pm_card_pendingRefund from pending
// to succeeded, or one of pm_card_refundFail from succeeded to failed
// (failure_reason expired_or_canceled_card; the amount is refundable on the
// charge again, as the money went back to the merchant's balance).
func (f *Fake) settleRefundLocked(reID, to string) {
	re := f.refunds[reID]
	if re == nil {
		return
	}
	from := re.status
	switch {
	case to == "succeeded" && from == "pending":
	case to == "failed" && (from == "succeeded" || from == "pending"):
		re.failureReason = "expired_or_canceled_card"
		if ch := f.charges[re.charge]; ch != nil {
			ch.amountRefunded -= re.amount
		}
	default:
		return
	}
	re.status = to
	prev := map[string]any{"status": from}
	f.emitRefund(nil, "refund.updated", re, prev)
	f.emitRefund(nil, "charge.refund.updated", re, prev)
	if to == "failed" {
		f.emitRefund(nil, "refund.failed", re, nil)
	}
}
