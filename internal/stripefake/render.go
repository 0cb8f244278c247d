package stripefake

import (
	"sort"
	"strings"
)

// Rendering of state as Stripe JSON. Callers hold f.mu.

var expandable = struct{ pi, refund, charge map[string]bool }{
	pi:     map[string]bool{"latest_charge": true, "payment_method": true},
	refund: map[string]bool{"charge": true, "payment_intent": true},
	charge: map[string]bool{"payment_intent": true},
}

// checkExpand rejects expand paths the object does not support.
func checkExpand(expand, allowed map[string]bool) *apiError {
	keys := make([]string, 0, len(expand))
	for k := range expand {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !allowed[k] {
			return validationError("", "expand", "This property cannot be expanded ("+k+").")
		}
	}
	return nil
}

func (f *Fake) renderPI(pi *paymentIntent, expand map[string]bool) *paymentIntentJSON {
	j := &paymentIntentJSON{
		ID: pi.id, Object: "payment_intent", Amount: pi.amount, AmountCapturable: pi.amountCapturable,
		AmountDetails: map[string]any{"tip": map[string]any{}}, AmountReceived: pi.amountReceived,
		CaptureMethod: pi.captureMethod, ClientSecret: pi.clientSecret, ConfirmationMethod: pi.confirmationMethod,
		Created: pi.created, Currency: pi.currency, Customer: pi.customer, Description: pi.description,
		Metadata: copyMeta(pi.metadata), PaymentMethodTypes: append([]string(nil), pi.paymentMethodTypes...),
		PaymentMethodOptions: map[string]any{"card": map[string]any{"installments": nil, "mandate_options": nil,
			"network": nil, "request_three_d_secure": "automatic"}},
		ReceiptEmail: pi.receiptEmail, SetupFutureUsage: pi.setupFutureUsage, StatementDescriptor: pi.statementDescriptor,
		Status: pi.status,
	}
	if pi.canceledAt != 0 {
		ca := pi.canceledAt
		j.CanceledAt = &ca
		j.CancellationReason = strPtr(pi.cancellationReason)
	}
	if pi.lastPaymentError != nil {
		e := *pi.lastPaymentError
		j.LastPaymentError = &e
	}
	if pi.latestCharge != "" {
		if ch := f.charges[pi.latestCharge]; expand["latest_charge"] && ch != nil {
			j.LatestCharge = f.renderCharge(ch)
		} else {
			j.LatestCharge = pi.latestCharge
		}
	}
	if pi.paymentMethod != "" {
		if pm := f.pms[pi.paymentMethod]; expand["payment_method"] && pm != nil {
			j.PaymentMethod = pm.json()
		} else {
			j.PaymentMethod = pi.paymentMethod
		}
	}
	if pi.status == "requires_action" && pi.returnURL != "" {
		// Confirmed with a return_url: the customer is sent to the
		// authentication page, then back to return_url (Stripe's
		// redirect_to_url next action).
		j.NextAction = map[string]any{
			"type":            "redirect_to_url",
			"redirect_to_url": map[string]any{"url": pi.hostedURL + "?client_secret=" + pi.clientSecret, "return_url": pi.returnURL},
		}
	} else if pi.status == "requires_action" {
		j.NextAction = map[string]any{
			"type": "use_stripe_sdk",
			"use_stripe_sdk": map[string]any{
				"type":      "three_d_secure_redirect",
				"stripe_js": "https://hooks.stripe.com/redirect/authenticate/src_fake?client_secret=" + pi.clientSecret,
				"source":    "src_" + strings.TrimPrefix(pi.id, "pi_"),
			},
		}
	}
	return j
}

func (f *Fake) renderCharge(ch *charge) *chargeJSON {
	j := &chargeJSON{
		ID: ch.id, Object: "charge", Amount: ch.amount, AmountCaptured: ch.amountCaptured,
		AmountRefunded: ch.amountRefunded, Captured: ch.captured, Created: ch.created, Currency: ch.currency,
		FailureCode: strPtr(ch.failureCode), FailureMessage: strPtr(ch.failureMessage), Metadata: map[string]string{},
		Paid: ch.status == "succeeded", PaymentIntent: ch.paymentIntent, PaymentMethod: ch.paymentMethod,
		Refunded: ch.amountRefunded >= ch.amount, Status: ch.status, Disputed: ch.disputed,
	}
	if pi := f.pis[ch.paymentIntent]; pi != nil {
		j.Description = pi.description
		j.Metadata = copyMeta(pi.metadata)
	}
	outcome := map[string]any{"network_status": "approved_by_network", "reason": nil, "risk_level": "normal",
		"seller_message": "Payment complete.", "type": "authorized"}
	switch ch.status {
	case "failed":
		outcome = map[string]any{"network_status": "declined_by_network", "reason": ch.declineCode, "risk_level": "normal",
			"seller_message": "The bank did not return any further details with this decline.", "type": "issuer_declined"}
	case "pending":
		outcome = nil // no network answer yet
	}
	j.Outcome = outcome
	card := map[string]any{}
	if pm := f.pms[ch.paymentMethod]; pm != nil {
		card = map[string]any{"brand": pm.card.brand, "last4": pm.card.last4, "funding": pm.card.funding,
			"country": pm.card.country, "exp_month": 12, "exp_year": 2030}
	}
	j.PaymentMethodDetails = map[string]any{"type": "card", "card": card}
	return j
}

func (f *Fake) renderRefund(re *refund, expand map[string]bool) *refundJSON {
	j := &refundJSON{
		ID: re.id, Object: "refund", Amount: re.amount, Created: re.created, Currency: re.currency,
		Metadata: copyMeta(re.metadata), Reason: strPtr(re.reason), Status: re.status, FailureReason: re.failureReason,
	}
	j.Charge, j.PaymentIntent = re.charge, re.paymentIntent
	if ch := f.charges[re.charge]; expand["charge"] && ch != nil {
		j.Charge = f.renderCharge(ch)
	}
	if pi := f.pis[re.paymentIntent]; expand["payment_intent"] && pi != nil {
		j.PaymentIntent = f.renderPI(pi, nil)
	}
	return j
}

func (f *Fake) renderDispute(dp *dispute) *disputeJSON {
	evidence := map[string]any{}
	for _, k := range []string{"access_activity_log", "billing_address", "cancellation_policy", "customer_communication",
		"customer_email_address", "customer_name", "product_description", "receipt", "refund_policy", "service_date",
		"shipping_address", "shipping_date", "shipping_tracking_number", "uncategorized_text"} {
		evidence[k] = nil
	}
	return &disputeJSON{ID: dp.id, Object: "dispute", Amount: dp.amount, BalanceTransactions: []any{}, Charge: dp.charge,
		Created: dp.created, Currency: dp.currency, Evidence: evidence,
		EvidenceDetails:    map[string]any{"due_by": dp.created + 7*24*3600, "has_evidence": false, "past_due": false, "submission_count": 0},
		IsChargeRefundable: false, Metadata: map[string]string{}, PaymentIntent: dp.paymentIntent, Reason: dp.reason, Status: dp.status}
}

// retrieveCharge is GET /v1/charges/{id}.
func (f *Fake) retrieveCharge(c *call) (any, *apiError) {
	if err := c.params.checkKnown(allowedParams().retrieve); err != nil {
		return nil, err
	}
	if err := checkExpand(c.expand, expandable.charge); err != nil {
		return nil, err
	}
	ch, ok := f.charges[c.id]
	if !ok {
		return nil, resourceMissing("id", "No such charge: '"+c.id+"'")
	}
	j := f.renderCharge(ch)
	if pi := f.pis[ch.paymentIntent]; c.expand["payment_intent"] && pi != nil {
		j.PaymentIntent = f.renderPI(pi, nil)
	}
	return j, nil
}
