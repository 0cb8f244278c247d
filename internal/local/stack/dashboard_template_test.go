package stack_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/checkout-dev/checkout/localaws/sam"
)

// TestRepoTemplateDashboardAndQueueAlarms: the CloudWatch dashboard is
// valid JSON once CloudFormation substitutes it, shows the design's metrics
// and every queue, and every work queue (a queue with a dead-letter queue)
// has a depth alarm.
func TestRepoTemplateDashboardAndQueueAlarms(t *testing.T) {
	t.Parallel()
	tpl := rawRepoTemplate(t)
	body, ok := tpl.Path("Resources", "Dashboard", "Properties", "DashboardBody")
	if !ok || body.Kind != sam.KindIntrinsic {
		t.Fatalf("Dashboard.DashboardBody = %s; want a !Sub", body.String())
	}
	text := body.Fn.Arg.Scalar
	substituted := regexp.MustCompile(`\$\{[^}]+\}`).ReplaceAllString(text, "X")
	var dash struct {
		Widgets []struct {
			Properties struct {
				Title   string  `json:"title"`
				Metrics [][]any `json:"metrics"`
			} `json:"properties"`
		} `json:"widgets"`
	}
	if err := json.Unmarshal([]byte(substituted), &dash); err != nil {
		t.Fatalf("the dashboard body is not JSON after substitution: %v", err)
	}
	for _, want := range []string{"PaymentsFailed", "PaymentsAttempted", "CheckoutDuration", "CircuitBreakerOpen", "ExecutionsFailed", "5XXError", "Latency"} {
		if !strings.Contains(text, `"`+want+`"`) {
			t.Errorf("the dashboard does not show %s", want)
		}
	}
	resources, _ := tpl.Get("Resources")
	for _, kv := range resources.Map {
		if ty, _ := kv.Value.Get("Type"); ty.Scalar != "AWS::SQS::Queue" {
			continue
		}
		if !strings.Contains(text, "${"+kv.Key+".QueueName}") {
			t.Errorf("the dashboard does not show queue %s", kv.Key)
		}
		if _, work := kv.Value.Path("Properties", "RedrivePolicy"); !work {
			continue
		}
		alarm := strings.TrimSuffix(kv.Key, "Queue") + "QueueDepthAlarm"
		dim, ok := tpl.Path("Resources", alarm, "Properties", "Dimensions")
		if !ok || !strings.Contains(dim.String(), kv.Key) {
			t.Errorf("work queue %s has no depth alarm %s", kv.Key, alarm)
		}
	}
}
