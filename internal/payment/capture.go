package payment

import (
	"context"

	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/internal/apperr"
)

// Capture takes the money the checkout's charge authorized, once the order
// exists: at most once whatever retries happen (the key is derived from the
// checkout; a capture the gateway answered 5xx is resent under a new key
// only once the intent shows it is still capturable). A charge already
// captured is answered from the database.
//
// Errors: NotFound (no charge); State, code payment_not_succeeded (the
// charge is not authorized: never confirmed, voided or failed);
// Transient/Unavailable/UnknownOutcome (retries exhausted: calling again is
// safe); Internal (the intent does not match the ledger).
func (s *Service) Capture(ctx context.Context, checkoutID uuid.UUID) (Transaction, error) {
	tx, err := s.get(ctx, s.pool, checkoutID, KindCharge)
	if err != nil {
		return tx, err
	}
	err = s.retry.Do(ctx, Retryable, func(ctx context.Context) error {
		var err error
		tx, err = s.captureOnce(ctx, tx)
		return err
	})
	return tx, err
}

func (s *Service) captureOnce(ctx context.Context, tx Transaction) (Transaction, error) {
	if err := s.reload(ctx, &tx); err != nil {
		return tx, err
	}
	switch tx.Status {
	case StatusSucceeded, StatusRefunded:
		return tx, nil // captured before
	case StatusAuthorized:
	default:
		return tx, apperr.E(apperr.State, CodeNotSucceeded, "the charge of checkout %s is %s: nothing to capture", tx.CheckoutID, tx.Status)
	}
	cctx, cancel := s.callCtx(ctx)
	in, err := s.gw.CaptureIntent(cctx, tx.ProviderPaymentID, captureKey(tx.checkout(), tx.Attempt))
	cancel()
	if err == nil {
		return s.recordCapture(ctx, tx, in)
	}
	if !apperr.Is(err, apperr.State) && !apperr.Is(err, apperr.UnknownOutcome) {
		return tx, err
	}
	// Captured already (a lost answer), canceled meanwhile, or unknown:
	// the intent's own status decides.
	got, gerr := s.getIntent(ctx, tx.ProviderPaymentID)
	if gerr != nil {
		return tx, err
	}
	if got.Status == IntentRequiresCapture {
		if serverError(err) {
			if berr := s.bumpAttempt(ctx, &tx, "capture answered 5xx"); berr != nil {
				return tx, berr
			}
		}
		return tx, transient(err, CodeGatewayUnavailable, "the capture did not take effect")
	}
	return s.recordCapture(ctx, tx, got)
}

// recordCapture records the intent after a capture: succeeded, or
// whatever else the gateway says (a canceled authorization cannot be
// captured any more: State).
func (s *Service) recordCapture(ctx context.Context, tx Transaction, in Intent) (Transaction, error) {
	if err := matches(tx, in); err != nil {
		return tx, err
	}
	c, _ := intentChange(in)
	if c.to == "" {
		return tx, apperr.E(apperr.Transient, CodeGatewayUnavailable, "intent %s is %s", in.ID, in.Status)
	}
	if c.to == StatusSucceeded {
		c.action = "charge_captured"
	}
	if !reflects(tx.Status, c.to) {
		if err := s.transition(ctx, &tx, c); err != nil {
			return tx, moved(err)
		}
	}
	if tx.Status != StatusSucceeded && tx.Status != StatusRefunded {
		return tx, apperr.E(apperr.State, CodeNotSucceeded, "intent %s is %s: it cannot be captured", in.ID, in.Status)
	}
	return tx, nil
}
