package sfn

import (
	"github.com/checkout-dev/checkout/localaws/motoserver"

	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/checkout-dev/checkout/localaws/pgtest"
)

func TestSQSSendMessage(t *testing.T) {
	t.Parallel()
	moto := motoserver.Start(t)
	ctx := context.Background()
	client := sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(moto),
		Credentials: credentials.NewStaticCredentialsProvider("x", "x", "")})
	q, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("notifications")})
	if err != nil {
		t.Fatal(err)
	}
	pool := pgtest.NewPool(t)
	e := startExecutor(t, pool, Options{SQSEndpoint: moto}, nil)
	sm := register(t, e, "notify", fmt.Sprintf(`{"StartAt":"Send","States":{
	  "Send":{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage",
	    "Parameters":{"QueueUrl":%q,"MessageBody":{"order.$":"$.order","exec.$":"$$.Execution.Name"},
	                  "MessageAttributes":{"kind":{"DataType":"String","StringValue":"order"}}},
	    "ResultSelector":{"id.$":"$.MessageId","md5.$":"$.MD5OfMessageBody"},"ResultPath":"$.sent","Next":"Text"},
	  "Text":{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage",
	    "Parameters":{"QueueUrl":%q,"MessageBody":"plain text"},"ResultPath":null,"Next":"Missing"},
	  "Missing":{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage",
	    "Parameters":{"QueueUrl":"%s/123456789012/nope","MessageBody":"x"},
	    "Catch":[{"ErrorEquals":["States.TaskFailed"],"ResultPath":"$.missing","Next":"Done"}],"End":true},
	  "Done":{"Type":"Succeed"}}}`, *q.QueueUrl, *q.QueueUrl, moto))
	x := waitDone(t, e, start(t, e, sm, "send-1", `{"order":"o-9"}`))
	if x.Status != "SUCCEEDED" {
		t.Fatalf("%s %s %s", x.Status, deref(x.Error), deref(x.Cause))
	}
	var out struct {
		Sent    struct{ ID, MD5 string }
		Missing struct{ Error, Cause string }
	}
	if err := json.Unmarshal([]byte(*x.Output), &out); err != nil {
		t.Fatal(err)
	}
	msgs, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10,
		MessageAttributeNames: []string{"All"}, WaitTimeSeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs.Messages) != 2 {
		t.Fatalf("received %d messages", len(msgs.Messages))
	}
	byBody := map[string]string{}
	for _, m := range msgs.Messages {
		byBody[aws.ToString(m.Body)] = aws.ToString(m.MessageId)
		if aws.ToString(m.Body) != "plain text" && aws.ToString(m.MessageAttributes["kind"].StringValue) != "order" {
			t.Errorf("attributes %v", m.MessageAttributes)
		}
	}
	const wantBody = `{"exec":"send-1","order":"o-9"}`
	sum := md5.Sum([]byte(wantBody))
	if byBody[wantBody] != out.Sent.ID || out.Sent.MD5 != hex.EncodeToString(sum[:]) {
		t.Errorf("bodies %v, result %+v", byBody, out.Sent)
	}
	if _, ok := byBody["plain text"]; !ok {
		t.Errorf("string MessageBody not sent as is: %v", byBody)
	}
	if len(out.Missing.Error) < 5 || out.Missing.Error[:4] != "SQS." {
		t.Errorf("missing queue error %+v", out.Missing)
	}
}
