package stack_test

import (
	"testing"

	"github.com/checkout-dev/checkout/localaws/sam"
)

// TestRepoTemplateReadReplicas: the stack's Aurora cluster gets
// DatabaseReaderCount readers behind the proxy's READ_ONLY endpoint, which
// only the API function reads (DATABASE_PROXY_READ_ENDPOINT); none with a
// count of 0; an existing database's read endpoint passes through.
func TestRepoTemplateReadReplicas(t *testing.T) {
	t.Parallel()
	tpl := loadRepoTemplate(t)
	cases := []struct {
		name          string
		params        map[string]string
		first, second bool   // CreateReader, CreateSecondReader
		endpoint      string // DATABASE_PROXY_READ_ENDPOINT as a literal ("" when absent or a reference)
		ref           string // ... as a reference to the proxy's read-only endpoint
	}{
		{"default: one reader", nil, true, false, "", "DatabaseProxyReadEndpoint"},
		{"two readers", map[string]string{"DatabaseReaderCount": "2"}, true, true, "", "DatabaseProxyReadEndpoint"},
		{"no reader", map[string]string{"DatabaseReaderCount": "0"}, false, false, "", ""},
		{"existing database without a read endpoint", map[string]string{"ExistingDatabaseSecretArn": "arn:aws:secretsmanager:us-east-1:000000000000:secret:db",
			"ExistingProxyEndpoint": "db.local"}, false, false, "", ""},
		{"existing database with its read endpoint", map[string]string{"ExistingDatabaseSecretArn": "arn:aws:secretsmanager:us-east-1:000000000000:secret:db",
			"ExistingProxyEndpoint": "db.local", "ExistingProxyReadEndpoint": "db-read.local"}, false, false, "db-read.local", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := tpl.Resolve(c.params)
			if err != nil {
				t.Fatal(err)
			}
			if r.Conditions["CreateReader"] != c.first || r.Conditions["CreateSecondReader"] != c.second {
				t.Errorf("CreateReader %v CreateSecondReader %v; want %v %v", r.Conditions["CreateReader"], r.Conditions["CreateSecondReader"], c.first, c.second)
			}
			env, refs := r.Functions["ApiFunction"].Env()
			if env["DATABASE_PROXY_READ_ENDPOINT"] != c.endpoint {
				t.Errorf("DATABASE_PROXY_READ_ENDPOINT = %q; want %q", env["DATABASE_PROXY_READ_ENDPOINT"], c.endpoint)
			}
			res, attr, isAtt := refs["DATABASE_PROXY_READ_ENDPOINT"].GetAtt()
			if got := map[bool]string{true: res}[isAtt]; got != c.ref || (isAtt && attr != "Endpoint") {
				t.Errorf("DATABASE_PROXY_READ_ENDPOINT = %s; want GetAtt %q.Endpoint", refs["DATABASE_PROXY_READ_ENDPOINT"], c.ref)
			}
			if env["DATABASE_READ_MAX_LAG"] != "1s" {
				t.Errorf("DATABASE_READ_MAX_LAG = %q; want the parameter's default 1s", env["DATABASE_READ_MAX_LAG"])
			}
			// Only the API reads replicas: the saga and the consumers write, or
			// read what they are about to write.
			for id, f := range r.Functions {
				if id == "ApiFunction" {
					continue
				}
				if env, refs := f.Env(); env["DATABASE_PROXY_READ_ENDPOINT"] != "" || !refs["DATABASE_PROXY_READ_ENDPOINT"].IsNull() {
					t.Errorf("%s gets a read endpoint", id)
				}
			}
		})
	}

	raw := rawRepoTemplate(t)
	str := func(path ...string) string {
		v, _ := raw.Path(path...)
		if v.Kind == sam.KindScalar {
			return v.Scalar
		}
		return v.String()
	}
	for path, want := range map[[3]string]string{
		{"DatabaseProxyReadEndpoint", "Type", ""}:                    "AWS::RDS::DBProxyEndpoint",
		{"DatabaseProxyReadEndpoint", "Condition", ""}:               "CreateReader",
		{"DatabaseProxyReadEndpoint", "Properties", "TargetRole"}:    "READ_ONLY",
		{"DatabaseProxyReadEndpoint", "Properties", "DBProxyName"}:   "!Ref DatabaseProxy",
		{"DatabaseReaderInstance1", "Condition", ""}:                 "CreateReader",
		{"DatabaseReaderInstance2", "Condition", ""}:                 "CreateSecondReader",
		{"DatabaseReaderInstance1", "Properties", "DBInstanceClass"}: "db.serverless",
	} {
		p := []string{"Resources", path[0], path[1]}
		if path[2] != "" {
			p = append(p, path[2])
		}
		if got := str(p...); got != want {
			t.Errorf("%v = %s; want %s", p, got, want)
		}
	}
	if sg := str("Resources", "DatabaseProxyReadEndpoint", "Properties", "VpcSecurityGroupIds"); sg != "[!Ref ProxySecurityGroup]" {
		t.Errorf("read endpoint security groups %s; want the proxy's (the functions may reach only it)", sg)
	}
}
