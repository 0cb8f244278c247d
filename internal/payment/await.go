package payment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/checkout-dev/checkout/internal/apperr"
)

// Resumer completes the saga's task that waits for the customer to
// authenticate (Step Functions SendTaskSuccess / SendTaskFailure).
type Resumer interface {
	Succeed(ctx context.Context, taskToken string, output []byte) error
	Fail(ctx context.Context, taskToken, errorName, cause string) error
}

// ErrorAuthenticationFailed is the error name a waiting execution fails
// with when the customer's authentication failed (the state machine's
// Catch matches it).
const ErrorAuthenticationFailed = "PaymentAuthenticationFailed"

// AwaitAuthentication records the task token of the execution that waits
// for the customer to authenticate checkoutID's payment. The charge must
// require action. Idempotent (the latest token wins).
//
// Errors: NotFound; State when the charge no longer requires action (the
// caller resumes at once instead: see Resume).
func (s *Service) AwaitAuthentication(ctx context.Context, checkoutID uuid.UUID, taskToken string) error {
	if taskToken == "" {
		return apperr.InvalidField("task_token", "is required")
	}
	tag, err := s.pool.Exec(ctx, `UPDATE payment_transactions SET task_token = $2, updated_at = now()
		WHERE checkout_id = $1 AND kind = 'charge'`, checkoutID, taskToken)
	if err != nil {
		return fmt.Errorf("payment: await authentication: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return apperr.E(apperr.NotFound, "not_found", "no charge for checkout %s", checkoutID)
	}
	return nil
}

// Resume completes the waiting task of checkoutID once the gateway decided
// the authentication: it retrieves the intent, records its status, and
// sends the task success (authorized or succeeded) or failure (the
// customer failed or abandoned it: ErrorAuthenticationFailed), then forgets
// the token. It does nothing while the intent still requires action or is
// processing, or when no task waits. Idempotent: a token the state machine
// already completed (a duplicate notice, a timeout) is simply forgotten.
func (s *Service) Resume(ctx context.Context, checkoutID uuid.UUID, r Resumer) (resumed bool, err error) {
	var token *string
	err = s.pool.QueryRow(ctx, `SELECT task_token FROM payment_transactions WHERE checkout_id = $1 AND kind = 'charge'`, checkoutID).Scan(&token)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && token == nil) {
		return false, nil // no charge, or nothing waits
	}
	if err != nil {
		return false, fmt.Errorf("payment: resume: %w", err)
	}
	tx, err := s.get(ctx, s.pool, checkoutID, KindCharge)
	if err != nil {
		return false, err
	}
	in, err := s.getIntent(ctx, tx.ProviderPaymentID)
	if err != nil {
		return false, err
	}
	if err := matches(tx, in); err != nil {
		return false, err
	}
	if c, _ := intentChange(in); c.to != "" && !reflects(tx.Status, c.to) {
		if err := s.transition(ctx, &tx, c); err != nil && AsTransition(err) == nil {
			return false, err
		}
	}
	switch in.Status {
	case IntentRequiresAction, IntentProcessing, IntentRequiresConfirmation:
		return false, nil // not decided yet
	case IntentRequiresCapture, IntentSucceeded:
		out, _ := json.Marshal(map[string]string{"status": in.Status, "intent_id": in.ID})
		err = r.Succeed(ctx, *token, out)
	default: // requires_payment_method (failed), canceled
		cause := "the customer's authentication failed"
		if in.Status == IntentCanceled {
			cause = "the payment was canceled"
		} else if code := firstNonEmpty(in.FailureCode, in.DeclineCode); code != "" {
			cause += " (" + code + ")"
		}
		err = r.Fail(ctx, *token, ErrorAuthenticationFailed, cause)
	}
	if err != nil && !apperr.Is(err, apperr.State) {
		return false, fmt.Errorf("payment: resume checkout %s: %w", checkoutID, err)
	}
	if _, cerr := s.pool.Exec(ctx, `UPDATE payment_transactions SET task_token = NULL, updated_at = now()
		WHERE checkout_id = $1 AND kind = 'charge' AND task_token = $2`, checkoutID, *token); cerr != nil {
		return false, fmt.Errorf("payment: forget the task token: %w", cerr)
	}
	s.log.InfoContext(ctx, "payment: resumed the execution waiting for authentication", "checkout_id", checkoutID,
		"intent", in.ID, "intent_status", in.Status, "already_done", err != nil)
	return err == nil, nil
}

// NextAction is what the storefront needs while a checkout's payment
// requires action: where the customer authenticates (empty when no return
// URL is configured: Stripe.js does it), and the client secret for
// Stripe.js. ok is false when the payment does not require action.
func (s *Service) NextAction(ctx context.Context, checkoutID uuid.UUID) (url, clientSecret string, ok bool, err error) {
	var u, sec *string
	var status Status
	err = s.pool.QueryRow(ctx, `SELECT status, next_action_url, client_secret FROM payment_transactions WHERE checkout_id = $1 AND kind = 'charge'`,
		checkoutID).Scan(&status, &u, &sec)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, fmt.Errorf("payment: next action: %w", err)
	}
	if status != StatusRequiresAction {
		return "", "", false, nil
	}
	if u != nil {
		url = *u
	}
	if sec != nil {
		clientSecret = *sec
	}
	return url, clientSecret, url != "" || clientSecret != "", nil
}
