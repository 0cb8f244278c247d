package saga

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/payment"
)

// chargeHoldMargin is how long a checkout's stock must stay held after
// ChargePayment starts: longer than the step itself may run (its Lambda
// timeout), so the stock cannot expire while the gateway takes the money.
const chargeHoldMargin = 2 * time.Minute

// authenticationHoldMargin is added to the authentication timeout when the
// hold is extended for the wait: after the wait, ChargePayment and
// CreateOrder still need the stock.
const authenticationHoldMargin = 5 * time.Minute

// maxAuthenticationTimeout bounds a state's authentication timeout (the
// state machine's TimeoutSecondsPath): a PaymentIntent's 3-D Secure
// session does not last longer.
const maxAuthenticationTimeout = 24 * time.Hour

// authenticationTimeout is st's wait for the customer, validated.
func authenticationTimeout(st State) (time.Duration, error) {
	if st.AuthenticationTimeoutSeconds == 0 {
		return DefaultAuthenticationTimeout, nil
	}
	d := time.Duration(st.AuthenticationTimeoutSeconds) * time.Second
	if d < 0 || d > maxAuthenticationTimeout {
		return 0, apperr.InvalidField("authentication_timeout_seconds", "must be between 1 and %d", int(maxAuthenticationTimeout/time.Second))
	}
	return d, nil
}

// ensureHeld refuses to go on with a checkout whose stock is no longer
// held, and makes a hold about to run out last for the step: no payment is
// ever attempted for stock the checkout does not hold.
// Errors: ReservationExpired, StateConflict, InvalidRequest (no hold).
func (s *Steps) ensureHeld(ctx context.Context, id uuid.UUID) error {
	now := s.now()
	err := s.Inventory.CheckHeld(ctx, id, now.Add(chargeHoldMargin))
	if !apperr.Is(err, apperr.Expired) {
		return err
	}
	// Held now but not for the whole step: extend it (Extend refuses a
	// hold that already ran out).
	return s.Inventory.Extend(ctx, id, now.Add(chargeHoldMargin))
}

// AwaitAuthentication runs when the payment needs the customer (3-D
// Secure): it is the Lambda of the state that waits for a task token. It
// extends the stock hold for the whole wait, records the token with the
// payment (the webhook's reconciler resumes the execution with it), marks
// the checkout requires_action, and resumes at once if the gateway already
// decided (a webhook that came before the token was recorded). Its result
// is ignored: the execution goes on when the token is completed, or the
// state times out (States.Timeout).
//
// Idempotent. Errors: ReservationExpired (the hold ran out before the
// wait), PaymentAuthenticationFailed (the payment asked for authentication
// again after one), InvalidRequest, Transient.
func (s *Steps) AwaitAuthentication(ctx context.Context, in AwaitInput) (State, error) {
	st := in.State
	c, err := s.load(ctx, st, true)
	if err != nil {
		return st, err
	}
	if err := notEnded(c); err != nil {
		return st, err
	}
	if in.TaskToken == "" {
		return st, apperr.InvalidField("task_token", "is required (the state's Payload must pass $$.Task.Token)")
	}
	if st.Authentication != nil {
		return st, apperr.E(apperr.RequiresAction, payment.CodeAuthenticationFailed,
			"the payment asked the customer to authenticate again after an authentication")
	}
	timeout, err := authenticationTimeout(st)
	if err != nil {
		return st, err
	}
	if err := s.Inventory.Extend(ctx, c.ID, s.now().Add(timeout+authenticationHoldMargin)); err != nil {
		return st, err
	}
	if err := s.Payments.AwaitAuthentication(ctx, c.ID, in.TaskToken); err != nil {
		return st, err
	}
	if err := s.Checkouts.MarkRequiresAction(ctx, c.ID); err != nil {
		return st, err
	}
	if s.Resumer != nil {
		if _, err := s.Payments.Resume(ctx, c.ID, s.Resumer); err != nil {
			// The webhook or reconciliation resumes it later.
			s.log().WarnContext(ctx, "await authentication: could not check whether it was already decided", "checkout_id", c.ID, "err", err)
		}
	}
	return st, nil
}

// CapturePayment takes the authorized money once the order exists. At
// most once whatever retries happen (payment.Service.Capture).
// Errors: StateConflict (nothing to capture: the authorization was voided
// or expired; a person must look), PaymentGatewayUnavailable,
// PaymentOutcomeUnknown, Transient, InvalidRequest.
func (s *Steps) CapturePayment(ctx context.Context, st State) (State, error) {
	c, err := s.load(ctx, st, false)
	if err != nil {
		return st, err
	}
	tx, err := s.Payments.Capture(ctx, c.ID)
	if err != nil {
		return st, err
	}
	st.Capture = &Capture{Status: string(tx.Status)}
	return st, nil
}
