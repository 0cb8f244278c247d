package reconcile_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/checkout-dev/checkout/internal/postgres"
	"github.com/checkout-dev/checkout/localaws"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/app"
	"github.com/checkout-dev/checkout/internal/checkout"
	"github.com/checkout-dev/checkout/internal/events/eventstest"
	"github.com/checkout-dev/checkout/internal/inventory"
	"github.com/checkout-dev/checkout/internal/payment"
	"github.com/checkout-dev/checkout/internal/reconcile"
	"github.com/checkout-dev/checkout/internal/saga"
	"github.com/checkout-dev/checkout/internal/stripefake"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m, postgres.Migrate, localaws.Migrate) }

// world: a database, the Stripe fake (through stripe-go), the wired core,
// and a real SQS server for the manual-review queue.
type world struct {
	pool   *pgxpool.Pool
	fake   *stripefake.Fake
	core   *app.Core
	rec    *reconcile.Reconciler
	sqs    eventstest.Target
	review string
	url    string // the fake's
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{pool: pgtest.NewPool(t), fake: stripefake.New(stripefake.Options{AsyncDelay: 50 * time.Millisecond})}
	srv := httptest.NewServer(w.fake)
	t.Cleanup(srv.Close)
	t.Cleanup(w.fake.Close)
	w.url = srv.URL
	gw := payment.NewStripe(payment.StripeConfig{SecretKey: "sk_test_reconcile", URL: srv.URL, Timeout: 2 * time.Second})
	w.core = app.NewCore(w.pool, gw, app.Config{Strategy: inventory.Conditional, ReservationTTL: time.Minute}, nil)
	w.sqs = eventstest.Local(t, w.pool)
	q, err := w.sqs.Client.CreateQueue(context.Background(), &awssqs.CreateQueueInput{QueueName: aws.String(eventstest.Uniq("manual-review"))})
	if err != nil {
		t.Fatal(err)
	}
	w.review = aws.ToString(q.QueueUrl)
	w.rec = w.core.Reconciler(reconcile.SQSReviewer{Client: w.sqs.Client, QueueURL: w.review}, nil)
	if _, err := w.pool.Exec(context.Background(), `
		INSERT INTO products (sku, name, amount, currency) VALUES ('TEE-1', 'T-shirt', 1999, 'USD');
		INSERT INTO inventory (sku, on_hand) VALUES ('TEE-1', 50)`); err != nil {
		t.Fatal(err)
	}
	return w
}

// paid runs a checkout with pm up to a captured charge (the money taken).
func (w *world) paid(t *testing.T, pm string) uuid.UUID {
	t.Helper()
	id := w.authorized(t, pm)
	if _, err := w.core.Payments.Capture(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	return id
}

// authorized runs a checkout with pm up to an authorized charge.
func (w *world) authorized(t *testing.T, pm string) uuid.UUID {
	t.Helper()
	ctx := context.Background()
	c, _, err := w.core.Checkouts.CreateOrGet(ctx, "buyer-"+uuid.NewString(), uuid.NewString(), // a buyer each: no customer limit applies
		checkout.Request{Items: []checkout.Item{{SKU: "TEE-1", Quantity: 1}}, Currency: "USD", PaymentMethod: pm})
	if err != nil {
		t.Fatal(err)
	}
	st := saga.StateFor(c)
	if st, err = w.core.Steps.ReserveStock(ctx, st); err != nil {
		t.Fatal(err)
	}
	if _, err = w.core.Steps.ChargePayment(ctx, st); err != nil {
		t.Fatal(err)
	}
	return c.ID
}

func (w *world) fail(t *testing.T, id uuid.UUID) {
	t.Helper()
	if err := w.core.Checkouts.Finish(context.Background(), id, checkout.Failed("payment_failed", "test")); err != nil {
		t.Fatal(err)
	}
}

func (w *world) charge(t *testing.T, id uuid.UUID) payment.Transaction {
	t.Helper()
	tx, err := w.core.Payments.Get(context.Background(), id, payment.KindCharge)
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

// reviews drains the manual-review queue.
func (w *world) reviews(t *testing.T) []reconcile.Item {
	t.Helper()
	var out []reconcile.Item
	for {
		res, err := w.sqs.Client.ReceiveMessage(context.Background(), &awssqs.ReceiveMessageInput{QueueUrl: aws.String(w.review), MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Messages) == 0 {
			return out
		}
		for _, m := range res.Messages {
			var it reconcile.Item
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &it); err != nil {
				t.Fatal(err)
			}
			out = append(out, it)
			if _, err := w.sqs.Client.DeleteMessage(context.Background(), &awssqs.DeleteMessageInput{QueueUrl: aws.String(w.review), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func (w *world) audits(t *testing.T, id uuid.UUID, action string) int {
	t.Helper()
	var n int
	if err := w.pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE checkout_id = $1 AND action = $2`, id, action).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A succeeded charge the ledger recorded wrongly (failed) for a checkout
// that ended without an order: the gateway wins — the row is corrected
// with an audit row and the money refunded, once.
func TestSucceededChargeOfAFailedCheckoutIsRefunded(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	id := w.paid(t, "pm_card_visa")
	// What the old code could leave behind: the row says failed.
	if _, err := w.pool.Exec(ctx, `UPDATE payment_transactions SET status = 'failed', failure_code = 'canceled' WHERE checkout_id = $1`, id); err != nil {
		t.Fatal(err)
	}
	w.fail(t, id)
	for i := range 2 {
		res, err := w.rec.Notice(ctx, payment.Notice{IntentID: w.charge(t, id).ProviderPaymentID, EventType: "payment_intent.succeeded"})
		want := reconcile.ActionRefunded
		if i == 1 {
			want = reconcile.ActionSettled
		}
		if err != nil || res.Action != want {
			t.Fatalf("reconcile %d: %+v %v; want %s", i, res, err, want)
		}
	}
	if got := w.charge(t, id).Status; got != payment.StatusRefunded {
		t.Fatalf("charge %s; want refunded", got)
	}
	if n := w.audits(t, id, "charge_corrected"); n != 1 {
		t.Fatalf("%d charge_corrected audit rows; want 1", n)
	}
	if n := len(w.fake.Refunds()); n != 1 {
		t.Fatalf("%d refunds; want 1", n)
	}
}

// A checkout whose saga still runs is only synced: the saga decides.
func TestRunningCheckoutIsLeftToTheSaga(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	id := w.paid(t, "pm_card_visa")
	res, err := w.rec.Checkout(context.Background(), id)
	if err != nil || res.Action != reconcile.ActionInProgress || res.Charge != payment.StatusSucceeded {
		t.Fatalf("%+v %v", res, err)
	}
	if len(w.fake.Refunds()) != 0 {
		t.Fatal("refunded a running checkout")
	}
}

// A completed checkout's money is its order's: nothing is given back.
func TestCompletedCheckoutKeepsItsMoney(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	id := w.paid(t, "pm_card_visa")
	if _, _, err := w.core.Orders.Create(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	res, err := w.rec.Checkout(context.Background(), id)
	if err != nil || res.Action != reconcile.ActionSettled {
		t.Fatalf("%+v %v", res, err)
	}
	if len(w.fake.Refunds()) != 0 {
		t.Fatal("refunded a completed order")
	}
}

// A refund made in the Stripe dashboard is recorded (origin gateway) and
// the charge marked refunded.
func TestDashboardRefundIsRecorded(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	id := w.paid(t, "pm_card_visa")
	if _, _, err := w.core.Orders.Create(ctx, id); err != nil {
		t.Fatal(err)
	}
	dash := payment.NewStripe(payment.StripeConfig{SecretKey: "sk_test_reconcile", URL: w.url}) // someone in the dashboard
	if _, err := dash.Refund(ctx, w.charge(t, id).ProviderPaymentID, 1999, "dashboard-"+id.String()); err != nil {
		t.Fatal(err)
	}
	res, err := w.rec.Notice(ctx, payment.Notice{IntentID: w.charge(t, id).ProviderPaymentID, EventType: "charge.refunded"})
	if err != nil || res.Action != reconcile.ActionSettled {
		t.Fatalf("%+v %v", res, err)
	}
	refunds, err := w.core.Payments.Refunds(ctx, id)
	if err != nil || len(refunds) != 1 || refunds[0].Origin != payment.OriginGateway || refunds[0].Status != payment.StatusSucceeded {
		t.Fatalf("refund rows %+v %v; want one from the gateway, succeeded", refunds, err)
	}
	if got := w.charge(t, id).Status; got != payment.StatusRefunded {
		t.Fatalf("charge %s; want refunded", got)
	}
}

// A refund that fails after it succeeded (pm_card_refundFail) puts the
// charge back to succeeded and is handed to a person, once.
func TestFailedRefundGoesToReviewOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	id := w.paid(t, "pm_card_refundFail")
	w.fail(t, id)
	res, err := w.rec.Checkout(ctx, id)
	if err != nil || res.Action != reconcile.ActionRefunded {
		t.Fatalf("first reconcile: %+v %v; want refunded", res, err)
	}
	intent := w.charge(t, id).ProviderPaymentID
	deadline := time.Now().Add(5 * time.Second)
	for {
		rs := w.fake.RefundsFor(intent)
		if len(rs) == 1 && rs[0].Status == payment.RefundFailed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("refund never failed at the gateway: %+v", rs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for range 2 {
		res, err = w.rec.Notice(ctx, payment.Notice{IntentID: intent, EventType: "refund.failed"})
		if err != nil || res.Action != reconcile.ActionReviewed {
			t.Fatalf("after the refund failed: %+v %v; want reviewed", res, err)
		}
	}
	if got := w.charge(t, id).Status; got != payment.StatusSucceeded {
		t.Fatalf("charge %s; want succeeded again (the money was not returned)", got)
	}
	items := w.reviews(t)
	if len(items) != 1 || items[0].Type != reconcile.ReasonRefundFailed || items[0].CheckoutID != id.String() || items[0].Summary == "" {
		t.Fatalf("review items %+v; want one refund_failed", items)
	}
	c, err := w.core.Checkouts.Get(ctx, id)
	if err != nil || c.Status != checkout.StatusNeedsReview || c.FailureCode != reconcile.ReasonRefundFailed {
		t.Fatalf("checkout %s %s %v; want needs_review refund_failed", c.Status, c.FailureCode, err)
	}
}

// A dispute is handed to finance once.
func TestDisputeGoesToReviewOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	id := w.paid(t, "pm_card_visa")
	if _, _, err := w.core.Orders.Create(ctx, id); err != nil {
		t.Fatal(err)
	}
	n := payment.Notice{IntentID: w.charge(t, id).ProviderPaymentID, EventType: "charge.dispute.created", DisputeID: "du_test"}
	for range 2 {
		if _, err := w.rec.Notice(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	items := w.reviews(t)
	if len(items) != 1 || items[0].Type != reconcile.ReasonDispute {
		t.Fatalf("review items %+v; want one dispute_opened", items)
	}
}

// An intent whose amount is not the ledger's changes nothing and goes to
// review.
func TestAmountMismatchChangesNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	id := w.paid(t, "pm_card_visa")
	w.fail(t, id)
	if _, err := w.pool.Exec(ctx, `UPDATE payment_transactions SET amount = 1000 WHERE checkout_id = $1`, id); err != nil {
		t.Fatal(err)
	}
	res, err := w.rec.Checkout(ctx, id)
	if err != nil || res.Action != reconcile.ActionReviewed {
		t.Fatalf("%+v %v; want reviewed", res, err)
	}
	if len(w.fake.Refunds()) != 0 {
		t.Fatal("refunded on a mismatched amount")
	}
	if items := w.reviews(t); len(items) != 1 || items[0].Type != reconcile.ReasonAmountMismatch {
		t.Fatalf("review items %+v", items)
	}
}

// A notice for an intent that is not ours is acknowledged.
func TestForeignIntentIsIgnored(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	res, err := w.rec.Notice(context.Background(), payment.Notice{IntentID: "pi_not_ours"})
	if err != nil || res.Action != reconcile.ActionNotOurs {
		t.Fatalf("%+v %v", res, err)
	}
}
