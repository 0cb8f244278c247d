package stack_test

import (
	"strings"
	"testing"
)

// TestRepoTemplateLeastPrivilege: the template grants what the code uses
// and no more, where a review found otherwise.
func TestRepoTemplateLeastPrivilege(t *testing.T) {
	t.Parallel()
	tpl := rawRepoTemplate(t)
	str := func(path ...string) string {
		v, _ := tpl.Path(path...)
		return v.String()
	}
	// The public webhook verifies signatures: it needs the webhook secret,
	// not the Stripe API key, and sends to the payment-events queue only.
	webhook := str("Resources", "StripeWebhookFunction", "Properties")
	if strings.Contains(webhook, "StripeApiKeySecretArn") || strings.Contains(webhook, "ManualReviewQueue") {
		t.Errorf("the webhook function can read the Stripe API key or send to manual review:\n%s", webhook)
	}
	// The analytics sink only puts objects.
	analytics := str("Resources", "AnalyticsFunction", "Properties", "Policies")
	if strings.Contains(analytics, "S3WritePolicy") || strings.Contains(analytics, "PutObjectAcl") || strings.Contains(analytics, "PutLifecycleConfiguration") {
		t.Errorf("analytics may do more than PutObject:\n%s", analytics)
	}
	// PostgreSQL egress only to the database's security group.
	if eg := str("Resources", "LambdaSecurityGroup", "Properties", "SecurityGroupEgress"); strings.Contains(eg, "5432") {
		t.Errorf("the functions' group opens 5432 by CIDR:\n%s", eg)
	}
	if dest := str("Resources", "LambdaToDatabaseEgress", "Properties", "DestinationSecurityGroupId"); !strings.Contains(dest, "ProxySecurityGroup") {
		t.Errorf("5432 egress goes to %s; want the proxy's security group", dest)
	}
	// CloudWatch can publish to the alarm topic: not the AWS managed key.
	if k := str("Resources", "AlarmTopic", "Properties", "KmsMasterKeyId"); strings.Contains(k, "alias/aws/sns") || !strings.Contains(k, "AlarmTopicKey") {
		t.Errorf("AlarmTopic key %s; want the stack's own key", k)
	}
	if pol := str("Resources", "AlarmTopicKey", "Properties", "KeyPolicy"); !strings.Contains(pol, "cloudwatch.amazonaws.com") || !strings.Contains(pol, "kms:GenerateDataKey*") {
		t.Errorf("AlarmTopicKey policy does not let CloudWatch publish:\n%s", pol)
	}
	// Tokens for other apps are refused: issuer and audience are required.
	for _, p := range []string{"JwtIssuer", "JwtAudience"} {
		if _, hasDefault := tpl.Path("Parameters", p, "Default"); hasDefault {
			t.Errorf("parameter %s has a default; it must be given", p)
		}
		if pat := str("Parameters", p, "AllowedPattern"); !strings.Contains(pat, ".+") {
			t.Errorf("parameter %s accepts an empty value (AllowedPattern %s)", p, pat)
		}
	}
}
