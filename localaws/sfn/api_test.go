package sfn

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/checkout-dev/checkout/localaws/pgtest"
)

// noHostPrefix keeps the SDK from sending StartSyncExecution to
// "sync-<host>" (the endpoint's host prefix), which a local address lacks.
func noHostPrefix(o *sdk.Options) {
	o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("noHostPrefix",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				return next.HandleInitialize(smithyhttp.DisableEndpointHostPrefix(ctx, true), in)
			}), middleware.Before)
	})
}

// TestAPISurface drives, through the AWS SDK, the actions of the Step
// Functions API Reference that developers reach for beyond the basics.
func TestAPISurface(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	var failOnce atomic.Bool
	failOnce.Store(true)
	e := startExecutor(t, pool, Options{}, func(e *Executor) {
		e.RegisterFunction("flaky", jsonHandler(func(in map[string]any) (any, error) {
			if failOnce.CompareAndSwap(true, false) {
				return nil, errors.New("first call fails")
			}
			return map[string]any{"ok": in["n"]}, nil
		}))
	})
	srv := httptest.NewServer(e.Handler())
	t.Cleanup(srv.Close)
	c := sdkClient(srv.URL)
	ctx := context.Background()
	const passDef = `{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"doubled.$":"States.MathAdd($.n, $.n)"},"End":true}}}`

	// CreateStateMachine with tags; TagResource, UntagResource,
	// ListTagsForResource (API Reference: "Tags are key-value pairs").
	created, err := c.CreateStateMachine(ctx, &sdk.CreateStateMachineInput{Name: aws.String("tagged"), Definition: aws.String(passDef),
		RoleArn: aws.String("arn:aws:iam::123456789012:role/r"), Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("checkout")}}})
	if err != nil {
		t.Fatal(err)
	}
	sm := created.StateMachineArn
	if _, err := c.TagResource(ctx, &sdk.TagResourceInput{ResourceArn: sm, Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("dev")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UntagResource(ctx, &sdk.UntagResourceInput{ResourceArn: sm, TagKeys: []string{"team"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := c.ListTagsForResource(ctx, &sdk.ListTagsForResourceInput{ResourceArn: sm})
	if err != nil || len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Key) != "env" || aws.ToString(tags.Tags[0].Value) != "dev" {
		t.Fatalf("tags: %v %+v", err, tags)
	}
	_, err = c.ListTagsForResource(ctx, &sdk.ListTagsForResourceInput{ResourceArn: aws.String(strings.Replace(*sm, "tagged", "nope", 1))})
	var notFound *types.ResourceNotFound
	if !errors.As(err, &notFound) {
		t.Errorf("tags of a missing machine: %v", err)
	}

	// UpdateStateMachine: a new definition, checked ("Running executions
	// will continue to use the previous definition").
	newDef := `{"StartAt":"P","States":{"P":{"Type":"Pass","Result":"updated","End":true}}}`
	if _, err := c.UpdateStateMachine(ctx, &sdk.UpdateStateMachineInput{StateMachineArn: sm, Definition: aws.String(newDef)}); err != nil {
		t.Fatal(err)
	}
	desc, err := c.DescribeStateMachine(ctx, &sdk.DescribeStateMachineInput{StateMachineArn: sm})
	if err != nil || aws.ToString(desc.Definition) != newDef {
		t.Fatalf("after update: %v %+v", err, desc)
	}
	_, err = c.UpdateStateMachine(ctx, &sdk.UpdateStateMachineInput{StateMachineArn: sm, Definition: aws.String(`{"StartAt":"X","States":{}}`)})
	var invalid *types.InvalidDefinition
	if !errors.As(err, &invalid) {
		t.Errorf("update with an invalid definition: %v", err)
	}

	// ValidateStateMachineDefinition: "result OK | FAIL" with diagnostics.
	ok, err := c.ValidateStateMachineDefinition(ctx, &sdk.ValidateStateMachineDefinitionInput{Definition: aws.String(passDef)})
	if err != nil || ok.Result != types.ValidateStateMachineDefinitionResultCodeOk || len(ok.Diagnostics) != 0 {
		t.Fatalf("validate OK: %v %+v", err, ok)
	}
	bad, err := c.ValidateStateMachineDefinition(ctx, &sdk.ValidateStateMachineDefinitionInput{
		Definition: aws.String(`{"StartAt":"P","States":{"P":{"Type":"Pass","End":true,"Resultt":1}}}`)})
	if err != nil || bad.Result != types.ValidateStateMachineDefinitionResultCodeFail || len(bad.Diagnostics) != 1 ||
		!strings.Contains(aws.ToString(bad.Diagnostics[0].Message), "Resultt") || aws.ToString(bad.Diagnostics[0].Location) != "/States/P" {
		t.Fatalf("validate FAIL: %v %+v", err, bad)
	}

	// StartSyncExecution: "Starts a Synchronous Express state machine
	// execution"; "not available for STANDARD workflows".
	expr, err := c.CreateStateMachine(ctx, &sdk.CreateStateMachineInput{Name: aws.String("fast"), Definition: aws.String(passDef),
		RoleArn: aws.String("arn:aws:iam::123456789012:role/r"), Type: types.StateMachineTypeExpress})
	if err != nil {
		t.Fatal(err)
	}
	syncOut, err := c.StartSyncExecution(ctx, &sdk.StartSyncExecutionInput{StateMachineArn: expr.StateMachineArn, Input: aws.String(`{"n":21}`)}, noHostPrefix)
	if err != nil || syncOut.Status != types.SyncExecutionStatusSucceeded || aws.ToString(syncOut.Output) != `{"doubled":42}` {
		t.Fatalf("StartSyncExecution: %v %+v", err, syncOut)
	}
	_, err = c.StartSyncExecution(ctx, &sdk.StartSyncExecutionInput{StateMachineArn: sm, Input: aws.String(`{}`)}, noHostPrefix)
	var notSupported *types.StateMachineTypeNotSupported
	if !errors.As(err, &notSupported) {
		t.Errorf("StartSyncExecution of a STANDARD machine: %v", err)
	}

	// RedriveExecution: "continues the failed execution from the
	// unsuccessful step and uses the same input"; a succeeded execution is
	// ExecutionNotRedrivable.
	flaky, err := c.CreateStateMachine(ctx, &sdk.CreateStateMachineInput{Name: aws.String("flaky"), RoleArn: aws.String("arn:aws:iam::123456789012:role/r"),
		Definition: aws.String(`{"StartAt":"First","States":{"First":{"Type":"Pass","Result":{"n":7},"Next":"Call"},
		  "Call":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:flaky","End":true}}}`)})
	if err != nil {
		t.Fatal(err)
	}
	run, err := c.StartExecution(ctx, &sdk.StartExecutionInput{StateMachineArn: flaky.StateMachineArn, Input: aws.String(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	if x := waitDone(t, e, *run.ExecutionArn); x.Status != "FAILED" || x.RedriveStatus != "REDRIVABLE" {
		t.Fatalf("first run: %+v", x)
	}
	if _, err := c.RedriveExecution(ctx, &sdk.RedriveExecutionInput{ExecutionArn: run.ExecutionArn}); err != nil {
		t.Fatal(err)
	}
	x := waitDone(t, e, *run.ExecutionArn)
	if x.Status != "SUCCEEDED" || x.Output == nil || *x.Output != `{"ok":7}` || x.RedriveCount != 1 {
		t.Fatalf("after the redrive: %+v", x)
	}
	if h := historyTypes(t, e, *run.ExecutionArn); count(h, "ExecutionRedriven") != 1 || count(h, "PassStateEntered") != 1 {
		t.Errorf("history after the redrive: %v", h)
	}
	_, err = c.RedriveExecution(ctx, &sdk.RedriveExecutionInput{ExecutionArn: run.ExecutionArn})
	var notRedrivable *types.ExecutionNotRedrivable
	if !errors.As(err, &notRedrivable) {
		t.Errorf("redrive of a succeeded execution: %v", err)
	}

	// DeleteStateMachine: the machine is gone (StateMachineDoesNotExist).
	if _, err := c.DeleteStateMachine(ctx, &sdk.DeleteStateMachineInput{StateMachineArn: flaky.StateMachineArn}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DescribeStateMachine(ctx, &sdk.DescribeStateMachineInput{StateMachineArn: flaky.StateMachineArn})
	var gone *types.StateMachineDoesNotExist
	if !errors.As(err, &gone) {
		t.Errorf("describe after delete: %v", err)
	}
}
