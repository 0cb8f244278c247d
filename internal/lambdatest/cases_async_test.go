package lambdatest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/saga"
)

// --- 3-D Secure and reconciliation ------------------------------------------

// awaitInput is events/await-authentication.json.
func awaitInput(t *testing.T, fx *fixture) saga.AwaitInput {
	t.Helper()
	var in saga.AwaitInput
	if err := json.Unmarshal(fx.event(t, "await-authentication.json"), &in); err != nil {
		t.Fatalf("decode events/await-authentication.json: %v", err)
	}
	return in
}

// prepareAwait records the sample's checkout (paid with a card that needs
// 3-D Secure), reserves its stock and runs the charge up to its
// requires_action answer.
func prepareAwait(t *testing.T, fx *fixture) {
	st := fx.insertCheckout(t, awaitInput(t, fx).State)
	c := fx.core(t)
	ctx := context.Background()
	st, err := c.Steps.ReserveStock(ctx, st)
	if err != nil {
		t.Fatalf("prepare: reserve: %v", err)
	}
	if _, err := c.Steps.ChargePayment(ctx, st); !apperr.Is(err, apperr.RequiresAction) {
		t.Fatalf("prepare: charge: %v; want requires_action", err)
	}
}

func checkAwaiting(t *testing.T, fx *fixture, body []byte) {
	in := awaitInput(t, fx)
	var out saga.AwaitInput
	decode(t, body, &out)
	if out.State.CheckoutID != sagaCheckoutID {
		t.Errorf("answer %s; want the state of %s", body, sagaCheckoutID)
	}
	var token, status string
	var until time.Time
	fx.queryOne(t, `SELECT coalesce(task_token, '') FROM payment_transactions WHERE checkout_id = $1 AND kind = 'charge'`,
		[]any{sagaCheckoutID}, &token)
	fx.queryOne(t, `SELECT status FROM checkouts WHERE id = $1`, []any{sagaCheckoutID}, &status)
	fx.queryOne(t, `SELECT min(expires_at) FROM reservations WHERE checkout_id = $1 AND status = 'reserved'`, []any{sagaCheckoutID}, &until)
	if token != in.TaskToken || status != "requires_action" {
		t.Errorf("database: task token %q, checkout %s; want the sample's token and requires_action", token, status)
	}
	if min := time.Now().Add(time.Duration(in.State.AuthenticationTimeoutSeconds) * time.Second); until.Before(min) {
		t.Errorf("hold until %s; want it to outlast the authentication timeout (after %s)", until, min)
	}
}

// prepareStuck leaves the sample's checkout failed with its amount still
// authorized, untouched for an hour: what a lost void leaves behind.
func prepareStuck(t *testing.T, fx *fixture) {
	fx.sagaUpTo(t, saga.FnReserveStock, saga.FnChargePayment)
	for _, q := range []string{
		`UPDATE checkouts SET status = 'failed', failure_code = 'internal_error', failure_message = 'test', updated_at = now() - interval '1 hour' WHERE id = $1`,
		`UPDATE payment_transactions SET updated_at = now() - interval '1 hour' WHERE checkout_id = $1`,
	} {
		if _, err := fx.pool.Exec(context.Background(), q, sagaCheckoutID); err != nil {
			t.Fatalf("prepare: %v", err)
		}
	}
}

func checkSweptStuck(t *testing.T, fx *fixture, body []byte) {
	var res struct {
		Stuck   int            `json:"stuck"`
		Actions map[string]int `json:"actions"`
		Failed  int            `json:"failed"`
	}
	decode(t, body, &res)
	if res.Stuck != 1 || res.Actions["void"] != 1 || res.Failed != 0 {
		t.Fatalf("answer %s; want one stuck checkout voided", body)
	}
	var status string
	var audits int
	fx.queryOne(t, `SELECT status FROM payment_transactions WHERE checkout_id = $1 AND kind = 'charge'`, []any{sagaCheckoutID}, &status)
	fx.queryOne(t, `SELECT count(*) FROM audit_log WHERE checkout_id = $1 AND action = 'reconcile_void' AND actor = 'reconciliation'`,
		[]any{sagaCheckoutID}, &audits)
	if status != "canceled" || audits != 1 {
		t.Errorf("database: charge %s, %d reconcile_void audit rows; want canceled and 1", status, audits)
	}
}
