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
)

// SFNClient is the part of the Step Functions client SFN uses.
type SFNClient interface {
	StartExecution(ctx context.Context, in *sfn.StartExecutionInput, opts ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error)
}

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
