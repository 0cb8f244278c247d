package stripefake

import (
	"fmt"
	"net/http"
)

var refundReasons = map[string]bool{"duplicate": true, "fraudulent": true, "requested_by_customer": true}

// createRefund refunds all or part of a PaymentIntent's (or charge's)
// captured, not yet refunded amount. Runs with f.mu held.
func (f *Fake) createRefund(c *call) (any, *apiError) {
	p := c.params
	if err := p.checkKnown(allowedParams().createRefund); err != nil {
		return nil, err
	}
	if err := checkExpand(c.expand, expandable.refund); err != nil {
		return nil, err
	}
	amount, hasAmount, err := p.integer("amount")
	if err != nil {
		return nil, err
	}
	if hasAmount && amount < 1 {
		return nil, validationError("parameter_invalid_integer", "amount", "This value must be greater than or equal to 1.")
	}
	reason, _ := p.str("reason")
	if reason != "" && !refundReasons[reason] {
		return nil, validationError("", "reason", "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer")
	}
	meta, err := p.metadata()
	if err != nil {
		return nil, err
	}
	piID, _ := p.str("payment_intent")
	chID, _ := p.str("charge")
	if piID == "" && chID == "" {
		return nil, validationError("parameter_missing", "payment_intent",
			"One of the following params should be provided for this request: payment_intent or charge.")
	}

	var ch *charge
	if chID != "" {
		ch = f.charges[chID]
		if ch == nil {
			return nil, resourceMissing("charge", "No such charge: '"+chID+"'")
		}
		if piID != "" && ch.paymentIntent != piID {
			return nil, invalidRequest(http.StatusBadRequest, "", "charge",
				"The charge "+chID+" does not belong to the payment_intent "+piID+".")
		}
	} else {
		pi := f.pis[piID]
		if pi == nil {
			return nil, resourceMissing("payment_intent", "No such payment_intent: '"+piID+"'")
		}
		if pi.status != "succeeded" {
			return nil, invalidRequest(http.StatusBadRequest, "", "payment_intent",
				"This PaymentIntent does not have a successful charge to refund.")
		}
		ch = f.charges[pi.latestCharge]
	}
	if ch == nil || ch.status != "succeeded" || !ch.captured {
		return nil, invalidRequest(http.StatusBadRequest, "", "charge", "This charge has not been captured or did not succeed and cannot be refunded.")
	}
	if ch.disputed {
		// Stripe's error codes: charge_disputed, "the charge you're
		// attempting to refund has been charged back".
		return nil, invalidRequest(http.StatusBadRequest, "charge_disputed", "charge",
			"Charge "+ch.id+" has been charged back; cannot issue a refund.")
	}
	remaining := ch.amount - ch.amountRefunded
	if remaining <= 0 {
		return nil, invalidRequest(http.StatusBadRequest, "charge_already_refunded", "",
			"Charge "+ch.id+" has already been refunded.")
	}
	if !hasAmount {
		amount = remaining
	}
	if amount > remaining {
		return nil, invalidRequest(http.StatusBadRequest, "amount_too_large", "amount",
			fmt.Sprintf("Refund amount (%s) is greater than unrefunded amount on charge (%s)",
				formatAmount(amount, ch.currency), formatAmount(remaining, ch.currency)))
	}
	card := f.cardOf(ch)
	status := "succeeded"
	if card.refundOutcome == refundPending {
		status = "pending"
	}
	f.seq++
	re := &refund{id: newID("re_"), paymentIntent: ch.paymentIntent, charge: ch.id, amount: amount,
		currency: ch.currency, status: status, reason: reason, metadata: map[string]string{},
		created: f.opts.Now().Unix(), seq: f.seq}
	applyMeta(re.metadata, meta)
	ch.amountRefunded += amount // a pending refund counts too
	f.refunds[re.id] = re
	f.refundOrder = append(f.refundOrder, re.id)
	f.emitRefund(c, "refund.created", re, nil)
	f.emitCharge(c, "charge.refunded", ch)
	switch card.refundOutcome {
	case refundPending:
		f.afterLocked(f.opts.AsyncDelay, func() { f.settleRefundLocked(re.id, "succeeded") })
	case refundFails:
		f.afterLocked(f.opts.AsyncDelay, func() { f.settleRefundLocked(re.id, "failed") })
	}
	return f.renderRefund(re, c.expand), nil
}

var zeroDecimal = map[string]bool{"bif": true, "clp": true, "djf": true, "gnf": true, "jpy": true, "kmf": true,
	"krw": true, "mga": true, "pyg": true, "rwf": true, "ugx": true, "vnd": true, "vuv": true, "xaf": true,
	"xof": true, "xpf": true}

// formatAmount renders minor units as Stripe does in messages ("$1.00"
// style, currency code instead of a symbol).
func formatAmount(n int64, cur string) string {
	if zeroDecimal[cur] {
		return fmt.Sprintf("%d %s", n, cur)
	}
	return fmt.Sprintf("%d.%02d %s", n/100, n%100, cur)
}

func (f *Fake) retrieveRefund(c *call) (any, *apiError) {
	if err := c.params.checkKnown(allowedParams().retrieve); err != nil {
		return nil, err
	}
	if err := checkExpand(c.expand, expandable.refund); err != nil {
		return nil, err
	}
	re, ok := f.refunds[c.id]
	if !ok {
		return nil, resourceMissing("id", "No such refund: '"+c.id+"'")
	}
	return f.renderRefund(re, c.expand), nil
}

func (f *Fake) retrievePaymentMethod(c *call) (any, *apiError) {
	if err := c.params.checkKnown(allowedParams().retrieve); err != nil {
		return nil, err
	}
	if err := checkExpand(c.expand, map[string]bool{}); err != nil {
		return nil, err
	}
	pm, ok := f.pms[c.id]
	if !ok {
		return nil, resourceMissing("payment_method", "No such PaymentMethod: '"+c.id+"'")
	}
	return pm.json(), nil
}
