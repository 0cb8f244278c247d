package reconcile_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/checkout"
	"github.com/checkout-dev/checkout/internal/execution"
	"github.com/checkout-dev/checkout/internal/payment"
	"github.com/checkout-dev/checkout/internal/reconcile"
	"github.com/checkout-dev/checkout/internal/saga"
	"github.com/checkout-dev/checkout/internal/stripefake"
)

// stale makes checkout id's rows look untouched for an hour.
func (w *world) stale(t *testing.T, id uuid.UUID) {
	t.Helper()
	for _, q := range []string{
		`UPDATE checkouts SET updated_at = now() - interval '1 hour' WHERE id = $1`,
		`UPDATE payment_transactions SET updated_at = now() - interval '1 hour' WHERE checkout_id = $1`,
	} {
		if _, err := w.pool.Exec(context.Background(), q, id); err != nil {
			t.Fatal(err)
		}
	}
}

// processing runs a checkout whose confirm the gateway answers
// "processing" and settles later (authorized), with its webhooks lost:
// the charge row is left processing.
func (w *world) processing(t *testing.T) uuid.UUID {
	t.Helper()
	ctx := context.Background()
	if err := w.fake.InjectFault(stripefake.Fault{Kind: stripefake.Processing, Match: "POST /v1/payment_intents/*/confirm",
		// Longer than the charge's own retries (4 tries, at most 0.7 s of
		// backoff) wait, so the step answers pending.
		Delay: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	c, _, err := w.core.Checkouts.CreateOrGet(ctx, "buyer-"+uuid.NewString(), uuid.NewString(), // a buyer each: no customer limit applies
		checkout.Request{Items: []checkout.Item{{SKU: "TEE-1", Quantity: 1}}, Currency: "USD", PaymentMethod: "pm_card_visa"})
	if err != nil {
		t.Fatal(err)
	}
	st := saga.StateFor(c)
	if st, err = w.core.Steps.ReserveStock(ctx, st); err != nil {
		t.Fatal(err)
	}
	if _, err := w.core.Steps.ChargePayment(ctx, st); !apperr.Is(err, apperr.Pending) {
		t.Fatalf("charge: %v; want pending", err)
	}
	intent := w.charge(t, c.ID).ProviderPaymentID
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if pi, _ := w.fake.PaymentIntent(intent); pi.Status == payment.IntentRequiresCapture {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the processing payment never settled at the gateway")
		}
	}
	if got := w.charge(t, c.ID).Status; got != payment.StatusProcessing {
		t.Fatalf("charge %s; want processing (no webhook reached us)", got)
	}
	return c.ID
}

// The polling fallback: a payment left processing (its webhook lost) after
// its saga gave up (the checkout went to a person) is driven to its real
// end — the gateway authorized it, no order will come, so the
// authorization is voided — with audit rows. A dry run changes nothing;
// a second sweep finds nothing left to do.
func TestSweepDrivesALostProcessingPaymentToItsEnd(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	id := w.processing(t)
	if err := w.core.Checkouts.Finish(ctx, id, checkout.NeedsReview("compensation_failed", "the payment was still processing")); err != nil {
		t.Fatal(err)
	}
	w.stale(t, id)

	dry, err := w.rec.Sweep(ctx, reconcile.SweepOptions{})
	if err != nil || len(dry) != 1 || dry[0].Action != reconcile.SweepVoid || dry[0].Applied || dry[0].Intent != payment.IntentRequiresCapture ||
		dry[0].Charge != payment.StatusProcessing {
		t.Fatalf("dry run: %+v %v; want one void planned, nothing applied", dry, err)
	}
	if got := w.charge(t, id).Status; got != payment.StatusProcessing {
		t.Fatalf("after the dry run the charge is %s; want processing (nothing changed)", got)
	}

	job, err := reconcile.NewJob(w.rec, execution.SFN{}, "15m")
	if err != nil {
		t.Fatal(err)
	}
	res, err := job.Run(ctx)
	if err != nil || res.Stuck != 1 || res.Actions[reconcile.SweepVoid] != 1 || res.Failed != 0 {
		t.Fatalf("job: %+v %v; want one void", res, err)
	}
	if got := w.charge(t, id).Status; got != payment.StatusCanceled {
		t.Fatalf("charge %s; want canceled", got)
	}
	pi, _ := w.fake.PaymentIntent(w.charge(t, id).ProviderPaymentID)
	if pi.Status != payment.IntentCanceled || len(w.fake.AuthorizedCharges()) != 0 {
		t.Fatalf("intent %s, %d charges holding money; want canceled and none", pi.Status, len(w.fake.AuthorizedCharges()))
	}
	if n := w.audits(t, id, "reconcile_void"); n != 1 {
		t.Fatalf("%d reconcile_void audit rows; want 1", n)
	}
	again, err := job.Run(ctx)
	if err != nil || again.Stuck != 0 {
		t.Fatalf("second run: %+v %v; want nothing stuck", again, err)
	}
}

// An order whose capture never happened (the capture step kept failing)
// is captured by the sweep, long before the authorization expires.
func TestSweepCapturesAnOrdersAuthorization(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	id := w.authorized(t, "pm_card_visa")
	if _, _, err := w.core.Orders.Create(ctx, id); err != nil {
		t.Fatal(err)
	}
	w.stale(t, id)
	found, err := w.rec.Sweep(ctx, reconcile.SweepOptions{Apply: true})
	if err != nil || len(found) != 1 || found[0].Action != reconcile.SweepCapture || !found[0].Applied {
		t.Fatalf("sweep: %+v %v; want one capture applied", found, err)
	}
	if got := w.charge(t, id).Status; got != payment.StatusSucceeded {
		t.Fatalf("charge %s; want succeeded", got)
	}
	if n := len(w.fake.SuccessfulCharges()); n != 1 {
		t.Fatalf("%d captured charges; want 1", n)
	}
}

// A checkout whose saga ended without finishing it (here: it never had an
// execution) is undone: authorization voided, stock released, failed.
func TestSweepFinishesACheckoutWhoseSagaEnded(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	id := w.authorized(t, "pm_card_visa")
	w.stale(t, id)
	rec := *w.rec
	rec.Executions = execution.SFN{} // the checkout has no execution: never asked
	found, err := rec.Sweep(ctx, reconcile.SweepOptions{Apply: true})
	if err != nil || len(found) != 1 || found[0].Action != reconcile.SweepFinish || !found[0].Applied {
		t.Fatalf("sweep: %+v %v; want the checkout finished", found, err)
	}
	c, err := w.core.Checkouts.Get(ctx, id)
	if err != nil || c.Status != checkout.StatusFailed {
		t.Fatalf("checkout %+v %v; want failed", c, err)
	}
	if got := w.charge(t, id).Status; got != payment.StatusCanceled {
		t.Fatalf("charge %s; want canceled", got)
	}
	var held int
	if err := w.pool.QueryRow(ctx, `SELECT count(*) FROM reservations WHERE checkout_id = $1 AND status = 'reserved'`, id).Scan(&held); err != nil || held != 0 {
		t.Fatalf("%d lines still held (%v); want 0", held, err)
	}
}

// Without a way to ask whether the saga runs, a running checkout is left
// to its saga.
func TestSweepLeavesARunningSagaAlone(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	id := w.authorized(t, "pm_card_visa")
	w.stale(t, id)
	found, err := w.rec.Sweep(ctx, reconcile.SweepOptions{Apply: true})
	if err != nil || len(found) != 1 || found[0].Action != reconcile.SweepNone || found[0].Applied {
		t.Fatalf("sweep: %+v %v; want nothing done", found, err)
	}
	if got := w.charge(t, id).Status; got != payment.StatusAuthorized {
		t.Fatalf("charge %s; want authorized", got)
	}
}

// Compare prints every place where the ledger and the gateway's books
// disagree, and nothing when they agree.
func TestCompareFindsTheLedgersDiscrepancies(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	since := time.Now().Add(-time.Minute)
	books := payment.NewStripe(payment.StripeConfig{SecretKey: "sk_test_reconcile", URL: w.url})
	agreed := w.paid(t, "pm_card_visa")
	lost := w.processing(t) // ledger processing, gateway requires_capture
	dashboard := w.paid(t, "pm_card_visa")
	if _, err := books.Refund(ctx, w.charge(t, dashboard).ProviderPaymentID, 1999, "dashboard-"+dashboard.String()); err != nil {
		t.Fatal(err)
	}
	got, err := w.rec.Compare(ctx, books, since, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	byCheckout := map[string][]reconcile.Discrepancy{}
	var refundMissing int
	for _, d := range got {
		byCheckout[d.CheckoutID] = append(byCheckout[d.CheckoutID], d)
		if d.RefundID != "" && d.Ledger == "no refund" && d.IntentID == w.charge(t, dashboard).ProviderPaymentID {
			refundMissing++
		}
	}
	if ds := byCheckout[lost.String()]; len(ds) != 1 || ds[0].Gateway != payment.IntentRequiresCapture || ds[0].Ledger != string(payment.StatusProcessing) {
		t.Errorf("discrepancies of the lost webhook's checkout %+v; want gateway requires_capture, ledger processing", ds)
	}
	if refundMissing != 1 {
		t.Errorf("discrepancies %+v; want the dashboard refund missing from the ledger", got)
	}
	if ds := byCheckout[agreed.String()]; len(ds) != 0 {
		t.Errorf("discrepancies of an agreeing checkout: %+v", ds)
	}
	// After reconciling the two, the books agree.
	for _, id := range []uuid.UUID{lost, dashboard} {
		if _, err := w.rec.Checkout(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := w.rec.Compare(ctx, books, since, time.Now().Add(time.Minute)); err != nil || len(got) != 0 {
		t.Fatalf("after reconciling: %+v %v; want no discrepancy", got, err)
	}
}
