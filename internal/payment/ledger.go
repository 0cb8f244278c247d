package payment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/audit"
	"github.com/checkout-dev/checkout/internal/postgres"
)

// TransitionError is returned when a row cannot move to a status because
// another writer moved it first (the saga, reconciliation, a concurrent
// retry): it names what won. It is an apperr State error.
type TransitionError struct {
	Kind     string
	From, To Status
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("the %s is already %s; it cannot become %s", e.Kind, e.From, e.To)
}

func transitionErr(kind string, from, to Status) error {
	te := &TransitionError{Kind: kind, From: from, To: to}
	return &apperr.Error{Kind: apperr.State, Code: "payment_" + string(from), Message: te.Error(), Err: te}
}

// AsTransition returns the TransitionError in err's chain, or nil.
func AsTransition(err error) *TransitionError {
	var te *TransitionError
	if errors.As(err, &te) {
		return te
	}
	return nil
}

const rowColumns = `id, checkout_id, kind, status, amount, currency, coalesce(provider_payment_id, ''),
	coalesce(provider_refund_id, ''), coalesce(failure_code, ''), attempt, coalesce(origin, '')`

func scanRow(row pgx.Row) (Transaction, error) {
	var t Transaction
	var id uuid.UUID
	err := row.Scan(&t.ID, &id, &t.Kind, &t.Status, &t.Amount, &t.Currency, &t.ProviderPaymentID,
		&t.ProviderRefundID, &t.FailureCode, &t.Attempt, &t.Origin)
	t.CheckoutID = id.String()
	return t, err
}

// get loads the checkout's charge row, or its saga refund row for
// KindRefund. Errors: NotFound.
func (s *Service) get(ctx context.Context, q postgres.Querier, checkoutID uuid.UUID, kind string) (Transaction, error) {
	var row pgx.Row
	if kind == KindRefund {
		row = q.QueryRow(ctx, `SELECT `+rowColumns+` FROM payment_transactions WHERE idempotency_key = $1`, refundKey(checkoutID))
	} else {
		row = q.QueryRow(ctx, `SELECT `+rowColumns+` FROM payment_transactions WHERE checkout_id = $1 AND kind = 'charge'`, checkoutID)
	}
	t, err := scanRow(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return Transaction{}, apperr.E(apperr.NotFound, "not_found", "no %s for checkout %s", kind, checkoutID)
	}
	if err != nil {
		return Transaction{}, fmt.Errorf("payment: load %s: %w", kind, err)
	}
	return t, nil
}

func (s *Service) reload(ctx context.Context, t *Transaction) error {
	cur, err := scanRow(s.pool.QueryRow(ctx, `SELECT `+rowColumns+` FROM payment_transactions WHERE id = $1`, t.ID))
	if err != nil {
		return fmt.Errorf("payment: reload %s: %w", t.Kind, err)
	}
	*t = cur
	return nil
}

func (s *Service) refundRows(ctx context.Context, q postgres.Querier, checkoutID uuid.UUID) ([]Transaction, error) {
	rows, err := q.Query(ctx, `SELECT `+rowColumns+` FROM payment_transactions WHERE checkout_id = $1 AND kind = 'refund' ORDER BY id`, checkoutID)
	if err != nil {
		return nil, fmt.Errorf("payment: load refunds: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Transaction, error) { return scanRow(r) })
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
			VALUES ($1, 'charge', $2, $3, $4) ON CONFLICT DO NOTHING`,
			checkoutID, chargeKey(checkoutID), amount, currency)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		return writeAudit(ctx, dbtx, checkoutID, "charge_initiated", amount, currency, nil)
	})
	if err != nil {
		return Transaction{}, "", fmt.Errorf("payment: record charge: %w", err)
	}
	t, err := s.get(ctx, s.pool, checkoutID, KindCharge)
	return t, pm, err
}

// change is one confirmed fact to record on a row.
type change struct {
	to          Status
	intent      string // provider_payment_id to set when the row has none
	refundID    string // provider_refund_id to set when the row has none
	failureCode string
	raw         json.RawMessage
	action      string         // audit action
	detail      map[string]any // extra audit detail
	nextAction  string         // where the customer authenticates (requires_action)
	secret      string         // the intent's client secret (requires_action)
}

// transition moves t to c.to with an audit row, in one transaction, if the
// row's current status allows it (chargeTransitions/refundTransitions).
// Moving to the status the row already has is a no-op. When another writer
// moved the row first to a status that does not allow the move, t is
// reloaded and the error is a TransitionError naming the status that won.
func (s *Service) transition(ctx context.Context, t *Transaction, c change) error {
	var cur Transaction
	err := postgres.InTx(ctx, s.pool, func(dbtx pgx.Tx) error {
		var err error
		cur, err = scanRow(dbtx.QueryRow(ctx, `SELECT `+rowColumns+` FROM payment_transactions WHERE id = $1 FOR UPDATE`, t.ID))
		if err != nil {
			return err
		}
		if cur.Status == c.to {
			return nil
		}
		if !CanMove(cur.Kind, cur.Status, c.to) {
			return transitionErr(cur.Kind, cur.Status, c.to)
		}
		failure := c.failureCode
		if c.to == StatusSucceeded || c.to == StatusProcessing || c.to == StatusAuthorized {
			failure = "" // a success clears an earlier decline
		} else if failure == "" {
			failure = cur.FailureCode
		}
		if _, err := dbtx.Exec(ctx, `
			UPDATE payment_transactions SET status = $2,
				provider_payment_id = coalesce(provider_payment_id, nullif($3, '')),
				provider_refund_id = coalesce(provider_refund_id, nullif($4, '')),
				failure_code = nullif($5, ''), gateway_response = coalesce($6, gateway_response),
				next_action_url = CASE WHEN $2 = 'requires_action' THEN coalesce(nullif($7, ''), next_action_url) END,
				client_secret = coalesce(nullif($8, ''), client_secret),
				authorized_at = CASE WHEN $2 = 'authorized' THEN coalesce(authorized_at, now()) ELSE authorized_at END,
				updated_at = now()
			WHERE id = $1`, t.ID, c.to, c.intent, c.refundID, failure, nullJSON(c.raw), c.nextAction, c.secret); err != nil {
			return err
		}
		detail := map[string]any{"from": cur.Status, "to": c.to, "intent": firstNonEmpty(c.intent, cur.ProviderPaymentID)}
		if failure != "" {
			detail["failure_code"] = failure
		}
		if id := firstNonEmpty(c.refundID, cur.ProviderRefundID); id != "" {
			detail["refund_id"] = id
		}
		for k, v := range c.detail {
			detail[k] = v
		}
		cur.Status, cur.FailureCode = c.to, failure
		if cur.ProviderPaymentID == "" {
			cur.ProviderPaymentID = c.intent
		}
		if cur.ProviderRefundID == "" {
			cur.ProviderRefundID = c.refundID
		}
		return writeAudit(ctx, dbtx, cur.checkout(), c.action, cur.Amount, cur.Currency, detail)
	})
	if err != nil {
		if AsTransition(err) != nil {
			_ = s.reload(ctx, t)
			return err
		}
		return fmt.Errorf("payment: %s: %w", c.action, err)
	}
	*t = cur
	return nil
}

// recordIntent stores the intent the row's charge goes through. If another
// call recorded a different intent first (two creates raced with different
// keys), t is reloaded with that one and ok is false: the caller must not
// confirm the intent it created.
func (s *Service) recordIntent(ctx context.Context, t *Transaction, in Intent) (ok bool, err error) {
	err = postgres.InTx(ctx, s.pool, func(dbtx pgx.Tx) error {
		tag, err := dbtx.Exec(ctx, `UPDATE payment_transactions SET provider_payment_id = $2, status = 'processing',
			gateway_response = coalesce($3, gateway_response), updated_at = now()
			WHERE id = $1 AND provider_payment_id IS NULL AND status = 'initiated'`, t.ID, in.ID, nullJSON(in.Raw))
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		ok = true
		return writeAudit(ctx, dbtx, t.checkout(), "charge_intent_created", t.Amount, t.Currency, map[string]any{"intent": in.ID})
	})
	if err != nil {
		return false, fmt.Errorf("payment: record intent: %w", err)
	}
	if err := s.reload(ctx, t); err != nil {
		return false, err
	}
	return ok || t.ProviderPaymentID == in.ID, nil
}

// bumpAttempt moves the row to the next idempotency-key generation (see
// keys.go), unless another call already did.
func (s *Service) bumpAttempt(ctx context.Context, t *Transaction, why string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE payment_transactions SET attempt = attempt + 1, updated_at = now() WHERE id = $1 AND attempt = $2`, t.ID, t.Attempt)
	if err != nil {
		return fmt.Errorf("payment: next key attempt: %w", err)
	}
	if tag.RowsAffected() == 1 {
		s.log.WarnContext(ctx, "payment: the gateway replays a 5xx for this idempotency key; the next call uses a new key",
			"checkout_id", t.CheckoutID, "kind", t.Kind, "attempt", t.Attempt+1, "reason", why)
	}
	return s.reload(ctx, t)
}

// ensureRefund creates the saga's refund row of the checkout (status
// processing: sent or about to be) on first call and returns it.
func (s *Service) ensureRefund(ctx context.Context, charge Transaction, origin string) (Transaction, error) {
	id := charge.checkout()
	err := postgres.InTx(ctx, s.pool, func(dbtx pgx.Tx) error {
		tag, err := dbtx.Exec(ctx, `
			INSERT INTO payment_transactions (checkout_id, kind, idempotency_key, amount, currency, status, provider_payment_id, origin)
			VALUES ($1, 'refund', $2, $3, $4, 'processing', $5, $6) ON CONFLICT DO NOTHING`,
			id, refundKey(id), charge.Amount, charge.Currency, charge.ProviderPaymentID, origin)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		return writeAudit(ctx, dbtx, id, "refund_initiated", charge.Amount, charge.Currency, map[string]any{"intent": charge.ProviderPaymentID, "origin": origin})
	})
	if err != nil {
		return Transaction{}, fmt.Errorf("payment: record refund: %w", err)
	}
	return s.get(ctx, s.pool, id, KindRefund)
}

// auditActor is the audit_log actor of every payment change.
const auditActor = "payment"

func writeAudit(ctx context.Context, tx pgx.Tx, checkoutID uuid.UUID, action string, amount int64, currency string, detail map[string]any) error {
	return audit.Write(ctx, tx, audit.Entry{Actor: auditActor, Action: action, CheckoutID: checkoutID, Detail: detail}.Money(amount, currency))
}

// nullJSON is raw for a jsonb column: NULL when empty or not JSON.
func nullJSON(raw json.RawMessage) any {
	doc, ok := postgres.JSONB(raw)
	if len(raw) == 0 || !ok {
		return nil
	}
	return doc
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
