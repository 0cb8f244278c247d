package stack_test

import (
	"strings"
	"testing"
)

// TestRepoTemplateLogsExpire: every function logs to a log group of the
// stack's with a retention (Lambda's own groups never expire), and the API
// stage writes an access log to one too.
func TestRepoTemplateLogsExpire(t *testing.T) {
	t.Parallel()
	tpl := rawRepoTemplate(t)
	resources, _ := tpl.Get("Resources")
	functions := 0
	for _, kv := range resources.Map {
		if ty, _ := kv.Value.Get("Type"); ty.Scalar != "AWS::Serverless::Function" {
			continue
		}
		functions++
		group, ok := kv.Value.Path("Properties", "LoggingConfig", "LogGroup")
		name, isRef := group.Ref()
		if !ok || !isRef {
			t.Errorf("%s: LoggingConfig.LogGroup = %s; want !Ref to a log group of the stack", kv.Key, group.String())
			continue
		}
		checkRetention(t, kv.Key, name)
	}
	if functions < 10 {
		t.Fatalf("%d functions found", functions)
	}
	dest, _ := tpl.Path("Resources", "CheckoutApi", "Properties", "AccessLogSetting", "DestinationArn")
	if res, _, ok := dest.GetAtt(); !ok {
		t.Errorf("CheckoutApi access log destination %s; want !GetAtt <LogGroup>.Arn", dest.String())
	} else {
		checkRetention(t, "CheckoutApi access log", res)
	}
	if f, _ := tpl.Path("Resources", "CheckoutApi", "Properties", "AccessLogSetting", "Format"); !strings.Contains(f.Scalar, "$context.requestId") {
		t.Errorf("access log format %q", f.Scalar)
	}
}

func checkRetention(t *testing.T, who, group string) {
	t.Helper()
	tpl := rawRepoTemplate(t)
	ty, _ := tpl.Path("Resources", group, "Type")
	days, ok := tpl.Path("Resources", group, "Properties", "RetentionInDays")
	if ty.Scalar != "AWS::Logs::LogGroup" || !ok || days.IsNull() {
		t.Errorf("%s logs to %s (%s), retention %s; want an AWS::Logs::LogGroup with RetentionInDays", who, group, ty.Scalar, days.String())
	}
}
