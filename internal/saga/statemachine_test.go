package saga_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/checkout-dev/checkout/internal/payment"
	"github.com/checkout-dev/checkout/internal/saga"
)

const definitionFile = "../../statemachine/checkout.asl.json"

// placeholders are the ${...} names the template's DefinitionSubstitutions
// and the local runtime fill in.
var placeholders = []string{
	"AnalyticsQueueUrl", "AwaitAuthenticationFunctionArn", "CapturePaymentFunctionArn", "ChargePaymentFunctionArn", "CreateOrderFunctionArn", "ManualReviewQueueUrl",
	"MarkOutcomeFunctionArn", "NotificationQueueUrl", "RefundPaymentFunctionArn", "ReleaseStockFunctionArn",
	"ReserveStockFunctionArn", "ShippingQueueUrl",
}

// awsErrorNames are the errors Step Functions itself raises that the
// definition may match.
var awsErrorNames = []string{"States.ALL", "States.TaskFailed", "States.Timeout", "States.Runtime",
	"Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException", "Lambda.TooManyRequestsException",
	"Sandbox.Timedout", "Lambda.Unknown", "Runtime.ExitError"}

func TestDefinitionUsesOnlyKnownPlaceholders(t *testing.T) {
	raw, err := os.ReadFile(definitionFile)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, m := range regexp.MustCompile(`\$\{([^}]*)\}`).FindAllStringSubmatch(string(raw), -1) {
		seen[m[1]] = true
	}
	var used []string
	for name := range seen {
		used = append(used, name)
	}
	sort.Strings(used)
	if !slices.Equal(used, placeholders) {
		t.Fatalf("placeholders used %v; want exactly %v", used, placeholders)
	}
}

func TestDefinitionMatchesOnlyErrorsThatExist(t *testing.T) {
	raw, err := os.ReadFile(definitionFile)
	if err != nil {
		t.Fatal(err)
	}
	var def any
	if err := json.Unmarshal(raw, &def); err != nil {
		t.Fatal(err)
	}
	known := append(append([]string{}, saga.ErrorNames...), awsErrorNames...)
	var names []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, child := range v {
				if k == "ErrorEquals" {
					for _, n := range child.([]any) {
						names = append(names, n.(string))
					}
				}
				walk(child)
			}
		case []any:
			for _, child := range v {
				walk(child)
			}
		}
	}
	walk(def)
	if len(names) == 0 {
		t.Fatal("no ErrorEquals found; is the definition empty?")
	}
	for _, n := range names {
		if !slices.Contains(known, n) {
			t.Errorf("the definition matches %q, which no handler returns and AWS does not raise", n)
		}
	}
	// Every error a forward step can return is handled somewhere.
	for _, n := range []string{"OutOfStock", "PaymentDeclined", "PaymentRequiresAction", "PaymentAuthenticationFailed", "PaymentGatewayUnavailable", "PaymentOutcomeUnknown", "Transient"} {
		if !slices.Contains(names, n) {
			t.Errorf("the definition never matches %q", n)
		}
	}
}

// TestDefinitionPassesASLValidator runs asl-validator 4.0.0 (npm) through
// tools/asl/validate.js. make test installs it; without it the test skips
// unless CI is set.
func TestDefinitionPassesASLValidator(t *testing.T) {
	script, _ := filepath.Abs("../../tools/asl/validate.js")
	if _, err := os.Stat(filepath.Join(filepath.Dir(script), "node_modules", "asl-validator")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("asl-validator is not installed: run `make tools/asl/node_modules`")
		}
		t.Skip("asl-validator not installed (make test installs it)")
	}
	out, err := exec.Command("node", script, definitionFile).CombinedOutput()
	if err != nil {
		t.Fatalf("asl-validator: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "valid") {
		t.Fatalf("unexpected validator output: %s", out)
	}
}

// TestGatewayUnavailableRetriesOutlastTheBreakerCooldown: while the
// payment circuit breaker is open every payment step fails fast with
// PaymentGatewayUnavailable; the state machine must keep retrying for
// longer than the breaker's cooldown, or a short outage would fail (or
// send to manual review) checkouts that one probe later would complete.
func TestGatewayUnavailableRetriesOutlastTheBreakerCooldown(t *testing.T) {
	raw, err := os.ReadFile(definitionFile)
	if err != nil {
		t.Fatal(err)
	}
	type retrier struct {
		ErrorEquals     []string
		IntervalSeconds *float64
		BackoffRate     *float64
		MaxAttempts     *int
		MaxDelaySeconds *float64
		JitterStrategy  string
	}
	type state struct {
		Type     string
		Resource string
		Retry    []retrier
		Branches []struct{ States map[string]json.RawMessage }
	}
	var def struct{ States map[string]json.RawMessage }
	if err := json.Unmarshal(raw, &def); err != nil {
		t.Fatal(err)
	}
	cooldown := payment.DefaultBreakerCooldown.Seconds()
	checked := map[string]bool{}
	var walk func(states map[string]json.RawMessage)
	walk = func(states map[string]json.RawMessage) {
		for name, rs := range states {
			var s state
			if err := json.Unmarshal(rs, &s); err != nil {
				t.Fatal(err)
			}
			for _, b := range s.Branches {
				walk(b.States)
			}
			for _, r := range s.Retry {
				if !slices.Contains(r.ErrorEquals, "PaymentGatewayUnavailable") {
					continue
				}
				checked[name] = true
				interval, rate, attempts := 1.0, 2.0, 3
				if r.IntervalSeconds != nil {
					interval = *r.IntervalSeconds
				}
				if r.BackoffRate != nil {
					rate = *r.BackoffRate
				}
				if r.MaxAttempts != nil {
					attempts = *r.MaxAttempts
				}
				if r.JitterStrategy == "FULL" {
					t.Errorf("%s: PaymentGatewayUnavailable Retry has JitterStrategy FULL: its window could be ~0 s; want NONE", name)
				}
				window, d := 0.0, interval
				for range attempts {
					delay := d
					if r.MaxDelaySeconds != nil && delay > *r.MaxDelaySeconds {
						delay = *r.MaxDelaySeconds
					}
					window += delay
					d *= rate
				}
				if window <= cooldown {
					t.Errorf("%s: PaymentGatewayUnavailable retries span %.0f s; want more than the breaker cooldown %.0f s", name, window, cooldown)
				}
			}
		}
	}
	walk(def.States)
	for _, step := range []string{"ChargePayment", "CapturePayment", "RefundPayment"} {
		if !checked[step] {
			t.Errorf("%s has no Retry on PaymentGatewayUnavailable", step)
		}
	}
}
