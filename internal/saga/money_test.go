package saga_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/uuid"
	stripewebhook "github.com/stripe/stripe-go/v76/webhook"

	"github.com/checkout-dev/checkout/internal/checkout"
	"github.com/checkout-dev/checkout/internal/events/eventstest"
	"github.com/checkout-dev/checkout/internal/payment"
	"github.com/checkout-dev/checkout/internal/reconcile"
	"github.com/checkout-dev/checkout/internal/saga"
	"github.com/checkout-dev/checkout/internal/stripefake"
	"github.com/checkout-dev/checkout/internal/webhook"
)

// The money-path regressions: each of these failed on the code before the
// gateway's answer was made to win.

const confirmPath = "POST /v1/payment_intents/*/confirm"

func (w *world) inject(t *testing.T, f stripefake.Fault) {
	t.Helper()
	if err := w.fake.InjectFault(f); err != nil {
		t.Fatal(err)
	}
}

func (w *world) charge(t *testing.T, st saga.State) payment.Transaction {
	t.Helper()
	tx, err := w.core.Payments.Get(context.Background(), uuid.MustParse(st.CheckoutID), payment.KindCharge)
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

func (w *world) intent(t *testing.T, id string) stripefake.PaymentIntent {
	t.Helper()
	pi, ok := w.fake.PaymentIntent(id)
	if !ok {
		t.Fatalf("no intent %s at the gateway", id)
	}
	return pi
}

func (w *world) reserve(t *testing.T, pm string) saga.State {
	t.Helper()
	st := w.start(t, pm, checkout.Item{SKU: "TEE-1", Quantity: 1})
	st, err := w.invoke(t, saga.FnReserveStock, st)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// waitIntent waits until the gateway's intent has status want.
func (w *world) waitIntent(t *testing.T, id, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for w.intent(t, id).Status != want {
		if time.Now().After(deadline) {
			t.Fatalf("intent %s is %s; want %s", id, w.intent(t, id).Status, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Defect 1: a confirm answered "processing" was retried, then canceled
// (Stripe refuses), and the refusal read as "failed/canceled": money taken,
// checkout failed, no refund. Now processing is a pending answer that is
// asked again, the compensation refuses to act while the gateway has not
// decided, and the ledger never records a status the gateway did not give.
func TestRegressionProcessingIsNeverRecordedAsFailure(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	st := w.reserve(t, "pm_card_visa")
	// Longer than the steps' own short polling: the saga sees it pending.
	w.inject(t, stripefake.Fault{Kind: stripefake.Processing, Match: confirmPath, Delay: 3 * time.Second})

	if _, err := w.invoke(t, saga.FnChargePayment, st); errorName(err) != "PaymentPending" {
		t.Fatalf("charge: %v (%s); want PaymentPending", err, errorName(err))
	}
	tx := w.charge(t, st)
	if tx.Status != payment.StatusProcessing {
		t.Fatalf("charge row %s; want processing", tx.Status)
	}
	// The saga gives up waiting and compensates: nothing may be recorded
	// as failed or canceled while the gateway is still processing.
	if _, err := w.invoke(t, saga.FnRefundPayment, st); errorName(err) != "PaymentPending" {
		t.Fatalf("refund while processing: %v (%s); want PaymentPending", err, errorName(err))
	}
	if got := w.charge(t, st).Status; got != payment.StatusProcessing {
		t.Fatalf("charge row %s while the gateway processes; want processing", got)
	}
	w.waitIntent(t, tx.ProviderPaymentID, payment.IntentRequiresCapture)
	// The retried compensation now sees the amount authorized and voids it.
	out, err := w.invoke(t, saga.FnRefundPayment, st)
	if err != nil || out.Refund == nil || out.Refund.Action != payment.ReversalVoided {
		t.Fatalf("compensation after the gateway authorized: %+v %v; want the authorization voided", out.Refund, err)
	}
	if got := w.charge(t, st).Status; got != payment.StatusCanceled {
		t.Fatalf("charge row %s; want canceled", got)
	}
	if n, c := len(w.fake.RefundsFor(tx.ProviderPaymentID)), len(w.fake.AuthorizedCharges()); n != 0 || c != 0 {
		t.Fatalf("%d refunds, %d charges holding money; want 0 and 0", n, c)
	}
}

// Defect 1, the other ending: the charge step asks again and the payment
// completes into an order, once.
func TestProcessingPaymentCompletesWhenAskedAgain(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	st := w.reserve(t, "pm_card_visa")
	w.inject(t, stripefake.Fault{Kind: stripefake.Processing, Match: confirmPath, Delay: 3 * time.Second})
	if _, err := w.invoke(t, saga.FnChargePayment, st); errorName(err) != "PaymentPending" {
		t.Fatalf("charge: %v; want PaymentPending", err)
	}
	w.waitIntent(t, w.charge(t, st).ProviderPaymentID, payment.IntentRequiresCapture)
	st, err := w.invoke(t, saga.FnChargePayment, st)
	if err != nil || st.Payment == nil || st.Payment.Status != string(payment.StatusAuthorized) {
		t.Fatalf("charge asked again: %+v %v", st.Payment, err)
	}
	if _, err := w.invoke(t, saga.FnCreateOrder, st); err != nil {
		t.Fatal(err)
	}
	if n := len(w.fake.AuthorizedCharges()); n != 1 {
		t.Fatalf("%d charges; want 1", n)
	}
}

// Defect 2: when CreateOrder committed but its answer was lost, the saga's
// catch-all refunded the payment of a confirmed order. Now RefundPayment
// refuses when the order exists (OrderConfirmed → manual review), and
// marking the review keeps the checkout completed.
func TestRegressionRefundRefusedWhenOrderExists(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	st := w.reserve(t, "pm_card_visa")
	st, err := w.invoke(t, saga.FnChargePayment, st)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.invoke(t, saga.FnCreateOrder, st); err != nil {
		t.Fatal(err)
	}
	if _, err := w.invoke(t, saga.FnRefundPayment, st); errorName(err) != "OrderConfirmed" {
		t.Fatalf("refund after the order: %v (%s); want OrderConfirmed", err, errorName(err))
	}
	if n := len(w.fake.Refunds()); n != 0 {
		t.Fatalf("%d refunds of a confirmed order; want 0", n)
	}
	cause := fmt.Sprintf(`{"errorType":"OrderConfirmed","errorMessage":"checkout %s has a confirmed order"}`, st.CheckoutID)
	if _, err := w.invoke(t, saga.FnMarkOutcome, saga.Outcome{CheckoutID: st.CheckoutID, Status: checkout.StatusNeedsReview,
		Error: &saga.StepError{Error: "OrderConfirmed", Cause: cause}}); err != nil {
		t.Fatalf("mark needs_review: %v", err)
	}
	if status, _ := w.status(t, st); status != checkout.StatusCompleted {
		t.Fatalf("checkout %s; want completed (its order exists)", status)
	}
}

// The other half of defect 2: a compensation that started first keeps the
// order out (no refund and order can both happen).
func TestOrderRefusedOnceCompensationStarted(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	st := w.reserve(t, "pm_card_visa")
	st, err := w.invoke(t, saga.FnChargePayment, st)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.invoke(t, saga.FnRefundPayment, st); err != nil {
		t.Fatal(err)
	}
	if _, err := w.invoke(t, saga.FnCreateOrder, st); errorName(err) != "StateConflict" {
		t.Fatalf("create order after the refund: %v (%s); want StateConflict", err, errorName(err))
	}
	var n int
	if err := w.pool.QueryRow(context.Background(), `SELECT count(*) FROM orders`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d orders; want 0", n)
	}
}

// Defect 3: a signed payment_intent.payment_failed event arriving while the
// confirm was slow marked the charge failed, and the order was refused
// although Stripe confirmed the payment. Now the webhook only forwards the
// intent, reconciliation reads the gateway (and leaves a running saga
// alone), and the charge step records what the gateway confirmed.
func TestRegressionPaymentFailedEventCannotOverrideSuccess(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	sqs := eventstest.Local(t, w.pool)
	q, err := sqs.Client.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String(eventstest.Uniq("payment-events"))})
	if err != nil {
		t.Fatal(err)
	}
	r, err := sqs.Client.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String(eventstest.Uniq("manual-review"))})
	if err != nil {
		t.Fatal(err)
	}
	const secret = "whsec_regression"
	hook := webhook.New(w.pool, secret, webhook.SQSForwarder{Client: sqs.Client, QueueURL: aws.ToString(q.QueueUrl)}, slog.New(slog.DiscardHandler))
	rec := w.core.Reconciler(reconcile.SQSReviewer{Client: sqs.Client, QueueURL: aws.ToString(r.QueueUrl)}, nil)

	st := w.reserve(t, "pm_card_visa")
	w.inject(t, stripefake.Fault{Kind: stripefake.Slow, Match: confirmPath, Delay: time.Second})
	done := make(chan error, 1)
	go func() {
		var err error
		st, err = w.invoke(t, saga.FnChargePayment, st)
		done <- err
	}()
	var intentID string
	for deadline := time.Now().Add(5 * time.Second); intentID == ""; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the charge never recorded its intent")
		}
		if tx, err := w.core.Payments.Get(ctx, uuid.MustParse(st.CheckoutID), payment.KindCharge); err == nil {
			intentID = tx.ProviderPaymentID
		}
	}
	payload := []byte(fmt.Sprintf(`{"id":"evt_failed","object":"event","api_version":"2023-10-16","type":"payment_intent.payment_failed",
		"data":{"object":{"id":%q,"object":"payment_intent","amount":1999,"currency":"usd","status":"requires_payment_method",
		"last_payment_error":{"type":"card_error","code":"card_declined","decline_code":"generic_decline"}}}}`, intentID))
	signed := stripewebhook.GenerateTestSignedPayload(&stripewebhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: time.Now()})
	resp, err := hook.Handle(ctx, events.APIGatewayProxyRequest{HTTPMethod: "POST", Path: webhook.Path, Body: string(payload),
		Headers: map[string]string{"Content-Type": "application/json", "Stripe-Signature": signed.Header}})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("webhook: %d %s %v", resp.StatusCode, resp.Body, err)
	}
	msgs, err := sqs.Client.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10})
	if err != nil || len(msgs.Messages) != 1 {
		t.Fatalf("forwarded %d notices (%v); want 1", len(msgs.Messages), err)
	}
	var n payment.Notice
	if err := json.Unmarshal([]byte(aws.ToString(msgs.Messages[0].Body)), &n); err != nil {
		t.Fatal(err)
	}
	res, err := rec.Notice(ctx, n)
	if err != nil || res.Action != reconcile.ActionInProgress {
		t.Fatalf("reconcile during the confirm: %+v %v; want in_progress (the saga owns it)", res, err)
	}
	if got := w.charge(t, st).Status; got == payment.StatusFailed {
		t.Fatal("the payment_failed event marked the charge failed while the gateway was confirming it")
	}
	if err := <-done; err != nil {
		t.Fatalf("charge: %v", err)
	}
	if got := w.charge(t, st).Status; got != payment.StatusAuthorized {
		t.Fatalf("charge row %s; want authorized", got)
	}
	if _, err := w.invoke(t, saga.FnCreateOrder, st); err != nil {
		t.Fatalf("create order: %v", err)
	}
}

// Defect 4: a 500 on confirm was treated as "did not happen"; Stripe had
// moved the money and replays the stored 500 for the key, so the saga gave
// up and refunded a good charge. Now a 5xx is an unknown outcome resolved
// by retrieving the intent.
func TestRegressionConfirm5xxAfterTheChargeIsNotAFailure(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	st := w.reserve(t, "pm_card_visa")
	w.inject(t, stripefake.Fault{Kind: stripefake.Status500After, Match: confirmPath})
	st, err := w.invoke(t, saga.FnChargePayment, st)
	if err != nil || st.Payment == nil || st.Payment.Status != string(payment.StatusAuthorized) {
		t.Fatalf("charge: %+v %v; want authorized (the gateway took the authorization)", st.Payment, err)
	}
	if _, err := w.invoke(t, saga.FnCreateOrder, st); err != nil {
		t.Fatal(err)
	}
	if n, r := len(w.fake.AuthorizedCharges()), len(w.fake.Refunds()); n != 1 || r != 0 {
		t.Fatalf("%d charges, %d refunds; want 1 and 0", n, r)
	}
}

// Defect 4, the 5xx that did not move money: the intent shows it was never
// confirmed, so the confirm is sent again under a new key (the stored 5xx
// would be replayed for the old one) and charges once.
func TestConfirm5xxBeforeTheChargeConfirmsOnceUnderANewKey(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	st := w.reserve(t, "pm_card_visa")
	w.inject(t, stripefake.Fault{Kind: stripefake.Status500, Match: confirmPath, Times: 2})
	st, err := w.invoke(t, saga.FnChargePayment, st)
	if err != nil || st.Payment.Status != string(payment.StatusAuthorized) {
		t.Fatalf("charge: %+v %v", st.Payment, err)
	}
	if got := w.charge(t, st).Attempt; got < 1 {
		t.Fatalf("key attempt %d; want the key moved on after the 5xx", got)
	}
	if n := len(w.fake.AuthorizedCharges()); n != 1 {
		t.Fatalf("%d charges; want 1", n)
	}
}

// Defect 4, the slow confirm: the step's deadline passes while the gateway
// still works on the confirm (on AWS: Sandbox.Timedout); the retried step
// resolves from the intent and never charges twice.
func TestSlowConfirmPastTheStepDeadlineChargesOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	st := w.reserve(t, "pm_card_visa")
	w.inject(t, stripefake.Fault{Kind: stripefake.Slow, Match: confirmPath, Delay: 1500 * time.Millisecond})
	payload, _ := json.Marshal(st)
	ctx, cancel := context.WithTimeout(context.Background(), 1200*time.Millisecond)
	_, err := w.core.Steps.Handler(saga.FnChargePayment).Invoke(ctx, payload)
	cancel()
	if err == nil {
		t.Fatal("the charge step finished before the slow confirm did")
	}
	w.waitIntent(t, w.charge(t, st).ProviderPaymentID, payment.IntentRequiresCapture)
	st, err = w.invoke(t, saga.FnChargePayment, st)
	if err != nil || st.Payment.Status != string(payment.StatusAuthorized) {
		t.Fatalf("retried charge: %+v %v", st.Payment, err)
	}
	if n := len(w.fake.AuthorizedCharges()); n != 1 {
		t.Fatalf("%d charges; want 1", n)
	}
}
