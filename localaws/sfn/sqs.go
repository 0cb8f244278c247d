package sfn

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/localaws/asl"
)

func (e *Executor) sqsClient() (*sqs.Client, error) {
	e.sqsOnce.Do(func() {
		switch {
		case e.opts.SQSClient != nil:
			e.sqs = e.opts.SQSClient
		case e.opts.SQSEndpoint == "":
			e.sqsError = errors.New("no SQS endpoint configured (sfn.Options.SQSEndpoint)")
		default:
			e.sqs = sqs.New(sqs.Options{
				Region:       e.opts.Region,
				BaseEndpoint: aws.String(e.opts.SQSEndpoint),
				Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
			})
		}
	})
	return e.sqs, e.sqsError
}

type sqsAttribute struct {
	DataType    string `json:"DataType"`
	StringValue string `json:"StringValue"`
	BinaryValue string `json:"BinaryValue"`
}

// sqsSend implements arn:aws:states:::sqs:sendMessage. MessageBody may be a
// string or any JSON value (serialised, as AWS does). SQS errors fail the
// task with "SQS.<ErrorCode>".
func (e *Executor) sqsSend(ctx context.Context, input json.RawMessage) (json.RawMessage, error) {
	var p struct {
		QueueUrl               string                  `json:"QueueUrl"`
		MessageBody            json.RawMessage         `json:"MessageBody"`
		DelaySeconds           int32                   `json:"DelaySeconds"`
		MessageAttributes      map[string]sqsAttribute `json:"MessageAttributes"`
		MessageGroupId         string                  `json:"MessageGroupId"`
		MessageDeduplicationId string                  `json:"MessageDeduplicationId"`
	}
	if err := json.Unmarshal(input, &p); err != nil || p.QueueUrl == "" || len(p.MessageBody) == 0 {
		return nil, &asl.TaskError{ErrorName: "SQS.InvalidParameterValue", Cause: "sqs:sendMessage needs Parameters.QueueUrl and Parameters.MessageBody"}
	}
	body := string(p.MessageBody)
	var s string
	if json.Unmarshal(p.MessageBody, &s) == nil {
		body = s
	}
	client, err := e.sqsClient()
	if err != nil {
		return nil, &asl.TaskError{ErrorName: "SQS.SdkClientException", Cause: err.Error()}
	}
	in := &sqs.SendMessageInput{QueueUrl: aws.String(p.QueueUrl), MessageBody: aws.String(body)}
	if p.DelaySeconds > 0 {
		in.DelaySeconds = p.DelaySeconds
	}
	if p.MessageGroupId != "" {
		in.MessageGroupId = aws.String(p.MessageGroupId)
	}
	if p.MessageDeduplicationId != "" {
		in.MessageDeduplicationId = aws.String(p.MessageDeduplicationId)
	}
	if len(p.MessageAttributes) > 0 {
		in.MessageAttributes = map[string]types.MessageAttributeValue{}
		for k, a := range p.MessageAttributes {
			v := types.MessageAttributeValue{DataType: aws.String(a.DataType)}
			if a.StringValue != "" {
				v.StringValue = aws.String(a.StringValue)
			}
			if a.BinaryValue != "" {
				b, err := base64.StdEncoding.DecodeString(a.BinaryValue)
				if err != nil {
					return nil, &asl.TaskError{ErrorName: "SQS.InvalidParameterValue", Cause: "BinaryValue must be base64"}
				}
				v.BinaryValue = b
			}
			in.MessageAttributes[k] = v
		}
	}
	if h := xrayHeader(ctx); h != "" {
		// As Step Functions does when the state machine traces with X-Ray.
		in.MessageSystemAttributes = map[string]types.MessageSystemAttributeValue{
			"AWSTraceHeader": {DataType: aws.String("String"), StringValue: aws.String(h)}}
	}
	out, err := client.SendMessage(ctx, in)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		code := "SdkClientException"
		var ae smithy.APIError
		if errors.As(err, &ae) {
			code = ae.ErrorCode()
		}
		return nil, &asl.TaskError{ErrorName: "SQS." + code, Cause: err.Error()}
	}
	res := sdkMetadata(uuid.NewString(), 0, nil)
	res["MessageId"] = aws.ToString(out.MessageId)
	res["MD5OfMessageBody"] = aws.ToString(out.MD5OfMessageBody)
	if out.MD5OfMessageAttributes != nil {
		res["MD5OfMessageAttributes"] = *out.MD5OfMessageAttributes
	}
	if out.SequenceNumber != nil {
		res["SequenceNumber"] = *out.SequenceNumber
	}
	b, err := json.Marshal(res)
	if err != nil {
		return nil, fmt.Errorf("sfn: encode sqs result: %w", err)
	}
	return b, nil
}
