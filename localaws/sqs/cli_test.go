package sqs_test

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
)

// TestAWSCLI drives our server with the AWS CLI (v1, botocore), exactly as
// a developer would: create-queue, send-message, receive-message and
// start-message-move-task. botocore speaks the AWS JSON 1.0 protocol to SQS
// (its service model lists only "json"), so no query protocol is needed.
func TestAWSCLI(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("aws")
	if err != nil {
		if inCI() {
			t.Fatal("aws CLI not found on PATH and CI is set")
		}
		t.Skip("aws CLI not found on PATH (set CI=1 to make this a failure)")
	}
	defer catch(t)
	tg := ours(t)
	cli := func(out any, args ...string) {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"--endpoint-url", tg.url, "--output", "json", "sqs"}, args...)...)
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=x", "AWS_SECRET_ACCESS_KEY=x", "AWS_DEFAULT_REGION=us-east-1",
			"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=")
		b, err := cmd.Output()
		if err != nil {
			var stderr string
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = string(ee.Stderr)
			}
			t.Fatalf("aws sqs %s: %v\n%s", strings.Join(args, " "), err, stderr)
		}
		if out != nil {
			if err := json.Unmarshal(b, out); err != nil {
				t.Fatalf("aws sqs %s: output %q: %v", args[0], b, err)
			}
		}
	}

	// The DLQ through the SDK, the source queue through the CLI.
	dlq := createQueue(t, tg, "cli-dlq", nil)
	dlqARN := arnOf(t, tg, dlq)
	var created struct{ QueueUrl string }
	cli(&created, "create-queue", "--queue-name", "cli-src", "--attributes",
		`{"RedrivePolicy":"{\"deadLetterTargetArn\":\"`+dlqARN+`\",\"maxReceiveCount\":\"1\"}","VisibilityTimeout":"0"}`)
	if !strings.HasSuffix(created.QueueUrl, "/000000000000/cli-src") {
		t.Fatalf("create-queue: %+v", created)
	}
	var sent struct{ MessageId, MD5OfMessageBody, MD5OfMessageAttributes string }
	cli(&sent, "send-message", "--queue-url", created.QueueUrl, "--message-body", `{"refund":"re_1"}`,
		"--message-attributes", `{"kind":{"DataType":"String","StringValue":"refund"}}`)
	if sum := md5.Sum([]byte(`{"refund":"re_1"}`)); sent.MessageId == "" || sent.MD5OfMessageBody != hex.EncodeToString(sum[:]) {
		t.Fatalf("send-message: %+v", sent)
	}
	type received struct {
		Messages []struct {
			MessageId, Body string
			Attributes      map[string]string
		}
	}
	var got received
	cli(&got, "receive-message", "--queue-url", created.QueueUrl, "--attribute-names", "All", "--message-attribute-names", "All")
	if len(got.Messages) != 1 || got.Messages[0].Body != `{"refund":"re_1"}` || got.Messages[0].Attributes["ApproximateReceiveCount"] != "1" {
		t.Fatalf("receive-message: %+v", got)
	}
	// The next receive moves it to the DLQ (maxReceiveCount 1).
	out := must(tg.client.ReceiveMessage(ctx(t), &awssqs.ReceiveMessageInput{QueueUrl: aws.String(created.QueueUrl)}))
	if len(out.Messages) != 0 {
		t.Fatal("message delivered past maxReceiveCount")
	}
	var task struct{ TaskHandle string }
	cli(&task, "start-message-move-task", "--source-arn", dlqARN)
	if task.TaskHandle == "" {
		t.Fatal("start-message-move-task returned no TaskHandle")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var tasks struct{ Results []struct{ Status string } }
		cli(&tasks, "list-message-move-tasks", "--source-arn", dlqARN)
		if len(tasks.Results) == 1 && tasks.Results[0].Status == "COMPLETED" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("move task: %+v", tasks)
		}
	}
	got = received{}
	cli(&got, "receive-message", "--queue-url", created.QueueUrl)
	if len(got.Messages) != 1 || got.Messages[0].Body != `{"refund":"re_1"}` {
		t.Fatalf("after the move task: %+v", got)
	}
	// Errors reach the CLI with the legacy code.
	cmd := exec.Command(bin, "--endpoint-url", tg.url, "sqs", "get-queue-url", "--queue-name", "nope")
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=x", "AWS_SECRET_ACCESS_KEY=x", "AWS_DEFAULT_REGION=us-east-1")
	b, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(b), "AWS.SimpleQueueService.NonExistentQueue") {
		t.Errorf("get-queue-url of a missing queue: %v %s", err, b)
	}
}
