package main

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/internal/app"
	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/checkout"
	"github.com/checkout-dev/checkout/internal/events/eventstest"
	"github.com/checkout-dev/checkout/internal/inventory"
	"github.com/checkout-dev/checkout/internal/payment"
	"github.com/checkout-dev/checkout/internal/saga"
	"github.com/checkout-dev/checkout/internal/stripefake"
)

// TestReconcileDrivesALostProcessingPaymentToItsEnd: a payment the gateway
// answered "processing" and authorized later, its webhook lost and its
// checkout sent to a person, stays processing in the ledger.
// `checkoutctl reconcile` says it would void it and changes nothing (exit
// 1); with --apply it voids it, audited under the operator, and the ledger
// then agrees with the gateway (exit 0).
func TestReconcileDrivesALostProcessingPaymentToItsEnd(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dsn, pool := auditDB(t)
	fake := stripefake.New(stripefake.Options{AsyncDelay: 50 * time.Millisecond})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	t.Cleanup(fake.Close)
	gw := payment.NewStripe(payment.StripeConfig{SecretKey: "sk_test_ctl", URL: srv.URL, Timeout: 2 * time.Second})
	core := app.NewCore(pool, gw, app.Config{Strategy: inventory.Conditional, ReservationTTL: time.Minute}, nil)
	if _, err := pool.Exec(ctx, `INSERT INTO products (sku, name, amount, currency) VALUES ('TEE-1', 'T-shirt', 1999, 'USD');
		INSERT INTO inventory (sku, on_hand) VALUES ('TEE-1', 5)`); err != nil {
		t.Fatal(err)
	}
	tg := eventstest.Local(t, pool)
	if _, err := tg.Client.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("manual-review")}); err != nil {
		t.Fatal(err)
	}

	// The checkout: confirm answers processing and settles (authorized) at
	// the gateway later; no webhook reaches us.
	if err := fake.InjectFault(stripefake.Fault{Kind: stripefake.Processing, Match: "POST /v1/payment_intents/*/confirm", Delay: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	c, _, err := core.Checkouts.CreateOrGet(ctx, "buyer-"+uuid.NewString(), uuid.NewString(),
		checkout.Request{Items: []checkout.Item{{SKU: "TEE-1", Quantity: 1}}, Currency: "USD", PaymentMethod: "pm_card_visa"})
	if err != nil {
		t.Fatal(err)
	}
	st := saga.StateFor(c)
	if st, err = core.Steps.ReserveStock(ctx, st); err != nil {
		t.Fatal(err)
	}
	if _, err := core.Steps.ChargePayment(ctx, st); !apperr.Is(err, apperr.Pending) {
		t.Fatalf("charge: %v; want pending", err)
	}
	charge := func() payment.Transaction {
		tx, err := core.Payments.Get(ctx, c.ID, "charge")
		if err != nil {
			t.Fatal(err)
		}
		return tx
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if pi, _ := fake.PaymentIntent(charge().ProviderPaymentID); pi.Status == payment.IntentRequiresCapture {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the processing payment never settled at the gateway")
		}
	}
	if err := core.Checkouts.Finish(ctx, c.ID, checkout.NeedsReview("compensation_failed", "the payment was still processing")); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`UPDATE checkouts SET updated_at = now() - interval '1 hour' WHERE id = $1`,
		`UPDATE payment_transactions SET updated_at = now() - interval '1 hour' WHERE checkout_id = $1`} {
		if _, err := pool.Exec(ctx, q, c.ID); err != nil {
			t.Fatal(err)
		}
	}

	args := []string{"reconcile", "--stripe-url", srv.URL, "--sfn-endpoint-url", "http://127.0.0.1:1"}
	r := ctl(ctx, tg.Endpoint, dsn, nil, args...)
	mustCode(t, r, 1)
	if !strings.Contains(r.stdout, c.ID.String()) || !strings.Contains(r.stdout, "void") || !strings.Contains(r.stderr, "--apply") {
		t.Fatalf("dry run:\nstdout %s\nstderr %s", r.stdout, r.stderr)
	}
	if got := charge().Status; got != payment.StatusProcessing {
		t.Fatalf("after the dry run the charge is %s; want processing (nothing changed)", got)
	}

	r = ctl(ctx, tg.Endpoint, dsn, nil, append(args, "--apply", "--json")...)
	mustCode(t, r, 0)
	var rep reconcileReport
	r.json(t, &rep)
	if len(rep.Findings) != 1 || rep.Findings[0].Action != "void" || !rep.Findings[0].Applied || len(rep.Discrepancies) != 0 {
		t.Fatalf("apply: %+v", rep)
	}
	if got := charge().Status; got != payment.StatusCanceled {
		t.Fatalf("charge %s; want canceled", got)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE checkout_id = $1 AND action = 'reconcile_void' AND actor = 'checkoutctl:tester'`, c.ID).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d reconcile_void audit rows by checkoutctl:tester (%v); want 1", n, err)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM ops_audit WHERE action = 'reconcile' AND outcome = 'ok' AND actor = 'tester'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d ops_audit reconcile rows (%v); want 1", n, err)
	}
	// Nothing left: a second run finds nothing and exits 0.
	r = ctl(ctx, tg.Endpoint, dsn, nil, args...)
	mustCode(t, r, 0)

	// Bad flags: exit 2 with what to fix.
	r = ctl(ctx, tg.Endpoint, dsn, nil, "reconcile", "--stuck-after", "-1m")
	mustCode(t, r, 2)
	if !strings.Contains(r.stderr, "--stuck-after") {
		t.Fatalf("stderr %s", r.stderr)
	}
}
