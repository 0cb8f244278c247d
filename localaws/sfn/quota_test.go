package sfn

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/smithy-go"

	"github.com/checkout-dev/checkout/localaws/pgtest"
)

// TestStartExecutionQuota: StartExecution is a token bucket shared by every
// caller, as the account quota is ("Quotas related to API action
// throttling"): past the bucket the call is ThrottlingException (which the
// SDK's standard retryer treats as a throttle), other actions are not
// charged, and the bucket refills at its rate.
func TestStartExecutionQuota(t *testing.T) {
	t.Parallel()
	if q := DefaultAPIQuotas()["StartExecution"]; q.Burst != 1300 || q.Rate != 300 {
		t.Fatalf("default StartExecution quota %+v; want AWS's 1300 burst, 300/s", q)
	}
	pool := pgtest.NewPool(t)
	e := startExecutor(t, pool, Options{APIQuotas: map[string]APIQuota{"StartExecution": {Burst: 3, Rate: 2}}}, nil)
	srv := httptest.NewServer(e.Handler())
	t.Cleanup(srv.Close)
	c := sdkClient(srv.URL)
	noRetry := func(o *sdk.Options) { o.RetryMaxAttempts = 1 }
	ctx := context.Background()
	sm := register(t, e, "quota", `{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`)

	startOne := func(i int) error {
		_, err := c.StartExecution(ctx, &sdk.StartExecutionInput{StateMachineArn: aws.String(sm), Name: aws.String(fmt.Sprintf("x-%d-%d", i, time.Now().UnixNano()))}, noRetry)
		return err
	}
	for i := range 3 {
		if err := startOne(i); err != nil {
			t.Fatalf("start %d within the bucket: %v", i, err)
		}
	}
	err := startOne(3)
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ThrottlingException" {
		t.Fatalf("4th start: %v; want ThrottlingException", err)
	}
	// Other actions are not throttled by StartExecution's bucket.
	if _, err := c.ListStateMachines(ctx, &sdk.ListStateMachinesInput{}, noRetry); err != nil {
		t.Fatalf("ListStateMachines while StartExecution is throttled: %v", err)
	}
	// The bucket refills at 2 per second: one more start after 600 ms.
	if err := startOne(4); err == nil {
		t.Fatal("a 5th immediate start passed an empty bucket")
	}
	time.Sleep(600 * time.Millisecond)
	if err := startOne(5); err != nil {
		t.Fatalf("a start after the refill: %v", err)
	}
}
