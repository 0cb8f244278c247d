package sqs_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

func init() {
	cases = append(cases,
		conformanceCase{name: "FifoQueueAttributes", run: testFifoAttributes},
		conformanceCase{name: "FifoSendRules", run: testFifoSendRules},
		conformanceCase{name: "FifoGroupOrder", run: testFifoGroupOrder},
		conformanceCase{name: "FifoDeduplication", run: testFifoDedup},
		conformanceCase{name: "FifoDeduplicationScope", docsOnly: "CreateQueue docs: DeduplicationScope messageGroup scopes deduplication to the group; moto 5.2 deduplicates per queue", run: testFifoDedupScope},
		conformanceCase{name: "FifoReceiveRequestAttemptId", docsOnly: "ReceiveMessage docs: a retry with the same ReceiveRequestAttemptId returns the same messages and receipt handles; moto 5.2 returns nothing", run: testFifoAttempt},
		conformanceCase{name: "FifoDeadLetter", run: testFifoDeadLetter},
		conformanceCase{name: "FairQueue", run: testFairQueue},
		conformanceCase{name: "FairQueueNoisyNeighbour", docsOnly: "SQS Developer Guide, fair queues: quiet tenants are served before a noisy one; moto 5.2 serves in send order", run: testFairNoisyNeighbour},
	)
}

func createFIFO(t *testing.T, tg *target, name string, attrs map[string]string) string {
	t.Helper()
	a := map[string]string{"FifoQueue": "true"}
	for k, v := range attrs {
		a[k] = v
	}
	return createQueue(t, tg, name+".fifo", a)
}

func sendFIFO(t *testing.T, tg *target, url, body, group, dedup string) *awssqs.SendMessageOutput {
	t.Helper()
	in := &awssqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(body), MessageGroupId: aws.String(group)}
	if dedup != "" {
		in.MessageDeduplicationId = aws.String(dedup)
	}
	out, err := tg.client.SendMessage(ctx(t), in)
	if err != nil {
		t.Fatalf("SendMessage %q to group %s: %v", body, group, err)
	}
	return out
}

func bodies(msgs []types.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = *m.Body
	}
	return out
}

// testFifoAttributes: SQS API Reference, CreateQueue: FifoQueue "You can
// provide this attribute only during queue creation. You can't change it for
// an existing queue"; a FIFO queue name "must end with the .fifo suffix";
// ContentBasedDeduplication, DeduplicationScope (messageGroup, queue) and
// FifoThroughputLimit (perQueue, perMessageGroupId) "apply only to FIFO
// queues"; "The perMessageGroupId value is allowed only when the value for
// DeduplicationScope is messageGroup".
func testFifoAttributes(t *testing.T, tg *target) {
	c := ctx(t)
	_, err := tg.client.CreateQueue(c, &awssqs.CreateQueueInput{QueueName: aws.String(uniq("nosuffix")),
		Attributes: map[string]string{"FifoQueue": "true"}})
	wantCode(t, err, "InvalidParameterValue")

	url := createFIFO(t, tg, uniq("fattr"), nil)
	if !strings.HasSuffix(url, ".fifo") {
		t.Errorf("FIFO queue URL %q", url)
	}
	a := queueAttrs(t, tg, url, types.QueueAttributeNameAll)
	if a["FifoQueue"] != "true" || a["ContentBasedDeduplication"] != "false" {
		t.Errorf("FIFO attributes: %v", a)
	}
	if !tg.moto && (a["DeduplicationScope"] != "queue" || a["FifoThroughputLimit"] != "perQueue") {
		t.Errorf("FIFO throughput attributes: %v", a)
	}
	// Idempotent creation of the same FIFO queue.
	if again := createFIFO(t, tg, strings.TrimSuffix(url[strings.LastIndex(url, "/")+1:], ".fifo"), nil); again != url {
		t.Errorf("CreateQueue again: %q, want %q", again, url)
	}
	must(tg.client.SetQueueAttributes(c, &awssqs.SetQueueAttributesInput{QueueUrl: aws.String(url),
		Attributes: map[string]string{"ContentBasedDeduplication": "true", "DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId"}}))
	a = queueAttrs(t, tg, url, types.QueueAttributeNameAll)
	if a["ContentBasedDeduplication"] != "true" || a["DeduplicationScope"] != "messageGroup" || a["FifoThroughputLimit"] != "perMessageGroupId" {
		t.Errorf("after SetQueueAttributes: %v", a)
	}
	if tg.moto { // moto 5.2 lets FIFO attributes on standard queues, FifoQueue and perMessageGroupId with queue scope through
		return
	}
	std := createQueue(t, tg, uniq("std"), nil)
	_, err = tg.client.SetQueueAttributes(c, &awssqs.SetQueueAttributesInput{QueueUrl: aws.String(std),
		Attributes: map[string]string{"ContentBasedDeduplication": "true"}})
	wantTyped[*types.InvalidAttributeName](t, err, "InvalidAttributeName")
	_, err = tg.client.SetQueueAttributes(c, &awssqs.SetQueueAttributesInput{QueueUrl: aws.String(url),
		Attributes: map[string]string{"FifoQueue": "false"}})
	wantTyped[*types.InvalidAttributeName](t, err, "InvalidAttributeName")
	_, err = tg.client.SetQueueAttributes(c, &awssqs.SetQueueAttributesInput{QueueUrl: aws.String(url),
		Attributes: map[string]string{"DeduplicationScope": "queue"}}) // while FifoThroughputLimit is perMessageGroupId
	wantTyped[*types.InvalidAttributeValue](t, err, "InvalidAttributeValue")
}

// testFifoSendRules: SQS API Reference, SendMessage: MessageGroupId "If you
// do not provide a MessageGroupId when sending a message to a FIFO queue,
// the action fails"; MessageDeduplicationId "If you don't provide a
// MessageDeduplicationId and the queue doesn't have ContentBasedDeduplication
// set, the action fails with an error"; DelaySeconds "When you set
// FifoQueue, you can't set DelaySeconds per message"; SequenceNumber "The
// length of SequenceNumber is 128 bits. SequenceNumber continues to increase
// for a particular MessageGroupId"; and MessageDeduplicationId "applies only
// to FIFO queues".
func testFifoSendRules(t *testing.T, tg *target) {
	c := ctx(t)
	url := createFIFO(t, tg, uniq("frules"), nil)
	_, err := tg.client.SendMessage(c, &awssqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("x"), MessageDeduplicationId: aws.String("d")})
	wantCode(t, err, "MissingParameter")
	_, err = tg.client.SendMessage(c, &awssqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("x"), MessageGroupId: aws.String("g")})
	wantCode(t, err, "InvalidParameterValue")
	_, err = tg.client.SendMessage(c, &awssqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("x"),
		MessageGroupId: aws.String("g"), MessageDeduplicationId: aws.String("d"), DelaySeconds: 5})
	wantCode(t, err, "InvalidParameterValue")
	first := sendFIFO(t, tg, url, "one", "g", "d1")
	second := sendFIFO(t, tg, url, "two", "g", "d2")
	if tg.moto { // moto 5.2 draws random sequence numbers and accepts a deduplication id on a standard queue
		return
	}
	if first.SequenceNumber == nil || second.SequenceNumber == nil || len(*first.SequenceNumber) != 20 ||
		*second.SequenceNumber <= *first.SequenceNumber {
		t.Errorf("sequence numbers %v, %v: want increasing 20-digit numbers", aws.ToString(first.SequenceNumber), aws.ToString(second.SequenceNumber))
	}
	batch := must(tg.client.SendMessageBatch(c, &awssqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: []types.SendMessageBatchRequestEntry{
		{Id: aws.String("a"), MessageBody: aws.String("three"), MessageGroupId: aws.String("g"), MessageDeduplicationId: aws.String("d3")},
		{Id: aws.String("b"), MessageBody: aws.String("four"), MessageGroupId: aws.String("g"), MessageDeduplicationId: aws.String("d4")},
	}}))
	if len(batch.Successful) != 2 || aws.ToString(batch.Successful[0].SequenceNumber) <= *second.SequenceNumber ||
		aws.ToString(batch.Successful[1].SequenceNumber) <= aws.ToString(batch.Successful[0].SequenceNumber) {
		t.Errorf("batch: %+v / %+v", batch.Successful, batch.Failed)
	}
	std := createQueue(t, tg, uniq("stdrules"), nil)
	_, err = tg.client.SendMessage(c, &awssqs.SendMessageInput{QueueUrl: aws.String(std), MessageBody: aws.String("x"), MessageDeduplicationId: aws.String("d")})
	wantCode(t, err, "InvalidParameterValue")
}

// testFifoGroupOrder: SQS API Reference, ReceiveMessage: "While messages with
// a particular MessageGroupId are invisible, no more messages belonging to
// the same MessageGroupId are returned until the visibility timeout expires.
// You can still receive messages with another MessageGroupId from your FIFO
// queue as long as they are visible."; SendMessage: "For each
// MessageGroupId, the messages are sorted by time sent."
func testFifoGroupOrder(t *testing.T, tg *target) {
	c := ctx(t)
	url := createFIFO(t, tg, uniq("forder"), map[string]string{"ContentBasedDeduplication": "true"})
	for _, s := range [][2]string{{"a1", "A"}, {"a2", "A"}, {"b1", "B"}, {"a3", "A"}, {"b2", "B"}} {
		sendFIFO(t, tg, url, s[0], s[1], "")
	}
	head := receive(t, tg, url, withMax(1), withVT(60))
	if got := bodies(head); !slices.Equal(got, []string{"a1"}) {
		t.Fatalf("first receive %v, want [a1]", got)
	}
	// Group A is blocked while a1 is in flight: only B, in order.
	if got := bodies(receive(t, tg, url, withMax(10), withVT(60))); !slices.Equal(got, []string{"b1", "b2"}) {
		t.Fatalf("second receive %v, want [b1 b2]", got)
	}
	if got := receive(t, tg, url, withMax(10)); len(got) != 0 {
		t.Fatalf("third receive %v, want nothing (both groups in flight)", bodies(got))
	}
	must(tg.client.DeleteMessage(c, &awssqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: head[0].ReceiptHandle}))
	rest := receive(t, tg, url, withMax(10), withVT(60))
	if got := bodies(rest); !slices.Equal(got, []string{"a2", "a3"}) {
		t.Fatalf("after deleting a1: %v, want [a2 a3]", got)
	}
	// moto 5.2 omits SequenceNumber (ReceiveMessage, MessageSystemAttributeNames: "SequenceNumber – Returns the value provided by Amazon SQS").
	if rest[0].Attributes["MessageGroupId"] != "A" || (rest[0].Attributes["SequenceNumber"] == "" && !tg.moto) ||
		rest[0].Attributes["MessageDeduplicationId"] == "" {
		t.Errorf("system attributes of a FIFO message: %v", rest[0].Attributes)
	}
	// a2 made visible again comes back before a3 even though a3 is still in
	// flight? No: the group stays blocked while any of its messages is.
	releaseMsg(t, tg, url, rest[0])
	if got := receive(t, tg, url, withMax(10)); len(got) != 0 {
		t.Fatalf("group A delivered %v while a3 is in flight", bodies(got))
	}
	releaseMsg(t, tg, url, rest[1])
	if got := bodies(receive(t, tg, url, withMax(10))); !slices.Equal(got, []string{"a2", "a3"}) {
		t.Fatalf("redelivery %v, want [a2 a3] in order", got)
	}
}

// testFifoDedup: SendMessage, MessageDeduplicationId: "any messages sent with
// the same MessageDeduplicationId are accepted successfully but aren't
// delivered during the 5-minute deduplication interval"; CreateQueue,
// ContentBasedDeduplication: "Amazon SQS uses a SHA-256 hash to generate the
// MessageDeduplicationId using the body of the message (but not the
// attributes of the message)" and "If the queue has ContentBasedDeduplication
// set, your MessageDeduplicationId overrides the generated one".
func testFifoDedup(t *testing.T, tg *target) {
	c := ctx(t)
	url := createFIFO(t, tg, uniq("fdedup"), nil)
	one := sendFIFO(t, tg, url, "hello", "g", "same")
	two := sendFIFO(t, tg, url, "hello again", "g", "same")
	if *one.MessageId != *two.MessageId && !tg.moto {
		t.Errorf("duplicate got MessageId %s, want the original %s", *two.MessageId, *one.MessageId)
	}
	cbd := createFIFO(t, tg, uniq("fcbd"), map[string]string{"ContentBasedDeduplication": "true"})
	sendFIFO(t, tg, cbd, "body", "g", "")
	sendFIFO(t, tg, cbd, "body", "g", "")
	_, err := tg.client.SendMessage(c, &awssqs.SendMessageInput{QueueUrl: aws.String(cbd), MessageBody: aws.String("body"),
		MessageGroupId: aws.String("g"), MessageAttributes: map[string]types.MessageAttributeValue{
			"a": {DataType: aws.String("String"), StringValue: aws.String("differs")}}})
	if err != nil {
		t.Fatal(err)
	}
	sendFIFO(t, tg, cbd, "body", "g", "explicit") // the explicit id overrides: a new message
	for _, q := range []struct {
		url  string
		want []string
	}{{url, []string{"hello"}}, {cbd, []string{"body", "body"}}} {
		got := receive(t, tg, q.url, withMax(10), withVT(600))
		if !slices.Equal(bodies(got), q.want) {
			t.Errorf("received %v, want %v", bodies(got), q.want)
		}
		for _, m := range got {
			must(tg.client.DeleteMessage(c, &awssqs.DeleteMessageInput{QueueUrl: aws.String(q.url), ReceiptHandle: m.ReceiptHandle}))
		}
	}
	if tg.moto { // moto 5.2 forgets a deduplication id when its message is deleted
		return
	}
	// Deleting the message does not end the interval.
	sendFIFO(t, tg, url, "hello", "g", "same")
	if got := receive(t, tg, url, withMax(10)); len(got) != 0 {
		t.Errorf("a duplicate was delivered within the interval: %v", bodies(got))
	}
	tg.advance(5*time.Minute + time.Second)
	sendFIFO(t, tg, url, "hello", "g", "same")
	if got := receive(t, tg, url, withMax(10)); len(got) != 1 {
		t.Errorf("after the interval the id was still a duplicate: %d received", len(got))
	}
}

// testFifoDedupScope: CreateQueue, DeduplicationScope: "Specifies whether
// message deduplication occurs at the message group or queue level".
func testFifoDedupScope(t *testing.T, tg *target) {
	url := createFIFO(t, tg, uniq("fscope"), map[string]string{"DeduplicationScope": "messageGroup"})
	sendFIFO(t, tg, url, "in A", "A", "same")
	sendFIFO(t, tg, url, "in B", "B", "same")
	sendFIFO(t, tg, url, "in A again", "A", "same")
	got := bodies(receive(t, tg, url, withMax(10)))
	slices.Sort(got)
	if !slices.Equal(got, []string{"in A", "in B"}) {
		t.Errorf("received %v, want one message per group", got)
	}
}

// testFifoAttempt: ReceiveMessage, ReceiveRequestAttemptId: "During a
// visibility timeout, subsequent calls with the same ReceiveRequestAttemptId
// return the same messages and receipt handles"; "It is possible to retry the
// ReceiveMessage action with the same ReceiveRequestAttemptId if none of the
// messages have been modified (deleted or had their visibility changes)."
func testFifoAttempt(t *testing.T, tg *target) {
	c := ctx(t)
	url := createFIFO(t, tg, uniq("fattempt"), map[string]string{"ContentBasedDeduplication": "true"})
	for i := range 3 {
		sendFIFO(t, tg, url, fmt.Sprint("m", i), "g", "")
	}
	recv := func(attempt string) []types.Message {
		out := must(tg.client.ReceiveMessage(c, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 2,
			VisibilityTimeout: 60, ReceiveRequestAttemptId: aws.String(attempt)}))
		return out.Messages
	}
	first := recv("attempt-1")
	again := recv("attempt-1")
	if len(first) != 2 || len(again) != 2 {
		t.Fatalf("received %d then %d messages", len(first), len(again))
	}
	for i := range first {
		if *first[i].MessageId != *again[i].MessageId || *first[i].ReceiptHandle != *again[i].ReceiptHandle {
			t.Errorf("retry %d: %s/%s, want %s and the same receipt handle", i, *again[i].MessageId, *again[i].ReceiptHandle, *first[i].MessageId)
		}
	}
	if other := recv("attempt-2"); len(other) != 0 {
		t.Errorf("another attempt received %v while the group is in flight", bodies(other))
	}
	// The receipt handles of the retry delete.
	for _, m := range again {
		must(tg.client.DeleteMessage(c, &awssqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}))
	}
	if last := recv("attempt-3"); !slices.Equal(bodies(last), []string{"m2"}) {
		t.Errorf("after deleting: %v, want [m2]", bodies(last))
	}
}

// testFifoDeadLetter: SQS Developer Guide, dead-letter queues: "The
// dead-letter queue of a FIFO queue must also be a FIFO queue."; a message
// moved there keeps its group.
func testFifoDeadLetter(t *testing.T, tg *target) {
	c := ctx(t)
	stdDLQ := createQueue(t, tg, uniq("stddlq"), nil)
	// The documentation names no error code; moto (and we) answer
	// InvalidParameterCombination.
	_, err := tg.client.CreateQueue(c, &awssqs.CreateQueueInput{QueueName: aws.String(uniq("fsrc") + ".fifo"),
		Attributes: map[string]string{"FifoQueue": "true", "RedrivePolicy": redrivePolicy(arnOf(t, tg, stdDLQ), 1)}})
	wantCode(t, err, "InvalidParameterCombination")

	dlq := createFIFO(t, tg, uniq("fdlq"), nil)
	src := createFIFO(t, tg, uniq("fsrc"), map[string]string{"RedrivePolicy": redrivePolicy(arnOf(t, tg, dlq), 1)})
	sendFIFO(t, tg, src, "poison", "G", "p1")
	receiveOne(t, tg, src, released())
	if got := receive(t, tg, src, withMax(10)); len(got) != 0 {
		t.Fatalf("delivered again after maxReceiveCount 1: %v", bodies(got))
	}
	m := receiveOne(t, tg, dlq)
	if *m.Body != "poison" || m.Attributes["MessageGroupId"] != "G" {
		t.Errorf("dead letter %q attributes %v", *m.Body, m.Attributes)
	}
}

// testFairQueue: SendMessage, MessageGroupId: "In standard queues, using
// MessageGroupId enables fair queues ... Unlike FIFO queues, messages with
// the same MessageGroupId can be processed in parallel". A standard queue
// accepts it, returns it as the MessageGroupId system attribute and never
// blocks a group.
func testFairQueue(t *testing.T, tg *target) {
	url := createQueue(t, tg, uniq("fair"), nil)
	for i := range 3 {
		must(tg.client.SendMessage(ctx(t), &awssqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(fmt.Sprint("t", i)),
			MessageGroupId: aws.String("tenant-1")}))
	}
	first := receiveOne(t, tg, url, withVT(60))
	if first.Attributes["MessageGroupId"] != "tenant-1" {
		t.Errorf("MessageGroupId attribute: %v", first.Attributes)
	}
	if got := receive(t, tg, url, withMax(10)); len(got) != 2 {
		t.Errorf("the group was blocked on a standard queue: %d of 2 received", len(got))
	}
}

// testFairNoisyNeighbour: SQS Developer Guide, "How Amazon SQS fair queues
// work": a tenant is a noisy neighbour when it "has more than 10% of the
// in-flight messages in the queue and at least 30 of its own messages in
// flight"; then "consumer instances polling for messages receive messages
// from quiet tenants whenever quiet tenant messages are available".
func testFairNoisyNeighbour(t *testing.T, tg *target) {
	c := ctx(t)
	url := createQueue(t, tg, uniq("noisy"), nil)
	sendGroup := func(group string, n int) {
		for b := 0; b < n; b += 10 {
			var entries []types.SendMessageBatchRequestEntry
			for i := b; i < min(b+10, n); i++ {
				entries = append(entries, types.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)),
					MessageBody: aws.String(fmt.Sprintf("%s-%d", group, i)), MessageGroupId: aws.String(group)})
			}
			must(tg.client.SendMessageBatch(c, &awssqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: entries}))
		}
	}
	sendGroup("loud", 100)
	tg.advance(time.Second)
	sendGroup("quiet", 5)
	for range 3 { // 30 of loud in flight: 100% of in-flight, and 30 of its own
		if got := receive(t, tg, url, withMax(10), withVT(600)); len(got) != 10 || !strings.HasPrefix(*got[0].Body, "loud-") {
			t.Fatalf("backlog receive: %v", bodies(got))
		}
	}
	// The quiet tenant's five messages are older than none of loud's 70
	// waiting ones, yet all come in the next receive.
	got := bodies(receive(t, tg, url, withMax(10), withVT(600)))
	quiet := 0
	for _, b := range got {
		if strings.HasPrefix(b, "quiet-") {
			quiet++
		}
	}
	if quiet != 5 {
		t.Errorf("with a noisy neighbour the next receive was %v, want the 5 quiet messages in it", got)
	}
}
