package payment

import (
	"context"

	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/internal/apperr"
)

// Refund origins (payment_transactions.origin).
const (
	OriginCompensation   = "compensation"   // the saga undoing a failed checkout
	OriginReconciliation = "reconciliation" // the gateway disagreed with the ledger after the checkout ended
	OriginGateway        = "gateway"        // made at the gateway by someone else (the Stripe dashboard)
)

// Reversal actions.
const (
	ReversalNone          = "none"           // no payment was ever started
	ReversalVoided        = "voided"         // the intent is canceled: nothing was taken, or the hold is released
	ReversalRefunded      = "refunded"       // the money was taken and is back
	ReversalRefundPending = "refund_pending" // the gateway accepted the refund; the money is on its way back
)

// Reversal says what Reverse did.
type Reversal struct {
	Action string      `json:"action"`
	Refund Transaction `json:"refund,omitempty"`
}

// Reverse gives back whatever the checkout's payment took or may still
// take, after asking the gateway where it really stands: a succeeded
// payment is refunded in full, any other intent is canceled so that no
// late confirmation (a customer finishing 3-D Secure) can move money.
// It is a compensation: idempotent, and safe when no payment was ever
// started. It does not check whether an order exists: callers that must
// not refund a sold order check that first.
//
// Errors (apperr kinds): Pending (the payment is processing: the gateway
// cannot cancel it yet; ask again later); Invalid with code refund_failed
// (the gateway refused the refund, or reported it failed: a person must
// act); Transient/Unavailable/UnknownOutcome (retries exhausted; calling
// again is safe); Internal (the intent does not match the ledger).
func (s *Service) Reverse(ctx context.Context, checkoutID uuid.UUID, origin string) (Reversal, error) {
	charge, err := s.get(ctx, s.pool, checkoutID, KindCharge)
	if apperr.Is(err, apperr.NotFound) {
		return Reversal{Action: ReversalNone}, nil
	}
	if err != nil {
		return Reversal{}, err
	}
	var out Reversal
	err = s.retry.Do(ctx, Retryable, func(ctx context.Context) error {
		var err error
		out, err = s.reverseOnce(ctx, &charge, origin)
		return err
	})
	return out, err
}

func (s *Service) reverseOnce(ctx context.Context, charge *Transaction, origin string) (Reversal, error) {
	if err := s.reload(ctx, charge); err != nil {
		return Reversal{}, err
	}
	if charge.ProviderPaymentID == "" {
		// No intent was recorded. One may exist from a create whose answer
		// was lost, but nobody will confirm it: it moves no money. The row
		// is closed so that a late charge step cannot start one.
		err := s.transition(ctx, charge, change{to: StatusCanceled, failureCode: "abandoned", action: "charge_abandoned"})
		if err != nil {
			return Reversal{}, moved(err)
		}
		return Reversal{Action: ReversalVoided}, nil
	}
	if charge.Status == StatusCanceled {
		return Reversal{Action: ReversalVoided}, nil // the gateway confirmed the cancel
	}
	in, err := s.getIntent(ctx, charge.ProviderPaymentID)
	if err != nil {
		return Reversal{}, err
	}
	if err := matches(*charge, in); err != nil {
		return Reversal{}, err
	}
	if c, _ := intentChange(in); c.to != "" && !reflects(charge.Status, c.to) {
		if err := s.transition(ctx, charge, c); err != nil {
			return Reversal{}, moved(err)
		}
	}
	switch in.Status {
	case IntentProcessing:
		return Reversal{}, apperr.E(apperr.Pending, CodeProcessing,
			"the payment is still processing at the gateway; it can be neither canceled nor refunded yet")
	case IntentSucceeded:
		return s.refund(ctx, charge, origin)
	case IntentCanceled:
		return Reversal{Action: ReversalVoided}, nil
	}
	return s.cancel(ctx, charge)
}

// cancel cancels the charge's intent (any status but processing, succeeded
// and canceled) and records it.
func (s *Service) cancel(ctx context.Context, charge *Transaction) (Reversal, error) {
	cctx, cancel := s.callCtx(ctx)
	got, err := s.gw.CancelIntent(cctx, charge.ProviderPaymentID, cancelKey(charge.checkout(), charge.Attempt))
	cancel()
	switch {
	case err == nil:
		c, _ := intentChange(got)
		if c.to == "" || got.Status != IntentCanceled {
			return Reversal{}, apperr.E(apperr.Transient, CodeInProgress, "intent %s is %s after the cancel", got.ID, got.Status)
		}
		if err := s.transition(ctx, charge, c); err != nil {
			return Reversal{}, moved(err)
		}
		return Reversal{Action: ReversalVoided}, nil
	case apperr.Is(err, apperr.State):
		// The gateway refused: the intent moved on meanwhile (succeeded or
		// processing). Never assume which: the next round retrieves it.
		return Reversal{}, transient(err, CodeInProgress, "the intent changed while it was being canceled")
	case serverError(err):
		// The cancel may or may not have happened and this key now replays
		// the 5xx: the next round retrieves the intent, and if it is still
		// cancelable, cancels under a new key.
		if berr := s.bumpAttempt(ctx, charge, "cancel answered 5xx"); berr != nil {
			return Reversal{}, berr
		}
	}
	return Reversal{}, err
}

// refund refunds the charge in full (the saga's refund row), or answers
// from that row when it already settled.
func (s *Service) refund(ctx context.Context, charge *Transaction, origin string) (Reversal, error) {
	r, err := s.ensureRefund(ctx, *charge, origin)
	if err != nil {
		return Reversal{}, err
	}
	if r.Status != StatusProcessing || r.ProviderRefundID != "" || r.Attempt > 0 {
		// Not the first try: the gateway may hold a refund whose answer was
		// lost, or one made in its dashboard. Read them before sending.
		if err := s.syncRefunds(ctx, charge); err != nil {
			return Reversal{}, err
		}
		if r, err = s.get(ctx, s.pool, charge.checkout(), KindRefund); err != nil {
			return Reversal{}, err
		}
		if out, done, err := s.refundSettled(ctx, charge, r); done {
			return out, err
		}
	}
	cctx, cancel := s.callCtx(ctx)
	got, err := s.gw.Refund(cctx, charge.ProviderPaymentID, charge.Amount, refundCallKey(charge.checkout(), r.Attempt))
	cancel()
	switch {
	case err == nil:
		if got.Currency != "" && (got.Amount != r.Amount || got.Currency != r.Currency) {
			return Reversal{}, apperr.E(apperr.Internal, CodeAmountMismatch, "refund %s is for %d %s, the ledger says %d %s",
				got.ID, got.Amount, got.Currency, r.Amount, r.Currency)
		}
		if err := s.recordRefund(ctx, &r, got, "refund_"+got.Status); err != nil {
			return Reversal{}, moved(err)
		}
		if err := s.settleCharge(ctx, charge); err != nil {
			return Reversal{}, err
		}
		out, _, err := s.refundSettled(ctx, charge, r)
		return out, err
	case apperr.Is(err, apperr.State):
		// Refunded already (by a lost answer of ours, or in the dashboard):
		// the gateway's list of refunds says by whom; the next round reads it.
		if serr := s.syncRefunds(ctx, charge); serr != nil {
			return Reversal{}, serr
		}
		return Reversal{}, transient(err, CodeInProgress, "the charge was refunded meanwhile")
	case serverError(err):
		if serr := s.syncRefunds(ctx, charge); serr != nil {
			return Reversal{}, serr
		}
		if cur, gerr := s.get(ctx, s.pool, charge.checkout(), KindRefund); gerr == nil && cur.ProviderRefundID == "" {
			if berr := s.bumpAttempt(ctx, &cur, "refund answered 5xx"); berr != nil {
				return Reversal{}, berr
			}
		}
	case apperr.Is(err, apperr.Invalid):
		// The gateway refused to make the refund (a disputed charge, an
		// account without balance): no refund object exists and retrying
		// cannot help. The row records the refusal; a person must act.
		reason := "refund_refused"
		if se := stripeErr(err); se != nil && se.Code != "" {
			reason = string(se.Code)
		}
		if terr := s.transition(ctx, &r, change{to: StatusFailed, failureCode: reason, action: "refund_refused",
			detail: map[string]any{"message": apperr.As(err).Message}}); terr != nil && AsTransition(terr) == nil {
			return Reversal{}, terr
		}
		if ae := apperr.As(err); ae != nil {
			ae.Code = CodeRefundFailed
		}
	}
	return Reversal{}, err
}

// refundSettled answers from the saga's refund row r once the gateway
// decided it; done is false while it is still only sent (processing).
func (s *Service) refundSettled(ctx context.Context, charge *Transaction, r Transaction) (Reversal, bool, error) {
	switch r.Status {
	case StatusSucceeded:
		return Reversal{Action: ReversalRefunded, Refund: r}, true, nil
	case StatusPending:
		return Reversal{Action: ReversalRefundPending, Refund: r}, true, nil
	case StatusFailed, StatusCanceled:
		if charge.Status == StatusRefunded {
			return Reversal{Action: ReversalRefunded, Refund: r}, true, nil // refunded in full by another refund
		}
		return Reversal{}, true, apperr.E(apperr.Invalid, CodeRefundFailed, "the gateway reports refund %s %s (%s): the money was not returned",
			r.ProviderRefundID, r.Status, firstNonEmpty(r.FailureCode, "no reason given"))
	}
	if charge.Status == StatusRefunded {
		// Someone else refunded it in full (the dashboard) before ours was sent.
		return Reversal{Action: ReversalRefunded, Refund: r}, true, nil
	}
	return Reversal{}, false, nil
}

// moved turns a lost transition into a Transient error: the retry loop
// reads the row and the gateway again.
func moved(err error) error {
	if AsTransition(err) != nil {
		return transient(err, CodeInProgress, "the payment changed meanwhile")
	}
	return err
}

// transient re-kinds err (whatever its kind) as Transient: the retry loop
// tries again, reading the gateway and the row afresh.
func transient(err error, code, msg string) error {
	return &apperr.Error{Kind: apperr.Transient, Code: code, Message: msg, Err: err}
}
