package sqs_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// TestReceiveNeverExceedsMax: SQS API Reference, ReceiveMessage:
// MaxNumberOfMessages is "the maximum number of messages to return ...
// Valid values: 1 to 10". The receive statement once claimed every visible
// message when PostgreSQL's statistics said the table was nearly empty (the
// LIMIT subquery became the re-scanned inner side of a nested loop, each
// rescan claiming one more row). The test forces that plan: ANALYZE while
// the table holds one message, then 30 more in the same page (the planner
// then expects one row), received alone and by concurrent consumers.
func TestReceiveNeverExceedsMax(t *testing.T) {
	t.Parallel()
	defer catch(t)
	tg := ours(t)
	c := ctx(t)
	url := createQueue(t, tg, uniq("limit"), map[string]string{"VisibilityTimeout": "600"})
	send(t, tg, url, "first")
	must(tg.pool.Exec(c, `ANALYZE localaws.sqs_messages`))
	const total = 31
	for b := range total / 10 {
		var entries []types.SendMessageBatchRequestEntry
		for i := range 10 {
			entries = append(entries, types.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), MessageBody: aws.String(fmt.Sprintf("m-%d-%d", b, i))})
		}
		must(tg.client.SendMessageBatch(c, &awssqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: entries}))
	}
	for _, max := range []int32{1, 3, 10} {
		out := must(tg.client.ReceiveMessage(c, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: max}))
		if len(out.Messages) == 0 || len(out.Messages) > int(max) {
			t.Fatalf("MaxNumberOfMessages %d: received %d messages", max, len(out.Messages))
		}
	}
	// Concurrent consumers, each deleting what it got in one batch (which
	// fails with TooManyEntriesInBatchRequest above 10 entries).
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[string]bool{}
	for range 8 {
		wg.Go(func() {
			for {
				out, err := tg.client.ReceiveMessage(c, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10})
				if err != nil {
					t.Errorf("receive: %v", err)
					return
				}
				if len(out.Messages) == 0 {
					return
				}
				if len(out.Messages) > 10 {
					t.Errorf("received %d messages for MaxNumberOfMessages 10", len(out.Messages))
					return
				}
				var del []types.DeleteMessageBatchRequestEntry
				mu.Lock()
				for i, m := range out.Messages {
					if seen[*m.MessageId] {
						t.Errorf("message %s delivered twice", *m.MessageId)
					}
					seen[*m.MessageId] = true
					del = append(del, types.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: m.ReceiptHandle})
				}
				mu.Unlock()
				if _, err := tg.client.DeleteMessageBatch(c, &awssqs.DeleteMessageBatchInput{QueueUrl: aws.String(url), Entries: del}); err != nil {
					t.Errorf("delete: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if len(seen) != total-(1+3+10) {
		t.Errorf("the consumers received %d distinct messages, want %d", len(seen), total-(1+3+10))
	}
}
