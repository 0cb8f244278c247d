package payment

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/metrics"
	"github.com/checkout-dev/checkout/internal/postgres"
)

// Transaction is one row of payment_transactions.
type Transaction struct {
	ID                int64  `json:"transaction_id"`
	CheckoutID        string `json:"checkout_id"`
	Kind              string `json:"kind"`
	Status            Status `json:"status"`
	Amount            int64  `json:"amount"`
	Currency          string `json:"currency"`
	ProviderPaymentID string `json:"provider_payment_id,omitempty"`
	ProviderRefundID  string `json:"provider_refund_id,omitempty"`
	FailureCode       string `json:"failure_code,omitempty"`
	Attempt           int    `json:"attempt,omitempty"`
	Origin            string `json:"origin,omitempty"`
}

func (t Transaction) checkout() uuid.UUID { return uuid.MustParse(t.CheckoutID) }

// Service charges, voids and refunds checkouts, at most once each, and keeps
// payment_transactions equal to what the gateway confirmed. The gateway is
// the source of truth: after any uncertain answer (a timeout, a 5xx, a
// processing intent, a refused cancel) the service retrieves the
// PaymentIntent and acts on its real status; it never records a status the
// gateway has not confirmed.
type Service struct {
	pool        *pgxpool.Pool
	gw          Gateway
	retry       Backoff
	log         *slog.Logger
	metrics     metrics.Recorder
	callTimeout time.Duration
}

// NewService returns a Service recording payments in pool and moving money
// through gw.
func NewService(pool *pgxpool.Pool, gw Gateway, retry Backoff, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{pool: pool, gw: gw, retry: retry, log: log, metrics: metrics.Nop{}, callTimeout: 10 * time.Second}
}

// WithMetrics makes s publish PaymentsAttempted and PaymentsFailed through
// r (nil: none) and returns s. Call it before s is used.
func (s *Service) WithMetrics(r metrics.Recorder) *Service {
	s.metrics = metrics.OrNop(r)
	return s
}

// callCtx bounds one gateway call: callTimeout, cut so that the answer
// still leaves the retry's reserve before ctx's deadline (a Lambda must
// record what it learned and return before it is killed).
func (s *Service) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	d := s.callTimeout
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl) - s.retry.ReserveOrDefault(); left < d {
			d = max(left, 50*time.Millisecond)
		}
	}
	return context.WithTimeout(ctx, d)
}

// Gateway returns the gateway s moves money through.
func (s *Service) Gateway() Gateway { return s.gw }

// Get returns the checkout's charge (kind KindCharge) or its saga refund
// (KindRefund). Errors: NotFound.
func (s *Service) Get(ctx context.Context, checkoutID uuid.UUID, kind string) (Transaction, error) {
	return s.get(ctx, s.pool, checkoutID, kind)
}

// Refunds returns every refund row of the checkout, the saga's own and those
// found at the gateway, oldest first.
func (s *Service) Refunds(ctx context.Context, checkoutID uuid.UUID) ([]Transaction, error) {
	return s.refundRows(ctx, s.pool, checkoutID)
}

// ChargeForOrderTx returns the id of checkoutID's charge, read inside the
// order's transaction (tx). The charge must have taken the money
// (succeeded) or hold it (authorized). (No compensation can refund it once
// the order commits: compensations claim the checkout first, see
// checkout.BeginCompensationTx, and order.Create refuses a claimed one.)
//
// Errors: apperr State, code payment_not_succeeded (no such charge, or not
// succeeded or authorized).
func ChargeForOrderTx(ctx context.Context, tx pgx.Tx, checkoutID uuid.UUID) (int64, error) {
	var id int64
	var status Status
	err := tx.QueryRow(ctx, `SELECT id, status FROM payment_transactions WHERE checkout_id = $1 AND kind = 'charge'`, checkoutID).
		Scan(&id, &status)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && status != StatusSucceeded && status != StatusAuthorized) {
		return 0, apperr.E(apperr.State, CodeNotSucceeded, "checkout %s has no succeeded charge", checkoutID)
	}
	if err != nil {
		return 0, fmt.Errorf("payment: charge for order: %w", err)
	}
	return id, nil
}

// ChargeStatus returns the status of checkoutID's charge read through q
// ("" when it has none): what an order shows as its payment status.
func ChargeStatus(ctx context.Context, q postgres.Querier, checkoutID uuid.UUID) (Status, error) {
	var status Status
	err := q.QueryRow(ctx, `SELECT status FROM payment_transactions WHERE checkout_id = $1 AND kind = 'charge'`, checkoutID).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("payment: charge status: %w", err)
	}
	return status, nil
}
