package stripefake

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
)

// PaymentIntent endpoints. All run with f.mu held.

const maxAmount = 99999999

var cancellationReasons = map[string]bool{"duplicate": true, "fraudulent": true, "requested_by_customer": true, "abandoned": true}

func (f *Fake) createPaymentIntent(c *call) (any, *apiError) {
	p := c.params
	if err := p.checkKnown(allowedParams().createPI); err != nil {
		return nil, err
	}
	if err := checkExpand(c.expand, expandable.pi); err != nil {
		return nil, err
	}
	amount, ok, err := p.integer("amount")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, paramMissing("amount")
	}
	if amount < 1 {
		return nil, validationError("parameter_invalid_integer", "amount", "This value must be greater than or equal to 1.")
	}
	if amount > maxAmount {
		return nil, validationError("amount_too_large", "amount", fmt.Sprintf("Amount must be no more than %d.", maxAmount))
	}
	cur, ok := p.str("currency")
	if !ok || cur == "" {
		return nil, paramMissing("currency")
	}
	cur = strings.ToLower(cur)
	if !currencies[cur] {
		return nil, validationError("", "currency", "Invalid currency: "+cur+". Stripe currently supports these currencies: "+currencyList())
	}
	if minAmt, ok := minimumAmounts[cur]; ok && amount < minAmt {
		return nil, validationError("amount_too_small", "amount", fmt.Sprintf("Amount must be at least %d %s (minor units)", minAmt, cur))
	}
	captureMethod := "automatic"
	if v, ok := p.str("capture_method"); ok && v != "" {
		switch v {
		case "automatic", "automatic_async", "manual":
			captureMethod = v
		default:
			return nil, validationError("", "capture_method", "Invalid capture_method: must be one of automatic, automatic_async, or manual")
		}
	}
	confirmationMethod := "automatic"
	if v, ok := p.str("confirmation_method"); ok && v != "" {
		if v != "automatic" && v != "manual" {
			return nil, validationError("", "confirmation_method", "Invalid confirmation_method: must be one of automatic or manual")
		}
		confirmationMethod = v
	}
	meta, err := p.metadata()
	if err != nil {
		return nil, err
	}
	confirm, err := p.boolean("confirm")
	if err != nil {
		return nil, err
	}
	offSession, err := offSessionParam(p)
	if err != nil {
		return nil, err
	}
	if offSession && !confirm {
		return nil, validationError("", "off_session", "off_session can only be used when confirm=true.")
	}
	if _, ok := p.str("return_url"); ok && !confirm {
		return nil, validationError("", "return_url", "return_url can only be used when confirm=true.")
	}
	types := p.list("payment_method_types")
	if len(types) == 0 {
		types = []string{"card"}
	}
	for _, t := range types {
		if t != "card" {
			return nil, validationError("", "payment_method_types", "stripefake supports only the card payment method type, got "+t+".")
		}
	}
	pmID, _ := p.str("payment_method")
	if confirm && pmID == "" {
		return nil, validationError("parameter_missing", "payment_method", "You cannot confirm this PaymentIntent because it's missing a payment method. "+
			"To confirm the PaymentIntent, specify a payment_method.")
	}
	var pm *paymentMethod
	if pmID != "" {
		if pm, err = f.resolvePaymentMethod(pmID); err != nil {
			return nil, err
		}
	}

	id := newID("pi_")
	pi := &paymentIntent{
		id: id, clientSecret: id + "_secret_" + newID("")[:24], amount: amount, currency: cur,
		status: "requires_payment_method", captureMethod: captureMethod, confirmationMethod: confirmationMethod,
		metadata: map[string]string{}, paymentMethodTypes: types, created: f.opts.Now().Unix(),
	}
	for k, v := range meta {
		if v != "" {
			pi.metadata[k] = v
		}
	}
	if v, ok := p.str("description"); ok && v != "" {
		pi.description = &v
	}
	if v, ok := p.str("receipt_email"); ok && v != "" {
		pi.receiptEmail = &v
	}
	if v, ok := p.str("customer"); ok && v != "" {
		pi.customer = &v
	}
	if v, ok := p.str("setup_future_usage"); ok && v != "" {
		pi.setupFutureUsage = &v
	}
	if v, ok := p.str("statement_descriptor"); ok && v != "" {
		pi.statementDescriptor = &v
	}
	if pm != nil {
		pi.paymentMethod = pm.id
		pi.status = "requires_confirmation"
	}
	f.seq++
	pi.seq = f.seq
	pi.indexedAt = time.Now().Add(f.opts.SearchIndexDelay)
	f.pis[id] = pi
	f.piOrder = append(f.piOrder, id)
	f.emitPI(c, "payment_intent.created", pi)
	if confirm {
		if err := f.confirm(c, pi, pm, offSession); err != nil {
			return nil, err
		}
	}
	return f.renderPI(pi, c.expand), nil
}

func offSessionParam(p form) (bool, *apiError) {
	v, ok := p.str("off_session")
	if !ok {
		return false, nil
	}
	switch v {
	case "true", "one_off", "recurring":
		return true, nil
	case "false", "":
		return false, nil
	}
	return false, validationError("", "off_session", "Invalid off_session: must be a boolean, one_off or recurring")
}

func currencyList() string {
	cs := make([]string, 0, len(currencies))
	for c := range currencies {
		cs = append(cs, c)
	}
	sort.Strings(cs)
	return strings.Join(cs, ", ")
}

// resolvePaymentMethod turns a test id (pm_card_visa) into a fresh
// PaymentMethod, as Stripe does, or finds one created earlier.
func (f *Fake) resolvePaymentMethod(id string) (*paymentMethod, *apiError) {
	if card, ok := testCards[id]; ok {
		pm := &paymentMethod{id: newID("pm_"), source: id, card: card, created: f.opts.Now().Unix()}
		f.pms[pm.id] = pm
		return pm, nil
	}
	if pm, ok := f.pms[id]; ok {
		return pm, nil
	}
	return nil, invalidRequest(http.StatusBadRequest, "resource_missing", "payment_method", "No such PaymentMethod: '"+id+"'")
}

// confirm attempts the payment with pm. On a decline it returns Stripe's
// 402 card_error carrying the PaymentIntent (now requires_payment_method).
// A Processing fault on the request leaves the PaymentIntent processing
// and settles it later. Every state change creates its events.
func (f *Fake) confirm(c *call, pi *paymentIntent, pm *paymentMethod, offSession bool) *apiError {
	pi.paymentMethod = pm.id
	pi.lastPaymentError = nil
	pi.offSession = offSession
	card := pm.card
	if card.needs3DS && !offSession {
		pi.status = "requires_action"
		f.emitPI(c, "payment_intent.requires_action", pi)
		return nil
	}
	now := f.opts.Now().Unix()
	ch := &charge{id: newID("ch_"), paymentIntent: pi.id, paymentMethod: pm.id, amount: pi.amount,
		currency: pi.currency, created: now}
	f.charges[ch.id] = ch
	f.chargeOrder = append(f.chargeOrder, ch.id)
	pi.latestCharge = ch.id

	if proc := c.processing(); proc != nil {
		ch.status = "pending"
		pi.status = "processing"
		f.emitCharge(c, "charge.pending", ch)
		f.emitPI(c, "payment_intent.processing", pi)
		delay := proc.Delay
		if delay <= 0 {
			delay = f.opts.AsyncDelay
		}
		fail := proc.Outcome == OutcomeFail
		piID, chID := pi.id, ch.id
		f.afterLocked(delay, func() { f.settleProcessingLocked(piID, chID, fail) })
		return nil
	}
	return f.settleChargeLocked(c, pi, ch, card, offSession, false)
}

// settleChargeLocked gives a charge the card's outcome (or a generic
// decline when forceDecline) and moves the PaymentIntent accordingly,
// creating the events. On a decline it returns the 402 error to answer.
func (f *Fake) settleChargeLocked(c *call, pi *paymentIntent, ch *charge, card testCard, offSession, forceDecline bool) *apiError {
	code, decline, param, msg := card.errCode, card.declineCode, card.errParam, card.errMessage
	if card.needs3DS && offSession { // the bank wants authentication the customer can't give now
		code, decline, param, msg = "authentication_required", "authentication_required", "",
			"Your card was declined. This transaction requires authentication."
	}
	if forceDecline {
		code, decline, param, msg = "card_declined", "generic_decline", "", msgDeclined
	}
	if code != "" {
		ch.status = "failed"
		ch.failureCode, ch.failureMessage, ch.declineCode = code, msg, decline
		var pmJSON *paymentMethodJSON
		if pm := f.pms[ch.paymentMethod]; pm != nil {
			pmJSON = pm.json()
		}
		lastErr := &apiError{Type: typeCard, Code: code, DeclineCode: decline, DocURL: docURL(code), Message: msg,
			Param: param, Charge: ch.id, PaymentMethod: pmJSON}
		pi.lastPaymentError = lastErr
		pi.status = "requires_payment_method"
		pi.paymentMethod = ""
		f.emitCharge(c, "charge.failed", ch)
		f.emitPI(c, "payment_intent.payment_failed", pi)
		e := *lastErr
		e.status = http.StatusPaymentRequired
		e.PaymentIntent = f.renderPI(pi, nil)
		return &e
	}
	ch.status = "succeeded"
	if pi.captureMethod == "manual" {
		pi.status = "requires_capture"
		pi.amountCapturable = pi.amount
		f.emitCharge(c, "charge.succeeded", ch)
		f.emitPI(c, "payment_intent.amount_capturable_updated", pi)
		return nil
	}
	ch.captured = true
	ch.amountCaptured = pi.amount
	pi.status = "succeeded"
	pi.amountReceived = pi.amount
	f.emitCharge(c, "charge.succeeded", ch)
	f.emitPI(c, "payment_intent.succeeded", pi)
	f.capturedLocked(ch, card)
	return nil
}

func (f *Fake) lookupPI(id string) (*paymentIntent, *apiError) {
	pi, ok := f.pis[id]
	if !ok {
		return nil, resourceMissing("intent", "No such payment_intent: '"+id+"'")
	}
	return pi, nil
}

func (f *Fake) retrievePaymentIntent(c *call) (any, *apiError) {
	if err := c.params.checkKnown(allowedParams().retrievePI); err != nil {
		return nil, err
	}
	if err := checkExpand(c.expand, expandable.pi); err != nil {
		return nil, err
	}
	pi, err := f.lookupPI(c.id)
	if err != nil {
		return nil, err
	}
	return f.renderPI(pi, c.expand), nil
}

func (f *Fake) confirmPaymentIntent(c *call) (any, *apiError) {
	p := c.params
	if err := p.checkKnown(allowedParams().confirmPI); err != nil {
		return nil, err
	}
	if err := checkExpand(c.expand, expandable.pi); err != nil {
		return nil, err
	}
	offSession, err := offSessionParam(p)
	if err != nil {
		return nil, err
	}
	captureMethod, hasCM := p.str("capture_method")
	if hasCM && captureMethod != "automatic" && captureMethod != "automatic_async" && captureMethod != "manual" {
		return nil, validationError("", "capture_method", "Invalid capture_method: must be one of automatic, automatic_async, or manual")
	}
	pi, err := f.lookupPI(c.id)
	if err != nil {
		return nil, err
	}
	switch pi.status {
	case "requires_payment_method", "requires_confirmation", "requires_action":
	case "succeeded":
		return nil, unexpectedState("You cannot confirm this PaymentIntent because it has already succeeded after being previously confirmed.", f.renderPI(pi, nil))
	default:
		return nil, unexpectedState("You cannot confirm this PaymentIntent because it has a status of "+pi.status+
			". Only a PaymentIntent with one of the following statuses may be confirmed: requires_payment_method, requires_confirmation, requires_action.",
			f.renderPI(pi, nil))
	}
	pmID, _ := p.str("payment_method")
	if pmID == "" {
		pmID = pi.paymentMethod
	}
	if pmID == "" {
		return nil, invalidRequest(http.StatusBadRequest, "payment_intent_unexpected_state", "payment_method",
			"You cannot confirm this PaymentIntent because it's missing a payment method. To confirm the PaymentIntent, specify a payment_method.")
	}
	pm, err := f.resolvePaymentMethod(pmID)
	if err != nil {
		return nil, err
	}
	if hasCM && captureMethod != "" {
		pi.captureMethod = captureMethod
	}
	if ru, ok := p.str("return_url"); ok && ru != "" {
		pi.returnURL = ru
		pi.hostedURL = c.base + "/_fake/3ds/" + pi.id
	}
	if err := f.confirm(c, pi, pm, offSession); err != nil {
		return nil, err
	}
	return f.renderPI(pi, c.expand), nil
}

func (f *Fake) capturePaymentIntent(c *call) (any, *apiError) {
	p := c.params
	if err := p.checkKnown(allowedParams().capturePI); err != nil {
		return nil, err
	}
	if err := checkExpand(c.expand, expandable.pi); err != nil {
		return nil, err
	}
	amt, hasAmt, err := p.integer("amount_to_capture")
	if err != nil {
		return nil, err
	}
	if hasAmt && amt < 1 {
		return nil, validationError("parameter_invalid_integer", "amount_to_capture", "This value must be greater than or equal to 1.")
	}
	meta, err := p.metadata()
	if err != nil {
		return nil, err
	}
	pi, err := f.lookupPI(c.id)
	if err != nil {
		return nil, err
	}
	if pi.status != "requires_capture" {
		return nil, unexpectedState("This PaymentIntent could not be captured because it has a status of "+pi.status+
			". Only a PaymentIntent with one of the following statuses may be captured: requires_capture.", f.renderPI(pi, nil))
	}
	if !hasAmt {
		amt = pi.amountCapturable
	}
	if amt > pi.amountCapturable {
		return nil, invalidRequest(http.StatusBadRequest, "amount_too_large", "amount_to_capture",
			fmt.Sprintf("The amount to capture (%d) is greater than the amount capturable (%d).", amt, pi.amountCapturable))
	}
	ch := f.charges[pi.latestCharge]
	ch.captured = true
	ch.amountCaptured = amt
	ch.amountRefunded = ch.amount - amt // the uncaptured rest is released
	pi.amountReceived = amt
	pi.amountCapturable = 0
	pi.status = "succeeded"
	applyMeta(pi.metadata, meta)
	f.emitCharge(c, "charge.captured", ch)
	f.emitPI(c, "payment_intent.succeeded", pi)
	f.capturedLocked(ch, f.cardOf(ch))
	return f.renderPI(pi, c.expand), nil
}

func (f *Fake) cancelPaymentIntent(c *call) (any, *apiError) {
	p := c.params
	if err := p.checkKnown(allowedParams().cancelPI); err != nil {
		return nil, err
	}
	if err := checkExpand(c.expand, expandable.pi); err != nil {
		return nil, err
	}
	reason, _ := p.str("cancellation_reason")
	if reason != "" && !cancellationReasons[reason] {
		return nil, validationError("", "cancellation_reason",
			"Invalid cancellation_reason: must be one of duplicate, fraudulent, requested_by_customer, or abandoned")
	}
	pi, err := f.lookupPI(c.id)
	if err != nil {
		return nil, err
	}
	// Stripe's API reference lists processing as cancelable only "in rare
	// cases" (some asynchronous payment methods); a card payment that is
	// processing cannot be canceled, so the fake refuses it.
	switch pi.status {
	case "requires_payment_method", "requires_capture", "requires_confirmation", "requires_action":
	default:
		return nil, unexpectedState("You cannot cancel this PaymentIntent because it has a status of "+pi.status+
			". Only a PaymentIntent with one of the following statuses may be canceled: requires_payment_method, "+
			"requires_capture, requires_confirmation, requires_action.", f.renderPI(pi, nil))
	}
	var released *charge
	if pi.status == "requires_capture" {
		if ch := f.charges[pi.latestCharge]; ch != nil {
			ch.amountRefunded = ch.amount // authorization released
			released = ch
		}
		pi.amountCapturable = 0
	}
	pi.status = "canceled"
	pi.canceledAt = f.opts.Now().Unix()
	pi.cancellationReason = reason
	if released != nil {
		f.emitCharge(c, "charge.refunded", released)
	}
	f.emitPI(c, "payment_intent.canceled", pi)
	return f.renderPI(pi, c.expand), nil
}

// CompleteAuthentication finishes the customer's 3-D Secure step for a
// PaymentIntent in requires_action, as Stripe.js would: success moves it to
// succeeded (or requires_capture for manual capture) with a charge; failure
// moves it to requires_payment_method with last_payment_error
// payment_intent_authentication_failure. Errors: unknown id, or a status
// other than requires_action.
func (f *Fake) CompleteAuthentication(id string, success bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	pi, ok := f.pis[id]
	if !ok {
		return fmt.Errorf("stripefake: no such payment_intent %q", id)
	}
	if pi.status != "requires_action" {
		return fmt.Errorf("stripefake: payment_intent %s has status %s, not requires_action", id, pi.status)
	}
	pm := f.pms[pi.paymentMethod]
	if pm == nil {
		return fmt.Errorf("stripefake: payment_intent %s has no payment method", id)
	}
	if !success {
		pi.status = "requires_payment_method"
		pi.lastPaymentError = &apiError{Type: typeInvalidRequest, Code: "payment_intent_authentication_failure",
			DocURL: docURL("payment_intent_authentication_failure"), PaymentMethod: pm.json(),
			Message: "The provided PaymentMethod has failed authentication. You can provide payment_method_data or a new PaymentMethod to attempt to fulfill this PaymentIntent again."}
		pi.paymentMethod = ""
		f.emitPI(nil, "payment_intent.payment_failed", pi)
		return nil
	}
	authed := *pm
	authed.card.needs3DS = false
	_ = f.confirm(nil, pi, &authed, false) // a plain successful card cannot decline
	return nil
}

// applyMeta merges a metadata patch: empty values delete keys.
func applyMeta(dst, patch map[string]string) {
	for k, v := range patch {
		if v == "" {
			delete(dst, k)
		} else {
			dst[k] = v
		}
	}
}
