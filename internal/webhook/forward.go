package webhook

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/checkout-dev/checkout/internal/payment"
)

// SQSForwarder sends notices to the payment-events queue.
type SQSForwarder struct {
	Client   *sqs.Client
	QueueURL string
}

// Forward implements Forwarder.
func (f SQSForwarder) Forward(ctx context.Context, n payment.Notice) error {
	body, err := json.Marshal(n)
	if err != nil {
		return err
	}
	_, err = f.Client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(f.QueueURL), MessageBody: aws.String(string(body)),
		MessageAttributes: map[string]types.MessageAttributeValue{
			"event_type": {DataType: aws.String("String"), StringValue: aws.String(firstNonEmpty(n.EventType, "reconcile"))},
		}})
	return err
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
