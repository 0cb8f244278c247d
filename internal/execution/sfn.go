// Package execution starts the checkout saga's executions on AWS Step Functions
// (or anything speaking its API: the local executor, moto_server).
package execution

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/checkout"
)

// SFNClient is the part of the Step Functions client SFN uses.
type SFNClient interface {
	StartExecution(ctx context.Context, in *sfn.StartExecutionInput, opts ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error)
	SendTaskSuccess(ctx context.Context, in *sfn.SendTaskSuccessInput, opts ...func(*sfn.Options)) (*sfn.SendTaskSuccessOutput, error)
	SendTaskFailure(ctx context.Context, in *sfn.SendTaskFailureInput, opts ...func(*sfn.Options)) (*sfn.SendTaskFailureOutput, error)
	DescribeExecution(ctx context.Context, in *sfn.DescribeExecutionInput, opts ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error)
}

// CodeStartThrottled is the apperr code of a StartExecution refused by the
// account's quota (ThrottlingException).
const CodeStartThrottled = checkout.CodeStartThrottled

// SFN starts executions with AWS Step Functions (or anything speaking its
// API: the local executor, moto_server).
type SFN struct {
	Client          SFNClient
	StateMachineARN string
}

// Start calls StartExecution. AWS answers a repeated name with the same
// input with the original execution; ExecutionAlreadyExists (same name,
// other input, or an execution that already ended) also means the checkout
// already has its execution, whose ARN follows from the state machine's.
func (s SFN) Start(ctx context.Context, name string, input []byte) (string, error) {
	out, err := s.Client.StartExecution(ctx, &sfn.StartExecutionInput{
		StateMachineArn: aws.String(s.StateMachineARN),
		Name:            aws.String(name),
		Input:           aws.String(string(input)),
	})
	var exists *types.ExecutionAlreadyExists
	if errors.As(err, &exists) {
		return ExecutionARN(s.StateMachineARN, name), nil
	}
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorCode() == "ThrottlingException" {
		// The account's StartExecution quota, after the SDK's own retries:
		// checkout.Starter defers the start instead of failing the buyer.
		return "", apperr.Wrap(apperr.Unavailable, CodeStartThrottled, err, "start execution %s: Step Functions is throttling StartExecution", name)
	}
	if err != nil {
		return "", fmt.Errorf("start execution %s: %w", name, err)
	}
	return aws.ToString(out.ExecutionArn), nil
}

// ExecutionARN is the ARN AWS gives execution name of stateMachineARN
// (arn:aws:states:REGION:ACCOUNT:execution:MACHINE:NAME).
func ExecutionARN(stateMachineARN, name string) string {
	return strings.Replace(stateMachineARN, ":stateMachine:", ":execution:", 1) + ":" + name
}

// Succeed completes the task waiting on taskToken with output
// (SendTaskSuccess). A token whose task already ended (timed out, or
// completed before) is apperr State.
func (s SFN) Succeed(ctx context.Context, taskToken string, output []byte) error {
	_, err := s.Client.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(taskToken), Output: aws.String(string(output))})
	return taskErr(err)
}

// Fail fails the task waiting on taskToken with errorName and cause
// (SendTaskFailure); see Succeed for a token whose task already ended.
func (s SFN) Fail(ctx context.Context, taskToken, errorName, cause string) error {
	_, err := s.Client.SendTaskFailure(ctx, &sfn.SendTaskFailureInput{TaskToken: aws.String(taskToken),
		Error: aws.String(errorName), Cause: aws.String(cause)})
	return taskErr(err)
}

// Running reports whether execution executionARN is still running (or
// waiting to be redriven); false when it ended or does not exist.
func (s SFN) Running(ctx context.Context, executionARN string) (bool, error) {
	out, err := s.Client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(executionARN)})
	var missing *types.ExecutionDoesNotExist
	if errors.As(err, &missing) {
		return false, nil
	}
	if err != nil {
		return false, apperr.Wrap(apperr.Transient, "transient", err, "describe execution %s", executionARN)
	}
	return out.Status == types.ExecutionStatusRunning || out.Status == types.ExecutionStatusPendingRedrive, nil
}

func taskErr(err error) error {
	if err == nil {
		return nil
	}
	var timedOut *types.TaskTimedOut
	var missing *types.TaskDoesNotExist
	var invalid *types.InvalidToken
	if errors.As(err, &timedOut) || errors.As(err, &missing) || errors.As(err, &invalid) {
		return &apperr.Error{Kind: apperr.State, Code: "task_already_done", Message: "the waiting task already ended", Err: err}
	}
	return apperr.Wrap(apperr.Transient, "transient", err, "complete the waiting task")
}
