package payment

import (
	"context"

	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/metrics"
)

// Charge authorizes the checkout's amount on its payment method
// (capture_method=manual: the money is held, and taken by Capture once the
// order exists), at most once whatever retries, duplicates, timeouts or
// concurrent calls happen: the
// checkout has one PaymentIntent (recorded before it is confirmed), the
// gateway's idempotency keys are derived from the checkout, and a charge
// already settled is answered from the database.
//
// Whenever an answer leaves the outcome uncertain (a timeout, a 5xx, a
// "confirmed already" refusal) the PaymentIntent is retrieved and its real
// status decides; a retried call starts by retrieving the intent. Transient
// failures are retried with backoff while ctx's deadline allows.
//
// Errors (apperr kinds): NotFound (no checkout); Declined (code
// payment_declined); RequiresAction (the customer must authenticate);
// Pending (the gateway is still processing: ask again later, never
// cancel); Invalid (code payment_failed: the gateway refused the request);
// State (the charge was canceled or refunded before); Transient/Unavailable
// and UnknownOutcome (retries exhausted; calling Charge again is safe);
// Internal (the gateway's intent does not match the ledger).
func (s *Service) Charge(ctx context.Context, checkoutID uuid.UUID) (Transaction, error) {
	tx, pm, err := s.ensureCharge(ctx, checkoutID)
	if err != nil {
		return Transaction{}, err
	}
	if done, err := settled(tx); done {
		return tx, err
	}
	err = s.retry.Do(ctx, Retryable, func(ctx context.Context) error {
		var err error
		tx, err = s.chargeOnce(ctx, tx, pm)
		return err
	})
	s.recordCharge(ctx, tx, err)
	return tx, err
}

// chargeOnce makes one attempt: create the intent (first time), else learn
// where the recorded intent stands, confirm it if it was never confirmed,
// and record the gateway's answer.
func (s *Service) chargeOnce(ctx context.Context, tx Transaction, pm string) (Transaction, error) {
	if tx.ProviderPaymentID == "" {
		id := tx.checkout()
		cctx, cancel := s.callCtx(ctx)
		in, err := s.gw.CreateIntent(cctx, NewIntent{Amount: tx.Amount, Currency: tx.Currency, PaymentMethod: pm, CheckoutID: tx.CheckoutID,
			Manual: true}, createKey(id, tx.Attempt))
		cancel()
		if err != nil {
			if serverError(err) {
				// The gateway may have created the intent and will replay
				// this 5xx for the key: the next try creates under a new
				// key. An intent nobody confirms moves no money.
				if berr := s.bumpAttempt(ctx, &tx, "create answered 5xx"); berr != nil {
					return tx, berr
				}
			}
			return tx, err
		}
		ours, err := s.recordIntent(ctx, &tx, in)
		if err != nil {
			return tx, err
		}
		if !ours {
			s.abandonIntent(ctx, tx, in.ID)
			return tx, apperr.E(apperr.Transient, CodeInProgress, "another attempt recorded its intent first")
		}
		return s.confirm(ctx, tx, pm)
	}
	in, err := s.getIntent(ctx, tx.ProviderPaymentID)
	if err != nil {
		return tx, err
	}
	if in.Status == IntentRequiresConfirmation {
		return s.confirm(ctx, tx, pm)
	}
	return s.apply(ctx, tx, in)
}

// confirm confirms the row's intent and records the result.
func (s *Service) confirm(ctx context.Context, tx Transaction, pm string) (Transaction, error) {
	cctx, cancel := s.callCtx(ctx)
	in, err := s.gw.ConfirmIntent(cctx, tx.ProviderPaymentID, pm, confirmKey(tx.checkout(), tx.Attempt))
	cancel()
	switch {
	case err == nil, in.ID != "" && (apperr.Is(err, apperr.Declined) || apperr.Is(err, apperr.RequiresAction)):
		// An answer (a 402 decline carries the intent): record it.
		return s.apply(ctx, tx, in)
	case apperr.Is(err, apperr.State), apperr.Is(err, apperr.UnknownOutcome):
		// Confirmed before ("unexpected state"), or the answer was lost or
		// a 5xx: the intent's own status is the truth.
		s.log.WarnContext(ctx, "confirm outcome uncertain; retrieving the intent", "checkout_id", tx.CheckoutID,
			"intent", tx.ProviderPaymentID, "err", err)
		got, gerr := s.getIntent(ctx, tx.ProviderPaymentID)
		if gerr != nil {
			return tx, err
		}
		if got.Status != IntentRequiresConfirmation {
			return s.apply(ctx, tx, got)
		}
		// The confirm did not take effect. A 5xx would be replayed for this
		// key, so the next try uses a new one (safe: the intent itself
		// allows one successful payment).
		if serverError(err) {
			if berr := s.bumpAttempt(ctx, &tx, "confirm answered 5xx"); berr != nil {
				return tx, berr
			}
		}
		return tx, transient(err, CodeGatewayUnavailable, "the confirmation did not reach the gateway")
	case apperr.Is(err, apperr.Declined):
		code := declineCode(err, Intent{})
		if terr := s.transition(ctx, &tx, change{to: StatusFailed, failureCode: code, action: "charge_declined"}); terr != nil {
			return s.lost(ctx, tx, terr)
		}
		return tx, err
	}
	return tx, err
}

// apply records what the gateway says about the row's intent and returns
// the charge step's answer for it.
func (s *Service) apply(ctx context.Context, tx Transaction, in Intent) (Transaction, error) {
	if err := matches(tx, in); err != nil {
		return tx, err
	}
	c, answer := intentChange(in)
	if c.to == "" || reflects(tx.Status, c.to) {
		return tx, answer
	}
	if err := s.transition(ctx, &tx, c); err != nil {
		return s.lost(ctx, tx, err)
	}
	return tx, answer
}

// matches refuses an intent whose amount or currency is not the ledger's:
// nothing is recorded from it.
func matches(tx Transaction, in Intent) error {
	if in.Amount != tx.Amount || in.Currency != tx.Currency {
		return apperr.E(apperr.Internal, CodeAmountMismatch, "intent %s is for %d %s, the ledger says %d %s",
			in.ID, in.Amount, in.Currency, tx.Amount, tx.Currency)
	}
	return nil
}

// reflects reports whether a row in status cur already says what an
// intent mapped to status to says: the same status, or a refunded charge
// for a succeeded intent (refunds, not the intent, say it was refunded).
func reflects(cur, to Status) bool {
	return cur == to || (cur == StatusRefunded && to == StatusSucceeded)
}

// intentChange maps an intent's status to the charge row's change and the
// charge step's answer. An empty change.to means nothing to record.
func intentChange(in Intent) (change, error) {
	c := change{intent: in.ID, raw: in.Raw, detail: map[string]any{"intent_status": in.Status}}
	switch in.Status {
	case IntentSucceeded:
		c.to, c.action = StatusSucceeded, "charge_succeeded"
		return c, nil
	case IntentRequiresCapture:
		c.to, c.action = StatusAuthorized, "charge_authorized"
		return c, nil
	case IntentProcessing:
		c.to, c.action = StatusProcessing, "charge_processing"
		return c, apperr.E(apperr.Pending, CodeProcessing, "the payment is still processing at the gateway")
	case IntentRequiresAction:
		c.to, c.action, c.nextAction, c.secret = StatusRequiresAction, "charge_requires_action", in.NextActionURL, in.ClientSecret
		return c, apperr.E(apperr.RequiresAction, "requires_action", "the payment needs the customer to authenticate")
	case IntentRequiresPaymentMethod:
		code := declineCode(nil, in)
		c.to, c.action, c.failureCode = StatusFailed, "charge_declined", code
		return c, &apperr.Error{Kind: apperr.Declined, Code: CodeDeclined, Message: "the payment was declined",
			Details: map[string]any{"decline_code": code}}
	case IntentCanceled:
		c.to, c.action, c.failureCode = StatusCanceled, "charge_canceled", "canceled"
		return c, apperr.E(apperr.State, CodeCanceled, "the payment was canceled")
	}
	return change{}, apperr.E(apperr.Transient, CodeGatewayUnavailable, "intent %s is %s", in.ID, in.Status)
}

// lost answers a transition that lost a race: another writer recorded a
// newer fact first, so the row (reloaded by transition) is the answer.
func (s *Service) lost(ctx context.Context, tx Transaction, err error) (Transaction, error) {
	te := AsTransition(err)
	if te == nil {
		return tx, err
	}
	s.log.InfoContext(ctx, "payment row moved meanwhile; answering from it", "checkout_id", tx.CheckoutID, "err", err)
	if done, serr := settled(tx); done {
		return tx, serr
	}
	return tx, transient(err, CodeInProgress, "the payment changed meanwhile")
}

// abandonIntent cancels an intent this call created but must not use
// (another call recorded its own first). Best effort: an intent nobody
// confirms moves no money, and reconciliation lists leftovers.
func (s *Service) abandonIntent(ctx context.Context, tx Transaction, intentID string) {
	cctx, cancel := s.callCtx(ctx)
	defer cancel()
	if _, err := s.gw.CancelIntent(cctx, intentID, "checkout-"+tx.CheckoutID+"-orphan-"+intentID+"-cancel"); err != nil {
		s.log.WarnContext(ctx, "cancel of an unused intent failed", "checkout_id", tx.CheckoutID, "intent", intentID, "err", err)
	}
}

// settled answers a charge that the charge step has nothing more to do for.
func settled(tx Transaction) (bool, error) {
	switch tx.Status {
	case StatusSucceeded, StatusAuthorized:
		return true, nil
	case StatusFailed:
		return true, &apperr.Error{Kind: apperr.Declined, Code: CodeDeclined, Message: "the payment was declined",
			Details: map[string]any{"decline_code": tx.FailureCode}}
	case StatusCanceled:
		return true, apperr.E(apperr.State, CodeCanceled, "the charge for checkout %s was canceled", tx.CheckoutID)
	case StatusRefunded:
		return true, apperr.E(apperr.State, CodeRefunded, "the charge for checkout %s was refunded", tx.CheckoutID)
	}
	return false, nil
}

// declineCode names a decline: the error's decline code, else the intent's
// last decline or failure code, else "declined".
func declineCode(err error, in Intent) string {
	if ae := apperr.As(err); ae != nil {
		if c, _ := ae.Details["decline_code"].(string); c != "" {
			return c
		}
	}
	return firstNonEmpty(firstNonEmpty(in.DeclineCode, in.FailureCode), "declined")
}

// getIntent retrieves an intent within the per-call timeout.
func (s *Service) getIntent(ctx context.Context, intentID string) (Intent, error) {
	cctx, cancel := s.callCtx(ctx)
	defer cancel()
	return s.gw.GetIntent(cctx, intentID)
}

// recordCharge publishes one charge attempt's outcome: PaymentsAttempted 1,
// and PaymentsFailed 1 unless the charge succeeded (0 otherwise), so that
// the failure-rate alarm divides two sums over the same attempts. A Charge
// call answered from an already settled row is not an attempt and is not
// recorded; every other call is, retries of the step included, except one
// that waits for the customer's 3-D Secure: that is not an outcome yet
// (the call after the authentication records it).
func (s *Service) recordCharge(ctx context.Context, tx Transaction, err error) {
	outcome := chargeOutcome(tx, err)
	if outcome == "requires_action" {
		return
	}
	failed := 0
	if outcome != "succeeded" {
		failed = 1
	}
	s.metrics.Record(ctx, metrics.Entry{
		Metrics:    []metrics.Metric{metrics.CountOf(metrics.PaymentsAttempted, 1), metrics.CountOf(metrics.PaymentsFailed, failed)},
		Properties: map[string]any{"checkout_id": tx.CheckoutID, "payment_outcome": outcome},
	})
}

// chargeOutcome names a charge attempt's result for the metrics' logs.
func chargeOutcome(tx Transaction, err error) string {
	if err == nil {
		if tx.Status == StatusSucceeded || tx.Status == StatusAuthorized {
			return "succeeded"
		}
		return string(tx.Status)
	}
	switch apperr.KindOf(err) {
	case apperr.Declined:
		return "declined"
	case apperr.RequiresAction:
		return "requires_action"
	case apperr.Pending:
		return "processing"
	case apperr.Invalid:
		return "refused"
	case apperr.Transient, apperr.Unavailable:
		return "gateway_unavailable"
	case apperr.UnknownOutcome:
		return "outcome_unknown"
	}
	return "error"
}
