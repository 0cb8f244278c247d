package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// queue is a resolved queue with its attributes.
type queue struct {
	Name, URL, ARN string
	Attrs          map[string]string
}

func (q queue) intAttr(name string) int {
	n, _ := strconv.Atoi(q.Attrs[name])
	return n
}

// redriveTarget returns the ARN of q's dead-letter queue, or "".
func (q queue) redriveTarget() string {
	var p struct {
		DeadLetterTargetArn string `json:"deadLetterTargetArn"`
	}
	if json.Unmarshal([]byte(q.Attrs["RedrivePolicy"]), &p) != nil {
		return ""
	}
	return p.DeadLetterTargetArn
}

func nameFromURL(u string) string {
	if pu, err := url.Parse(u); err == nil && pu.Path != "" {
		return path.Base(pu.Path)
	}
	return path.Base(u)
}

// resolveQueue finds a queue by URL, by name, or by name within the stack
// (`notification-dlq` is `checkout-dev-notification-dlq` with the default
// --stack). An unknown queue gives errNoQueue.
func (e *env) resolveQueue(ctx context.Context, arg string) (queue, error) {
	c, err := e.SQS(ctx)
	if err != nil {
		return queue{}, err
	}
	var qurl string
	if strings.HasPrefix(arg, "http://") || strings.HasPrefix(arg, "https://") {
		qurl = arg
	} else {
		cands := []string{arg}
		if e.opts.stack != "" && !strings.HasPrefix(arg, e.opts.stack+"-") {
			cands = append(cands, e.opts.stack+"-"+arg)
		}
		for _, name := range cands {
			out, err := c.GetQueueUrl(ctx, &awssqs.GetQueueUrlInput{QueueName: aws.String(name)})
			if err == nil {
				qurl = aws.ToString(out.QueueUrl)
				break
			}
			if !isQueueMissing(err) {
				return queue{}, fmt.Errorf("look up queue %s: %w", name, err)
			}
		}
		if qurl == "" {
			return queue{}, errNoQueue(arg)
		}
	}
	q, err := e.describe(ctx, qurl)
	if isQueueMissing(err) {
		return queue{}, errNoQueue(arg)
	}
	return q, err
}

// describe reads every attribute of the queue at qurl.
func (e *env) describe(ctx context.Context, qurl string) (queue, error) {
	out, err := e.sqs.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: aws.String(qurl),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll}})
	if err != nil {
		return queue{}, fmt.Errorf("attributes of %s: %w", nameFromURL(qurl), err)
	}
	return queue{Name: nameFromURL(qurl), URL: qurl, ARN: out.Attributes["QueueArn"], Attrs: out.Attributes}, nil
}

// allQueues lists the stack's queues: on AWS from the stack's outputs
// (CloudFormation DescribeStacks), falling back to the queues named
// <stack>-*; on a local endpoint every queue.
func (e *env) allQueues(ctx context.Context) ([]queue, error) {
	c, err := e.SQS(ctx)
	if err != nil {
		return nil, err
	}
	var urls []string
	if cf := e.cloudFormation(); cf != nil && e.opts.stack != "" {
		urls, err = stackQueueURLs(ctx, cf, e.opts.stack)
		if err != nil {
			fmt.Fprintf(e.stderr, "checkoutctl: stack %s: %v; listing queues named %s-*\n", e.opts.stack, err, e.opts.stack)
		}
	}
	if len(urls) == 0 {
		in := &awssqs.ListQueuesInput{}
		if !e.local && e.opts.stack != "" {
			in.QueueNamePrefix = aws.String(e.opts.stack + "-")
		}
		p := awssqs.NewListQueuesPaginator(c, in)
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("list queues: %w", err)
			}
			urls = append(urls, page.QueueUrls...)
		}
	}
	sort.Strings(urls)
	var qs []queue
	for _, u := range urls {
		q, err := e.describe(ctx, u)
		if isQueueMissing(err) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		qs = append(qs, q)
	}
	return qs, nil
}

func stackQueueURLs(ctx context.Context, cf *cloudformation.Client, stack string) ([]string, error) {
	out, err := cf.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(stack)})
	if err != nil {
		return nil, err
	}
	var urls []string
	for _, s := range out.Stacks {
		for _, o := range s.Outputs {
			v := aws.ToString(o.OutputValue)
			if strings.HasPrefix(v, "https://sqs.") || strings.HasSuffix(aws.ToString(o.OutputKey), "QueueUrl") ||
				strings.HasSuffix(aws.ToString(o.OutputKey), "DLQUrl") {
				urls = append(urls, v)
			}
		}
	}
	return urls, nil
}

// isDLQ reports whether q is a dead-letter queue: some queue's
// RedrivePolicy targets it, or its name ends in -dlq.
func isDLQ(q queue, all []queue) bool {
	if strings.HasSuffix(q.Name, "-dlq") {
		return true
	}
	for _, o := range all {
		if o.redriveTarget() == q.ARN {
			return true
		}
	}
	return false
}

// sources returns the queues that dead-letter into dlq:
// ListDeadLetterSourceQueues, else the queues whose RedrivePolicy names it,
// else the queue named like it without -dlq.
func (e *env) sources(ctx context.Context, dlq queue) ([]queue, error) {
	var urls []string
	p := awssqs.NewListDeadLetterSourceQueuesPaginator(e.sqs, &awssqs.ListDeadLetterSourceQueuesInput{QueueUrl: aws.String(dlq.URL)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			break // not supported by every server: fall back below
		}
		urls = append(urls, page.QueueUrls...)
	}
	var out []queue
	for _, u := range urls {
		q, err := e.describe(ctx, u)
		if err != nil {
			return nil, err
		}
		out = append(out, q)
	}
	if len(out) > 0 {
		return out, nil
	}
	if all, err := e.allQueues(ctx); err == nil {
		for _, q := range all {
			if q.redriveTarget() == dlq.ARN {
				out = append(out, q)
			}
		}
	}
	if len(out) == 0 && strings.HasSuffix(dlq.Name, "-dlq") {
		if q, err := e.resolveQueue(ctx, strings.TrimSuffix(dlq.Name, "-dlq")); err == nil {
			out = append(out, q)
		}
	}
	return out, nil
}

// peekVisibility is how long a peeked message stays hidden if checkoutctl
// dies before making it visible again.
const peekVisibility = 30

// receive takes up to max messages, hidden for visibility seconds.
func (e *env) receive(ctx context.Context, q queue, max, visibility int32) ([]types.Message, error) {
	// AWS: wait 1 s so every server is queried instead of a sample. Locally
	// a short poll first (fast), then a waiting one before concluding the
	// queue is empty: a short poll may come back empty while messages
	// exist (rows another receive is locking), as SQS documents for short
	// polling.
	waits := []int32{1}
	if e.local {
		waits = []int32{0, 1}
	}
	for _, wait := range waits {
		out, err := e.sqs.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(q.URL),
			MaxNumberOfMessages:         max,
			VisibilityTimeout:           visibility,
			WaitTimeSeconds:             wait,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
			MessageAttributeNames:       []string{"All"},
		})
		if err != nil {
			if isQueueMissing(err) {
				return nil, errNoQueue(q.Name)
			}
			return nil, fmt.Errorf("receive from %s: %w", q.Name, err)
		}
		if len(out.Messages) > 0 {
			return out.Messages, nil
		}
	}
	return nil, nil
}

// release makes messages visible again at once. It runs even when ctx is
// cancelled (a cancelled command must not leave messages hidden).
func (e *env) release(ctx context.Context, q queue, msgs []types.Message) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var firstErr error
	for i := 0; i < len(msgs); i += 10 {
		var entries []types.ChangeMessageVisibilityBatchRequestEntry
		for j, m := range msgs[i:min(i+10, len(msgs))] {
			entries = append(entries, types.ChangeMessageVisibilityBatchRequestEntry{
				Id: aws.String(strconv.Itoa(j)), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0})
		}
		out, err := e.sqs.ChangeMessageVisibilityBatch(ctx, &awssqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(q.URL), Entries: entries})
		if err == nil && len(out.Failed) > 0 {
			err = fmt.Errorf("%d messages stay hidden until their visibility timeout: %s", len(out.Failed), aws.ToString(out.Failed[0].Message))
		}
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("release messages of %s: %w", q.Name, err)
		}
	}
	return firstErr
}

// scan receives messages until match says stop or the queue has no more
// visible messages, keeping each hidden; done releases the ones not taken.
// Every message is handed to visit at most once.
func (e *env) scan(ctx context.Context, q queue, visibility int32, visit func(m types.Message) (take, stop bool)) (held []types.Message, err error) {
	seen := map[string]bool{}
	for {
		if err := ctx.Err(); err != nil {
			return held, err
		}
		msgs, err := e.receive(ctx, q, 10, visibility)
		if err != nil {
			return held, err
		}
		if len(msgs) == 0 {
			return held, nil
		}
		fresh := 0
		stop := false
		for _, m := range msgs {
			id := aws.ToString(m.MessageId)
			if seen[id] || stop {
				held = append(held, m)
				continue
			}
			seen[id] = true
			fresh++
			take, st := visit(m)
			if !take {
				held = append(held, m)
			}
			stop = st
		}
		if stop || fresh == 0 {
			return held, nil
		}
	}
}

// peek returns up to limit messages without consuming them.
func (e *env) peek(ctx context.Context, q queue, limit int) ([]types.Message, error) {
	var got []types.Message
	held, err := e.scan(ctx, q, peekVisibility, func(m types.Message) (bool, bool) {
		got = append(got, m)
		return false, len(got) >= limit
	})
	if rerr := e.release(ctx, q, held); err == nil {
		err = rerr
	}
	return got, err
}
