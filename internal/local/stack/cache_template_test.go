package stack_test

import (
	"strings"
	"testing"
)

// TestRepoTemplateCache: the Redis layer runs on ElastiCache Serverless
// (TLS in transit and encryption at rest are always on there), in the
// private subnets, admitting the functions' security group only, and the
// functions reach it over TLS with the cluster protocol.
func TestRepoTemplateCache(t *testing.T) {
	t.Parallel()
	tpl := rawRepoTemplate(t)
	cache, ok := tpl.Path("Resources", "Cache")
	if ty, _ := cache.Get("Type"); !ok || ty.Scalar != "AWS::ElastiCache::ServerlessCache" {
		t.Fatalf("Resources.Cache = %s; want an AWS::ElastiCache::ServerlessCache", cache.String())
	}
	if sg, _ := cache.Path("Properties", "SecurityGroupIds"); !strings.Contains(sg.String(), "CacheSecurityGroup") {
		t.Errorf("cache security groups %s", sg.String())
	}
	ingress, _ := tpl.Path("Resources", "CacheSecurityGroup", "Properties", "SecurityGroupIngress")
	if len(ingress.Seq) != 1 {
		t.Fatalf("cache ingress %s; want one rule", ingress.String())
	}
	rule := ingress.Seq[0]
	if from, _ := rule.Get("SourceSecurityGroupId"); !strings.Contains(from.String(), "LambdaSecurityGroup") {
		t.Errorf("cache admits %s; want the functions' security group only", rule.String())
	}
	if _, cidr := rule.Get("CidrIp"); cidr {
		t.Errorf("cache ingress by CIDR: %s", rule.String())
	}
	url, _ := tpl.Path("Globals", "Function", "Environment", "Variables", "REDIS_URL")
	if !strings.Contains(url.String(), "rediss://") {
		t.Errorf("REDIS_URL = %s; want rediss:// (TLS)", url.String())
	}
	if c, _ := tpl.Path("Globals", "Function", "Environment", "Variables", "REDIS_CLUSTER"); !strings.Contains(c.String(), `"true"`) && !strings.Contains(c.String(), "true") {
		t.Errorf("REDIS_CLUSTER = %s; ElastiCache Serverless speaks the cluster protocol", c.String())
	}
}
