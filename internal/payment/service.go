package payment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/metrics"
	"github.com/checkout-dev/checkout/internal/postgres"
)

// Transaction statuses (payment_transactions.status).
const (
	StatusInitiated  = "initiated"
	StatusProcessing = "processing"
	StatusSucceeded  = "succeeded"
	StatusFailed     = "failed"
	StatusRefunded   = "refunded"
)

// Transaction is one row of payment_transactions.
type Transaction struct {
	ID                int64  `json:"transaction_id"`
	CheckoutID        string `json:"checkout_id"`
	Kind              string `json:"kind"`
	Status            string `json:"status"`
	Amount            int64  `json:"amount"`
	Currency          string `json:"currency"`
	ProviderPaymentID string `json:"provider_payment_id,omitempty"`
	ProviderRefundID  string `json:"provider_refund_id,omitempty"`
	FailureCode       string `json:"failure_code,omitempty"`
}

// Service charges and refunds checkouts, at most once each.
type Service struct {
	pool    *pgxpool.Pool
	gw      Gateway
	retry   Backoff
	log     *slog.Logger
	metrics metrics.Recorder
}

// NewService returns a Service recording payments in pool and moving money
// through gw.
func NewService(pool *pgxpool.Pool, gw Gateway, retry Backoff, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{pool: pool, gw: gw, retry: retry, log: log, metrics: metrics.Nop{}}
}

// WithMetrics makes s publish PaymentsAttempted and PaymentsFailed through
// r (nil: none) and returns s. Call it before s is used.
func (s *Service) WithMetrics(r metrics.Recorder) *Service {
	s.metrics = metrics.OrNop(r)
	return s
}

// Idempotency keys derived from the checkout: a retried or duplicated step
// sends the same keys, so the gateway can never charge or refund twice.
func chargeKey(id uuid.UUID) string  { return "checkout-" + id.String() + "-charge" }
func createKey(id uuid.UUID) string  { return chargeKey(id) + "-create" }
func confirmKey(id uuid.UUID) string { return chargeKey(id) + "-confirm" }
func refundKey(id uuid.UUID) string  { return "checkout-" + id.String() + "-refund" }
func cancelKey(id uuid.UUID) string  { return chargeKey(id) + "-cancel" }

// Charge moves the checkout's amount from its payment method, at most once
// whatever retries, duplicates or concurrent calls happen: the gateway's
// idempotency keys are derived from the checkout, and a charge already
// recorded as succeeded or failed is answered from the database.
//
// Transient gateway failures are retried with backoff while ctx's deadline
// allows. An unknown outcome is resolved by retrieving the PaymentIntent,
// never by charging again.
//
// Errors (apperr kinds): NotFound (no checkout), Declined (code
// payment_declined), RequiresAction, Invalid (code payment_failed: the
// gateway refused the request), Transient/Unavailable (retries exhausted;
// retrying the step is safe), UnknownOutcome (still unresolved).
func (s *Service) Charge(ctx context.Context, checkoutID uuid.UUID) (Transaction, error) {
	tx, pm, err := s.ensureCharge(ctx, checkoutID)
	if err != nil {
		return Transaction{}, err
	}
	if done, err := settled(tx); done {
		return tx, err
	}
	err = s.retry.Do(ctx, func(ctx context.Context) error {
		var err error
		tx, err = s.chargeOnce(ctx, tx, pm)
		return err
	})
	s.recordCharge(ctx, tx, err)
	return tx, err
}

// recordCharge publishes one charge attempt's outcome: PaymentsAttempted 1,
// and PaymentsFailed 1 unless the charge succeeded (0 otherwise), so that
// the failure-rate alarm divides two sums over the same attempts. A Charge
// call answered from an already settled row is not an attempt and is not
// recorded; every other call is, retries of the step included.
func (s *Service) recordCharge(ctx context.Context, tx Transaction, err error) {
	outcome := chargeOutcome(tx, err)
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
		if tx.Status == StatusSucceeded {
			return "succeeded"
		}
		return tx.Status // settled otherwise by a concurrent writer
	}
	switch apperr.KindOf(err) {
	case apperr.Declined:
		return "declined"
	case apperr.RequiresAction:
		return "requires_action"
	case apperr.Invalid:
		return "refused"
	case apperr.Transient, apperr.Unavailable:
		return "gateway_unavailable"
	case apperr.UnknownOutcome:
		return "outcome_unknown"
	}
	return "error"
}

// settled answers a charge that already ended from its row.
func settled(tx Transaction) (bool, error) {
	switch tx.Status {
	case StatusSucceeded:
		return true, nil
	case StatusFailed:
		return true, &apperr.Error{Kind: apperr.Declined, Code: "payment_declined", Message: "the payment was declined",
			Details: map[string]any{"decline_code": tx.FailureCode}}
	case StatusRefunded:
		return true, apperr.E(apperr.State, "payment_refunded", "the charge for checkout %s was refunded", tx.CheckoutID)
	}
	return false, nil
}

func (s *Service) chargeOnce(ctx context.Context, tx Transaction, pm string) (Transaction, error) {
	id := uuid.MustParse(tx.CheckoutID)
	if tx.ProviderPaymentID == "" {
		in, err := s.gw.CreateIntent(ctx, NewIntent{Amount: tx.Amount, Currency: tx.Currency, PaymentMethod: pm, CheckoutID: tx.CheckoutID}, createKey(id))
		if err != nil {
			return tx, err
		}
		if err := s.update(ctx, &tx, StatusProcessing, in.ID, "", in.Raw, "charge_intent_created"); err != nil {
			return tx, err
		}
	}
	in, err := s.gw.ConfirmIntent(ctx, tx.ProviderPaymentID, pm, confirmKey(id))
	if apperr.Is(err, apperr.UnknownOutcome) {
		s.log.WarnContext(ctx, "charge outcome unknown; retrieving the intent", "checkout_id", tx.CheckoutID, "intent", tx.ProviderPaymentID, "err", err)
		got, gerr := s.gw.GetIntent(ctx, tx.ProviderPaymentID)
		if gerr != nil {
			return tx, err // still unknown
		}
		if got.Status == IntentRequiresConfirmation {
			// The confirm never reached the gateway: confirming again (with
			// the same key) cannot charge twice.
			return tx, apperr.Wrap(apperr.Transient, "payment_gateway_unavailable", err, "the confirmation did not reach the gateway")
		}
		in, err = got, nil
		if got.Status == IntentRequiresPaymentMethod {
			err = &apperr.Error{Kind: apperr.Declined, Code: "payment_declined", Message: "the payment was declined",
				Details: map[string]any{"decline_code": got.DeclineCode}}
		}
	}
	switch {
	case apperr.Is(err, apperr.Declined):
		code := in.DeclineCode
		if ae := apperr.As(err); ae != nil && code == "" {
			code, _ = ae.Details["decline_code"].(string)
		}
		if code == "" {
			code = "declined"
		}
		if uerr := s.update(ctx, &tx, StatusFailed, "", code, in.Raw, "charge_declined"); uerr != nil {
			return tx, uerr
		}
		return tx, err
	case err != nil:
		return tx, err
	}
	switch in.Status {
	case IntentSucceeded:
		return tx, s.update(ctx, &tx, StatusSucceeded, "", "", in.Raw, "charge_succeeded")
	case IntentRequiresAction:
		return tx, apperr.E(apperr.RequiresAction, "requires_action", "the payment needs the customer to authenticate")
	case IntentProcessing:
		return tx, apperr.E(apperr.UnknownOutcome, "payment_outcome_unknown", "the payment is still processing")
	default:
		return tx, apperr.E(apperr.Internal, "internal", "unexpected PaymentIntent status %q after confirm", in.Status)
	}
}

// Refund returns the checkout's charge in full, at most once. It is a
// compensation: idempotent, and safe when no charge was ever made (it then
// reports refunded=false). A charge whose outcome was never settled is
// resolved first; one that did not succeed is marked failed so that no late
// retry can charge it.
//
// Errors: Transient/Unavailable/UnknownOutcome (retry the step), Invalid
// (code refund_failed: the gateway refused the refund for good).
func (s *Service) Refund(ctx context.Context, checkoutID uuid.UUID) (refunded bool, err error) {
	charge, found, err := s.find(ctx, checkoutID, "charge")
	if err != nil || !found {
		return false, err
	}
	if charge.Status == StatusInitiated || charge.Status == StatusProcessing {
		if charge, err = s.settle(ctx, charge); err != nil {
			return false, err
		}
	}
	switch charge.Status {
	case StatusRefunded:
		return true, nil
	case StatusSucceeded:
	default:
		return false, nil
	}
	err = s.retry.Do(ctx, func(ctx context.Context) error {
		return s.refundOnce(ctx, checkoutID, charge)
	})
	return err == nil, err
}

// settle resolves a charge that never recorded an outcome (the charge step
// gave up, or the customer never finished authentication): a succeeded
// intent is recorded; any other is canceled at the gateway, so that no late
// confirmation can move money, and closed as failed.
func (s *Service) settle(ctx context.Context, charge Transaction) (Transaction, error) {
	if charge.ProviderPaymentID == "" {
		return charge, s.update(ctx, &charge, StatusFailed, "", "abandoned", nil, "charge_abandoned")
	}
	id := uuid.MustParse(charge.CheckoutID)
	var in Intent
	err := s.retry.Do(ctx, func(ctx context.Context) error {
		var err error
		if in, err = s.gw.GetIntent(ctx, charge.ProviderPaymentID); err != nil || in.Status == IntentSucceeded || in.Status == IntentCanceled {
			return err
		}
		canceled, err := s.gw.CancelIntent(ctx, charge.ProviderPaymentID, cancelKey(id))
		if apperr.Is(err, apperr.State) { // it succeeded meanwhile
			in, err = s.gw.GetIntent(ctx, charge.ProviderPaymentID)
			return err
		}
		if err == nil {
			in = canceled
		}
		return err
	})
	if err != nil {
		return charge, err
	}
	if in.Status == IntentSucceeded {
		return charge, s.update(ctx, &charge, StatusSucceeded, "", "", in.Raw, "charge_succeeded")
	}
	return charge, s.update(ctx, &charge, StatusFailed, "", "canceled", in.Raw, "charge_canceled")
}

func (s *Service) refundOnce(ctx context.Context, checkoutID uuid.UUID, charge Transaction) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO payment_transactions (checkout_id, kind, idempotency_key, amount, currency, status, provider_payment_id)
		VALUES ($1, 'refund', $2, $3, $4, 'processing', $5) ON CONFLICT (checkout_id, kind) DO NOTHING`,
		checkoutID, refundKey(checkoutID), charge.Amount, charge.Currency, charge.ProviderPaymentID)
	if err != nil {
		return fmt.Errorf("payment: record refund: %w", err)
	}
	r, err := s.gw.Refund(ctx, charge.ProviderPaymentID, charge.Amount, refundKey(checkoutID))
	if err != nil {
		if ae := apperr.As(err); ae != nil && ae.Kind == apperr.Invalid {
			ae.Code = "refund_failed"
		}
		return err
	}
	return postgres.InTx(ctx, s.pool, func(dbtx pgx.Tx) error {
		if _, err := dbtx.Exec(ctx, `UPDATE payment_transactions SET status = 'succeeded', provider_refund_id = $2, gateway_response = $3, updated_at = now()
			WHERE checkout_id = $1 AND kind = 'refund'`, checkoutID, r.ID, nullJSON(r.Raw)); err != nil {
			return err
		}
		if _, err := dbtx.Exec(ctx, `UPDATE payment_transactions SET status = 'refunded', updated_at = now() WHERE checkout_id = $1 AND kind = 'charge'`, checkoutID); err != nil {
			return err
		}
		return audit(ctx, dbtx, checkoutID, "refund_succeeded", charge.Amount, charge.Currency, map[string]any{"refund_id": r.ID, "intent": charge.ProviderPaymentID})
	})
}

// ensureCharge creates the checkout's charge row on first call and returns
// it with the checkout's payment method.
func (s *Service) ensureCharge(ctx context.Context, checkoutID uuid.UUID) (Transaction, string, error) {
	var amount int64
	var currency, pm string
	err := s.pool.QueryRow(ctx, `SELECT amount, currency, payment_method FROM checkouts WHERE id = $1`, checkoutID).Scan(&amount, &currency, &pm)
	if errors.Is(err, pgx.ErrNoRows) {
		return Transaction{}, "", apperr.E(apperr.NotFound, "not_found", "no checkout %s", checkoutID)
	}
	if err != nil {
		return Transaction{}, "", fmt.Errorf("payment: load checkout: %w", err)
	}
	err = postgres.InTx(ctx, s.pool, func(dbtx pgx.Tx) error {
		tag, err := dbtx.Exec(ctx, `
			INSERT INTO payment_transactions (checkout_id, kind, idempotency_key, amount, currency)
			VALUES ($1, 'charge', $2, $3, $4) ON CONFLICT (checkout_id, kind) DO NOTHING`,
			checkoutID, chargeKey(checkoutID), amount, currency)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		return audit(ctx, dbtx, checkoutID, "charge_initiated", amount, currency, nil)
	})
	if err != nil {
		return Transaction{}, "", fmt.Errorf("payment: record charge: %w", err)
	}
	tx, _, err := s.find(ctx, checkoutID, "charge")
	return tx, pm, err
}

// Get returns the checkout's transaction of kind ("charge" or "refund").
// Errors: NotFound.
func (s *Service) Get(ctx context.Context, checkoutID uuid.UUID, kind string) (Transaction, error) {
	tx, found, err := s.find(ctx, checkoutID, kind)
	if err == nil && !found {
		err = apperr.E(apperr.NotFound, "not_found", "no %s for checkout %s", kind, checkoutID)
	}
	return tx, err
}

func (s *Service) find(ctx context.Context, checkoutID uuid.UUID, kind string) (Transaction, bool, error) {
	var t Transaction
	var id uuid.UUID
	err := s.pool.QueryRow(ctx, `
		SELECT id, checkout_id, kind, status, amount, currency, coalesce(provider_payment_id, ''), coalesce(provider_refund_id, ''), coalesce(failure_code, '')
		FROM payment_transactions WHERE checkout_id = $1 AND kind = $2`, checkoutID, kind).
		Scan(&t.ID, &id, &t.Kind, &t.Status, &t.Amount, &t.Currency, &t.ProviderPaymentID, &t.ProviderRefundID, &t.FailureCode)
	if errors.Is(err, pgx.ErrNoRows) {
		return Transaction{}, false, nil
	}
	if err != nil {
		return Transaction{}, false, fmt.Errorf("payment: load %s: %w", kind, err)
	}
	t.CheckoutID = id.String()
	return t, true, nil
}

// allowedFrom lists the statuses a charge may move to each status from.
// Two writers (this service and the webhook) may race; a transition that is
// no longer allowed loses, and the row's current state is reloaded.
var allowedFrom = map[string][]string{
	StatusProcessing: {StatusInitiated, StatusProcessing},
	StatusSucceeded:  {StatusInitiated, StatusProcessing, StatusSucceeded},
	StatusFailed:     {StatusInitiated, StatusProcessing, StatusFailed},
}

// update records a charge's new status (and the provider's id or failure
// code) with an audit row, in one transaction. If another writer settled the
// charge first, t is reloaded instead and nothing is written.
func (s *Service) update(ctx context.Context, t *Transaction, status, providerID, failureCode string, raw json.RawMessage, action string) error {
	id := uuid.MustParse(t.CheckoutID)
	changed := false
	err := postgres.InTx(ctx, s.pool, func(dbtx pgx.Tx) error {
		tag, err := dbtx.Exec(ctx, `
			UPDATE payment_transactions SET status = $2,
				provider_payment_id = coalesce(nullif($3, ''), provider_payment_id),
				failure_code = nullif($4, ''), gateway_response = coalesce($5, gateway_response), updated_at = now()
			WHERE id = $1 AND status = ANY($6)`, t.ID, status, providerID, failureCode, nullJSON(raw), allowedFrom[status])
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		changed = true
		return audit(ctx, dbtx, id, action, t.Amount, t.Currency, map[string]any{"intent": firstNonEmpty(providerID, t.ProviderPaymentID), "failure_code": failureCode})
	})
	if err != nil {
		return fmt.Errorf("payment: update %s: %w", action, err)
	}
	if !changed {
		current, _, err := s.find(ctx, id, t.Kind)
		if err != nil {
			return err
		}
		*t = current
		return nil
	}
	t.Status = status
	if providerID != "" {
		t.ProviderPaymentID = providerID
	}
	t.FailureCode = failureCode
	return nil
}

func audit(ctx context.Context, tx pgx.Tx, checkoutID uuid.UUID, action string, amount int64, currency string, detail map[string]any) error {
	if detail == nil {
		detail = map[string]any{}
	}
	_, err := tx.Exec(ctx, `INSERT INTO audit_log (actor, action, checkout_id, amount, currency, detail) VALUES ('payment', $1, $2, $3, $4, $5)`,
		action, checkoutID, amount, currency, detail)
	return err
}

func nullJSON(raw json.RawMessage) any {
	if len(raw) == 0 || !json.Valid(raw) {
		return nil
	}
	return string(raw)
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
