package sqs_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

func init() {
	cases = append(cases,
		conformanceCase{name: "InvalidUnicode", docsOnly: "SendMessage docs: characters outside the allowed set are rejected; moto 5.2 answers 500 (an HTML page) to a lone surrogate or a raw 0xFF", run: testInvalidUnicode},
		conformanceCase{name: "VisibilityTotalLimit", docsOnly: "ChangeMessageVisibility docs: a total visibility beyond 12 hours is rejected; moto 5.2 accepts it", run: testVisibilityTotalLimit},
		conformanceCase{name: "PurgeQueueInProgress", docsOnly: "PurgeQueue docs: PurgeQueueInProgress within 60 seconds of a purge; moto 5.2 purges again", run: testPurgeInProgress},
		conformanceCase{name: "QueueDeletedRecently", docsOnly: "CreateQueue docs: QueueDeletedRecently within 60 seconds of deleting the name; moto 5.2 creates it", run: testQueueDeletedRecently},
		conformanceCase{name: "BatchRequestTooLong", run: testBatchRequestTooLong},
	)
}

// rawCall posts one AWS JSON 1.0 request as bytes, so that a body can carry
// what an SDK would never send (a lone surrogate escape, invalid UTF-8).
func rawCall(t *testing.T, tg *target, action string, body []byte) (int, string, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx(t), http.MethodPost, tg.url+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "AmazonSQS."+action)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDLOCALTEST/20240101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=x")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct {
		Type string `json:"__type"`
	}
	_ = json.Unmarshal(b, &e)
	_, typ, _ := strings.Cut(e.Type, "#")
	return resp.StatusCode, typ, string(b)
}

// testInvalidUnicode: SQS API Reference, SendMessage, MessageBody: "A
// message can include only XML, JSON, and unformatted text. The following
// Unicode characters are allowed ... #x9 | #xA | #xD | #x20 to #xD7FF |
// #xE000 to #xFFFD | #x10000 to #x10FFFF. Any characters not included in
// this list will be rejected." A lone surrogate is no character, and 0xFF
// is no UTF-8: both must be InvalidMessageContents, not turned into U+FFFD
// and accepted.
func testInvalidUnicode(t *testing.T, tg *target) {
	url := createQueue(t, tg, uniq("utf"), nil)
	for _, tc := range []struct{ name, body string }{
		{"lone high surrogate", `"a\ud800b"`},
		{"lone low surrogate", `"a\udc00b"`},
		{"high surrogate at the end", `"a\ud800"`},
		{"high surrogate before a non-surrogate escape", `"\ud800\u0041"`},
		{"raw 0xFF", "\"a\xffb\""},
		{"UTF-8 encoded surrogate", "\"a\xed\xa0\x80b\""},
	} {
		status, typ, raw := rawCall(t, tg, "SendMessage", []byte(`{"QueueUrl":"`+url+`","MessageBody":`+tc.body+`}`))
		if status != 400 || typ != "InvalidMessageContents" {
			t.Errorf("%s: %d %s, want 400 InvalidMessageContents", tc.name, status, raw)
		}
	}
	// A surrogate pair is one valid character (U+1F600) and goes through
	// unchanged, as do escaped backslashes before a "u".
	status, _, raw := rawCall(t, tg, "SendMessage", []byte(`{"QueueUrl":"`+url+`","MessageBody":"pair \ud83d\ude00 and \\ud800"}`))
	if status != 200 {
		t.Fatalf("valid body: %d %s", status, raw)
	}
	m := receiveOne(t, tg, url)
	if want := "pair \U0001F600 and \\ud800"; *m.Body != want {
		t.Errorf("body %q, want %q", *m.Body, want)
	}
	// The same rule in a batch: the entry fails, the others are sent.
	status, _, raw = rawCall(t, tg, "SendMessageBatch", []byte(`{"QueueUrl":"`+url+`","Entries":[
		{"Id":"ok","MessageBody":"fine"},{"Id":"bad","MessageBody":"x\udfffy"}]}`))
	if status != 200 || !strings.Contains(raw, `"InvalidMessageContents"`) || !strings.Contains(raw, `"ok"`) {
		t.Errorf("batch: %d %s", status, raw)
	}
}

// testVisibilityTotalLimit: SQS API Reference, ChangeMessageVisibility: "You
// can continue to call ChangeMessageVisibility to extend the visibility
// timeout to the maximum allowed time. If you try to extend the visibility
// timeout beyond 12 hours, your request will be rejected." The 12 hours
// count from the receive: 43200 s at once is allowed, 43200 s again two
// seconds later is not, a shorter extension still is.
func testVisibilityTotalLimit(t *testing.T, tg *target) {
	c := ctx(t)
	url := createQueue(t, tg, uniq("vis12"), nil)
	send(t, tg, url, "long job")
	m := receiveOne(t, tg, url)
	change := func(secs int32) error {
		_, err := tg.client.ChangeMessageVisibility(c, &awssqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url),
			ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: secs})
		return err
	}
	must(0, change(43200))
	tg.advance(2 * time.Second)
	err := change(43200)
	wantCode(t, err, "InvalidParameterValue")
	if !strings.Contains(err.Error(), "Total VisibilityTimeout") {
		t.Errorf("message %q does not name the total visibility timeout", err)
	}
	must(0, change(43000))
}

// testPurgeInProgress: SQS API Reference, PurgeQueue, errors:
// PurgeQueueInProgress "Indicates that the specified queue previously
// received a PurgeQueue request within the last 60 seconds".
func testPurgeInProgress(t *testing.T, tg *target) {
	c := ctx(t)
	url := createQueue(t, tg, uniq("purge2"), nil)
	must(tg.client.PurgeQueue(c, &awssqs.PurgeQueueInput{QueueUrl: aws.String(url)}))
	_, err := tg.client.PurgeQueue(c, &awssqs.PurgeQueueInput{QueueUrl: aws.String(url)})
	wantTyped[*types.PurgeQueueInProgress](t, err, "AWS.SimpleQueueService.PurgeQueueInProgress")
	if tg.moto {
		return
	}
	send(t, tg, url, "after the refused purge")
	if n := queueAttrs(t, tg, url, types.QueueAttributeNameApproximateNumberOfMessages)["ApproximateNumberOfMessages"]; n != "1" {
		t.Errorf("a refused purge deleted messages: %s left", n)
	}
	tg.advance(61 * time.Second)
	must(tg.client.PurgeQueue(c, &awssqs.PurgeQueueInput{QueueUrl: aws.String(url)}))
	if n := queueAttrs(t, tg, url, types.QueueAttributeNameApproximateNumberOfMessages)["ApproximateNumberOfMessages"]; n != "0" {
		t.Errorf("after the second purge %s messages left", n)
	}
}

// testQueueDeletedRecently: SQS API Reference, CreateQueue: "After you delete
// a queue, you must wait at least 60 seconds before creating a queue with
// the same name"; errors: QueueDeletedRecently.
func testQueueDeletedRecently(t *testing.T, tg *target) {
	c := ctx(t)
	name := uniq("again")
	url := createQueue(t, tg, name, nil)
	must(tg.client.DeleteQueue(c, &awssqs.DeleteQueueInput{QueueUrl: aws.String(url)}))
	_, err := tg.client.CreateQueue(c, &awssqs.CreateQueueInput{QueueName: aws.String(name)})
	wantTyped[*types.QueueDeletedRecently](t, err, "AWS.SimpleQueueService.QueueDeletedRecently")
	if tg.moto {
		return
	}
	tg.advance(61 * time.Second)
	if got := createQueue(t, tg, name, nil); got != url {
		t.Errorf("re-created queue URL %q, want %q", got, url)
	}
}

// testBatchRequestTooLong: SQS API Reference, SendMessageBatch: "The maximum
// allowed individual message size and the maximum total payload size (the
// sum of the individual lengths of all of the batched messages) are both 1
// MiB (1,048,576 bytes)"; errors: BatchRequestTooLong.
func testBatchRequestTooLong(t *testing.T, tg *target) {
	url := createQueue(t, tg, uniq("toolong"), nil)
	big := strings.Repeat("x", 600*1024)
	_, err := tg.client.SendMessageBatch(ctx(t), &awssqs.SendMessageBatchInput{QueueUrl: aws.String(url),
		Entries: []types.SendMessageBatchRequestEntry{
			{Id: aws.String("a"), MessageBody: aws.String(big)}, {Id: aws.String("b"), MessageBody: aws.String(big)}}})
	wantTyped[*types.BatchRequestTooLong](t, err, "AWS.SimpleQueueService.BatchRequestTooLong")
	if !tg.moto && !strings.Contains(err.Error(), fmt.Sprint(1048576)) {
		t.Errorf("message %q does not name the 1 MiB limit", err)
	}
}
