package sfn

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sdk "github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/checkout-dev/checkout/localaws/pgtest"
)

func sdkClient(url string) *sdk.Client {
	return sdk.New(sdk.Options{Region: "us-east-1", BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")})
}

func TestSDKClient(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	box := &tokenBox{}
	e := startExecutor(t, pool, Options{}, func(e *Executor) { e.RegisterFunction("notify", box.handler()) })
	srv := httptest.NewServer(e.Handler())
	t.Cleanup(srv.Close)
	c := sdkClient(srv.URL)
	ctx := context.Background()

	created, err := c.CreateStateMachine(ctx, &sdk.CreateStateMachineInput{Name: aws.String("api"),
		Definition: aws.String(tokenDef), RoleArn: aws.String("arn:aws:iam::123456789012:role/x")})
	if err != nil {
		t.Fatal(err)
	}
	sm := aws.ToString(created.StateMachineArn)
	if sm != "arn:aws:states:us-east-1:123456789012:stateMachine:api" {
		t.Fatalf("arn %s", sm)
	}
	desc, err := c.DescribeStateMachine(ctx, &sdk.DescribeStateMachineInput{StateMachineArn: &sm})
	if err != nil || aws.ToString(desc.Definition) != tokenDef || desc.Status != types.StateMachineStatusActive {
		t.Fatalf("describe state machine: %v %+v", err, desc)
	}

	first, err := c.StartExecution(ctx, &sdk.StartExecutionInput{StateMachineArn: &sm, Name: aws.String("idem"), Input: aws.String(`{"n":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.StartExecution(ctx, &sdk.StartExecutionInput{StateMachineArn: &sm, Name: aws.String("idem"), Input: aws.String(`{"n":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(again.ExecutionArn) != aws.ToString(first.ExecutionArn) || !again.StartDate.Equal(*first.StartDate) {
		t.Errorf("idempotent start: %v %v vs %v %v", *again.ExecutionArn, again.StartDate, *first.ExecutionArn, first.StartDate)
	}
	_, err = c.StartExecution(ctx, &sdk.StartExecutionInput{StateMachineArn: &sm, Name: aws.String("idem"), Input: aws.String(`{"n":2}`)})
	var exists *types.ExecutionAlreadyExists
	if !errors.As(err, &exists) {
		t.Fatalf("want ExecutionAlreadyExists, got %v", err)
	}
	for _, tc := range []struct {
		in   *sdk.StartExecutionInput
		want string
	}{
		{&sdk.StartExecutionInput{StateMachineArn: aws.String(sm + "x")}, "StateMachineDoesNotExist"},
		{&sdk.StartExecutionInput{StateMachineArn: aws.String("nope")}, "InvalidArn"},
		{&sdk.StartExecutionInput{StateMachineArn: &sm, Name: aws.String("bad name")}, "InvalidName"},
		{&sdk.StartExecutionInput{StateMachineArn: &sm, Input: aws.String("{")}, "InvalidExecutionInput"},
	} {
		if _, err := c.StartExecution(ctx, tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want %s, got %v", tc.want, err)
		}
	}

	// the first execution is parked on its token; answer it through the API
	arn := aws.ToString(first.ExecutionArn)
	tok := box.last(t)
	if _, err := c.SendTaskSuccess(ctx, &sdk.SendTaskSuccessInput{TaskToken: &tok, Output: aws.String(`{"ok":1}`)}); err != nil {
		t.Fatal(err)
	}
	waitDone(t, e, arn)
	x, err := c.DescribeExecution(ctx, &sdk.DescribeExecutionInput{ExecutionArn: &arn})
	if err != nil {
		t.Fatal(err)
	}
	if x.Status != types.ExecutionStatusSucceeded || aws.ToString(x.Output) != `{"answer":{"ok":1},"n":1}` ||
		aws.ToString(x.Name) != "idem" || x.StopDate == nil || x.StartDate.After(*x.StopDate) {
		t.Fatalf("describe: %+v", x)
	}
	if _, err := c.SendTaskSuccess(ctx, &sdk.SendTaskSuccessInput{TaskToken: &tok, Output: aws.String(`{}`)}); err == nil {
		t.Fatal("second SendTaskSuccess accepted")
	} else {
		var tto *types.TaskTimedOut
		if !errors.As(err, &tto) {
			t.Fatalf("want TaskTimedOut, got %v", err)
		}
	}

	// history: full, reversed, and paged
	full, err := c.GetExecutionHistory(ctx, &sdk.GetExecutionHistoryInput{ExecutionArn: &arn})
	if err != nil {
		t.Fatal(err)
	}
	n := len(full.Events)
	if n < 6 || full.Events[0].Type != types.HistoryEventTypeExecutionStarted || full.Events[n-1].Type != types.HistoryEventTypeExecutionSucceeded {
		t.Fatalf("history %+v", full.Events)
	}
	if d := full.Events[0].ExecutionStartedEventDetails; d == nil || aws.ToString(d.Input) != `{"n":1}` {
		t.Errorf("ExecutionStarted details %+v", d)
	}
	var sched *types.TaskScheduledEventDetails
	for _, ev := range full.Events {
		if ev.TaskScheduledEventDetails != nil {
			sched = ev.TaskScheduledEventDetails
		}
	}
	if sched == nil || aws.ToString(sched.ResourceType) != "lambda" || aws.ToString(sched.Resource) != "invoke.waitForTaskToken" ||
		aws.ToInt64(sched.HeartbeatInSeconds) != 60 {
		t.Errorf("TaskScheduled %+v", sched)
	}
	rev, err := c.GetExecutionHistory(ctx, &sdk.GetExecutionHistoryInput{ExecutionArn: &arn, ReverseOrder: true})
	if err != nil || rev.Events[0].Id != int64(n) || rev.Events[n-1].Id != 1 {
		t.Fatalf("reverse: %v", err)
	}
	var paged []types.HistoryEvent
	var next *string
	for {
		page, err := c.GetExecutionHistory(ctx, &sdk.GetExecutionHistoryInput{ExecutionArn: &arn, MaxResults: 2, NextToken: next})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Events) > 2 {
			t.Fatalf("page of %d", len(page.Events))
		}
		paged = append(paged, page.Events...)
		if next = page.NextToken; next == nil {
			break
		}
	}
	if len(paged) != n || paged[n-1].Id != int64(n) {
		t.Errorf("paged %d events, want %d", len(paged), n)
	}

	// StopExecution on a parked execution
	parked, err := c.StartExecution(ctx, &sdk.StartExecutionInput{StateMachineArn: &sm, Name: aws.String("stopme")})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "parked", func() bool {
		h, _ := c.GetExecutionHistory(ctx, &sdk.GetExecutionHistoryInput{ExecutionArn: parked.ExecutionArn})
		return h != nil && len(h.Events) >= 3
	})
	stopped, err := c.StopExecution(ctx, &sdk.StopExecutionInput{ExecutionArn: parked.ExecutionArn, Error: aws.String("Cancelled"), Cause: aws.String("by test")})
	if err != nil || stopped.StopDate == nil {
		t.Fatalf("stop: %v", err)
	}
	sx, err := c.DescribeExecution(ctx, &sdk.DescribeExecutionInput{ExecutionArn: parked.ExecutionArn})
	if err != nil || sx.Status != types.ExecutionStatusAborted || aws.ToString(sx.Error) != "Cancelled" {
		t.Fatalf("after stop: %v %+v", err, sx)
	}
	time.Sleep(50 * time.Millisecond) // the aborted goroutine must not write anything more
	h, _ := c.GetExecutionHistory(ctx, &sdk.GetExecutionHistoryInput{ExecutionArn: parked.ExecutionArn, ReverseOrder: true})
	if h.Events[0].Type != types.HistoryEventTypeExecutionAborted {
		t.Errorf("last event %s", h.Events[0].Type)
	}

	// ListExecutions with statusFilter
	list, err := c.ListExecutions(ctx, &sdk.ListExecutionsInput{StateMachineArn: &sm, StatusFilter: types.ExecutionStatusAborted})
	if err != nil || len(list.Executions) != 1 || aws.ToString(list.Executions[0].Name) != "stopme" {
		t.Fatalf("list: %v %+v", err, list)
	}
	all, err := c.ListExecutions(ctx, &sdk.ListExecutionsInput{StateMachineArn: &sm})
	if err != nil || len(all.Executions) != 2 {
		t.Fatalf("list all: %v", err)
	}
	sms, err := c.ListStateMachines(ctx, &sdk.ListStateMachinesInput{})
	if err != nil || len(sms.StateMachines) != 1 {
		t.Fatalf("list machines: %v", err)
	}

	// errors
	missing := "arn:aws:states:us-east-1:123456789012:execution:api:missing"
	_, err = c.DescribeExecution(ctx, &sdk.DescribeExecutionInput{ExecutionArn: &missing})
	var dne *types.ExecutionDoesNotExist
	if !errors.As(err, &dne) {
		t.Errorf("want ExecutionDoesNotExist, got %v", err)
	}
	_, err = c.DescribeExecution(ctx, &sdk.DescribeExecutionInput{ExecutionArn: aws.String("arn:bad")})
	var inv *types.InvalidArn
	if !errors.As(err, &inv) {
		t.Errorf("want InvalidArn, got %v", err)
	}
	_, err = c.SendTaskSuccess(ctx, &sdk.SendTaskSuccessInput{TaskToken: aws.String("x"), Output: aws.String("{}")})
	var badTok *types.InvalidToken
	if !errors.As(err, &badTok) {
		t.Errorf("want InvalidToken, got %v", err)
	}
}

// The AWS CLI v1 drives the endpoint as users do.
func TestAWSCLI(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("aws"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("aws CLI missing in CI")
		}
		t.Skip("aws CLI not installed")
	}
	pool := pgtest.NewPool(t)
	e := startExecutor(t, pool, Options{}, nil)
	sm := register(t, e, "cli", `{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"doubled.$":"States.MathAdd($.n, $.n)"},"End":true}}}`)
	srv := httptest.NewServer(e.Handler())
	t.Cleanup(srv.Close)
	cli := func(args ...string) map[string]any {
		t.Helper()
		cmd := exec.Command("aws", append([]string{"--endpoint-url", srv.URL, "--output", "json", "stepfunctions"}, args...)...)
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=x", "AWS_SECRET_ACCESS_KEY=x", "AWS_DEFAULT_REGION=us-east-1",
			"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("aws %v: %v\n%s", args, err, out)
		}
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("aws output %s: %v", out, err)
		}
		return m
	}
	started := cli("start-execution", "--state-machine-arn", sm, "--name", "from-cli", "--input", `{"n":21}`)
	arn, _ := started["executionArn"].(string)
	if arn != "arn:aws:states:us-east-1:123456789012:execution:cli:from-cli" {
		t.Fatalf("start-execution: %v", started)
	}
	waitDone(t, e, arn)
	desc := cli("describe-execution", "--execution-arn", arn)
	if desc["status"] != "SUCCEEDED" || desc["output"] != `{"doubled":42}` || desc["name"] != "from-cli" {
		t.Fatalf("describe-execution: %v", desc)
	}
}
