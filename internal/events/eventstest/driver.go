package eventstest

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Pair is a work queue and its dead-letter queue.
type Pair struct {
	Name, URL, ARN          string
	DLQName, DLQURL, DLQARN string
}

// CreatePair creates queue name and name-dlq, the first redriving to the
// second after maxReceive receives (the template's shape).
func CreatePair(ctx context.Context, t testing.TB, c *awssqs.Client, name string, maxReceive int) Pair {
	t.Helper()
	p := Pair{Name: name, DLQName: name + "-dlq"}
	var err error
	if p.DLQURL, p.DLQARN, err = createQueue(ctx, c, p.DLQName, nil); err != nil {
		t.Fatal(err)
	}
	redrive := fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":%d}`, p.DLQARN, maxReceive)
	if p.URL, p.ARN, err = createQueue(ctx, c, name, map[string]string{
		"RedrivePolicy": redrive, "VisibilityTimeout": "60"}); err != nil {
		t.Fatal(err)
	}
	return p
}

// CreateQueue creates a plain queue and returns its URL.
func CreateQueue(ctx context.Context, t testing.TB, c *awssqs.Client, name string) string {
	t.Helper()
	url, _, err := createQueue(ctx, c, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	return url
}

func createQueue(ctx context.Context, c *awssqs.Client, name string, attrs map[string]string) (string, string, error) {
	out, err := c.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		return "", "", fmt.Errorf("create queue %s: %w", name, err)
	}
	a, err := c.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: out.QueueUrl,
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn}})
	if err != nil {
		return "", "", fmt.Errorf("queue arn of %s: %w", name, err)
	}
	return aws.ToString(out.QueueUrl), a.Attributes["QueueArn"], nil
}

// Handler is a consumer's Lambda handler.
type Handler func(context.Context, lambdaevents.SQSEvent) (lambdaevents.SQSEventResponse, error)

// Stats counts what Pump did.
type Stats struct {
	Batches, Received, Succeeded, Failed int
}

// Pump drives h like Lambda's SQS event source mapping with
// ReportBatchItemFailures: receive up to 10 messages, hand them to h as an
// events.SQSEvent, delete the successes, and leave the failures to
// reappear (their visibility is reset to 0 so they reappear now rather than
// after the queue's visibility timeout). A handler error fails the whole
// batch, as in Lambda. It stops after a receive returns nothing, or after
// maxBatches batches (0 = no limit).
func Pump(ctx context.Context, c *awssqs.Client, queueURL, queueARN string, h Handler, maxBatches int) (Stats, error) {
	var st Stats
	for maxBatches == 0 || st.Batches < maxBatches {
		out, err := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(queueURL),
			MaxNumberOfMessages:         10,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
			MessageAttributeNames:       []string{"All"},
		})
		if err != nil {
			return st, fmt.Errorf("receive: %w", err)
		}
		if len(out.Messages) == 0 {
			return st, nil
		}
		st.Batches++
		st.Received += len(out.Messages)
		ev := lambdaevents.SQSEvent{}
		receipts := map[string]string{}
		for _, m := range out.Messages {
			id := aws.ToString(m.MessageId)
			receipts[id] = aws.ToString(m.ReceiptHandle)
			ev.Records = append(ev.Records, toRecord(m, queueARN))
		}
		resp, herr := h(ctx, ev)
		failed := map[string]bool{}
		if herr != nil {
			for id := range receipts {
				failed[id] = true
			}
		} else {
			for _, f := range resp.BatchItemFailures {
				failed[f.ItemIdentifier] = true
			}
		}
		var del []types.DeleteMessageBatchRequestEntry
		var back []types.ChangeMessageVisibilityBatchRequestEntry
		i := 0
		for id, rh := range receipts {
			i++
			if failed[id] {
				back = append(back, types.ChangeMessageVisibilityBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(rh), VisibilityTimeout: 0})
			} else {
				del = append(del, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(rh)})
			}
		}
		st.Failed += len(back)
		st.Succeeded += len(del)
		if len(del) > 0 {
			d, err := c.DeleteMessageBatch(ctx, &awssqs.DeleteMessageBatchInput{QueueUrl: aws.String(queueURL), Entries: del})
			if err != nil {
				return st, fmt.Errorf("delete: %w", err)
			}
			if len(d.Failed) > 0 {
				return st, fmt.Errorf("delete: %d entries failed: %s", len(d.Failed), aws.ToString(d.Failed[0].Message))
			}
		}
		if len(back) > 0 {
			if _, err := c.ChangeMessageVisibilityBatch(ctx, &awssqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(queueURL), Entries: back}); err != nil {
				return st, fmt.Errorf("release failures: %w", err)
			}
		}
	}
	return st, nil
}

func toRecord(m types.Message, queueARN string) lambdaevents.SQSMessage {
	r := lambdaevents.SQSMessage{
		MessageId:         aws.ToString(m.MessageId),
		ReceiptHandle:     aws.ToString(m.ReceiptHandle),
		Body:              aws.ToString(m.Body),
		Md5OfBody:         aws.ToString(m.MD5OfBody),
		Attributes:        map[string]string{},
		MessageAttributes: map[string]lambdaevents.SQSMessageAttribute{},
		EventSource:       "aws:sqs",
		EventSourceARN:    queueARN,
		AWSRegion:         "us-east-1",
	}
	for k, v := range m.Attributes {
		r.Attributes[k] = v
	}
	for k, v := range m.MessageAttributes {
		r.MessageAttributes[k] = lambdaevents.SQSMessageAttribute{StringValue: v.StringValue, BinaryValue: v.BinaryValue, DataType: aws.ToString(v.DataType)}
	}
	return r
}

// Depth returns the visible plus in-flight messages of a queue.
func Depth(ctx context.Context, t testing.TB, c *awssqs.Client, url string) int {
	t.Helper()
	out, err := c.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := strconv.Atoi(out.Attributes["ApproximateNumberOfMessages"])
	b, _ := strconv.Atoi(out.Attributes["ApproximateNumberOfMessagesNotVisible"])
	return a + b
}

// Send sends body to the queue and returns the message id.
func Send(ctx context.Context, t testing.TB, c *awssqs.Client, url, body string) string {
	t.Helper()
	out, err := c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(body),
		MessageAttributes: map[string]types.MessageAttributeValue{
			"event_type": {DataType: aws.String("String"), StringValue: aws.String("order.created")}}})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.MessageId)
}
