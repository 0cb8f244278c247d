package reconcile

import (
	"context"
	"strconv"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/checkout-dev/checkout/internal/payment"
)

// Requeuer makes a failed message visible again after a delay.
type Requeuer interface {
	Requeue(ctx context.Context, receiptHandle string, after time.Duration) error
}

// SQSRequeuer changes a message's visibility on the payment-events queue.
type SQSRequeuer struct {
	Client   *sqs.Client
	QueueURL string
}

// Requeue implements Requeuer.
func (q SQSRequeuer) Requeue(ctx context.Context, receiptHandle string, after time.Duration) error {
	_, err := q.Client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(q.QueueURL),
		ReceiptHandle: aws.String(receiptHandle), VisibilityTimeout: int32(after / time.Second)})
	return err
}

// requeueAfter is the delay before a failed message's next try: 5 s
// doubling with each receive, at most 5 minutes (the queue's visibility
// timeout is sized for the function's timeout, far longer).
func requeueAfter(receiveCount string) time.Duration {
	n, _ := strconv.Atoi(receiveCount)
	d := 5 * time.Second
	for i := 1; i < n && d < 5*time.Minute; i++ {
		d *= 2
	}
	return min(d, 5*time.Minute)
}

// Handle is the payment-reconciler Lambda's handler (SQS event source with
// ReportBatchItemFailures): each message is a payment.Notice. A message
// that cannot be read is reported failed (and, after maxReceiveCount, ends
// in the DLQ with the reason logged); one whose reconciliation still failed
// after the in-call retries is reported failed and, with Requeue set, comes
// back after a backoff (requeueAfter) instead of the whole visibility
// timeout. It never returns an error, so one message never fails its batch.
func (r *Reconciler) Handle(ctx context.Context, in lambdaevents.SQSEvent) (lambdaevents.SQSEventResponse, error) {
	var resp lambdaevents.SQSEventResponse
	for _, m := range in.Records {
		n, err := payment.DecodeNotice([]byte(m.Body))
		if err == nil {
			var res Result
			res, err = r.Notice(ctx, n)
			if err == nil {
				r.log().InfoContext(ctx, "reconciled", "message_id", m.MessageId, "event", n.EventID, "event_type", n.EventType,
					"intent", n.IntentID, "checkout_id", res.CheckoutID, "action", res.Action, "charge_status", res.Charge)
				continue
			}
		}
		after := requeueAfter(m.Attributes["ApproximateReceiveCount"])
		if r.Requeue != nil {
			if rerr := r.Requeue.Requeue(ctx, m.ReceiptHandle, after); rerr != nil {
				r.log().WarnContext(ctx, "reconcile: cannot shorten the message's visibility", "message_id", m.MessageId, "err", rerr)
			}
		}
		r.log().WarnContext(ctx, "reconcile failed; the message comes back later", "message_id", m.MessageId, "after", after, "err", err)
		resp.BatchItemFailures = append(resp.BatchItemFailures, lambdaevents.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
	}
	return resp, nil
}
