package stack_test

import (
	"strings"
	"testing"

	"github.com/checkout-dev/checkout/localaws/apigw"
)

// TestRepoTemplateGatewayResponsesSpeakTheContract: the errors API Gateway
// answers itself (no Lambda runs) have the contract's status, code and
// headers: 403s are forbidden, an unknown path is 404 not_found (not API
// Gateway's "Missing Authentication Token" 403), a 401 says how to
// authenticate, and every one can be read by a browser page.
func TestRepoTemplateGatewayResponsesSpeakTheContract(t *testing.T) {
	t.Parallel()
	tpl := rawRepoTemplate(t)
	grs, ok := tpl.Path("Resources", "CheckoutApi", "Properties", "GatewayResponses")
	if !ok {
		t.Fatal("CheckoutApi has no GatewayResponses")
	}
	want := map[string]struct {
		status, code string
		headers      map[string]string
	}{
		"UNAUTHORIZED":                 {"401", "unauthorized", map[string]string{"WWW-Authenticate": "'Bearer'"}},
		"ACCESS_DENIED":                {"403", "forbidden", nil},
		"INVALID_API_KEY":              {"403", "forbidden", nil},
		"MISSING_AUTHENTICATION_TOKEN": {"404", "not_found", nil},
		"THROTTLED":                    {"429", "rate_limited", map[string]string{"Retry-After": "'1'"}},
		"QUOTA_EXCEEDED":               {"429", "rate_limited", nil},
		"REQUEST_TOO_LARGE":            {"413", "payload_too_large", nil},
		"DEFAULT_4XX":                  {"", "invalid_request", nil},
		"DEFAULT_5XX":                  {"", "internal_error", nil},
	}
	for typ, w := range want {
		gr, ok := grs.Get(typ)
		if !ok {
			t.Errorf("no GatewayResponses.%s", typ)
			continue
		}
		if st, _ := gr.Get("StatusCode"); st.Scalar != w.status && !(w.status == "" && st.IsNull()) {
			t.Errorf("%s: StatusCode %s; want %q", typ, st.String(), w.status)
		}
		body, _ := gr.Path("ResponseTemplates", "application/json")
		if !strings.Contains(body.Scalar, `"code":"`+w.code+`"`) {
			t.Errorf("%s: body %s; want code %q", typ, body.String(), w.code)
		}
		headers, _ := gr.Path("ResponseParameters", "Headers")
		if h, _ := headers.Get("Access-Control-Allow-Origin"); h.Scalar != "method.request.header.Origin" {
			t.Errorf("%s: Access-Control-Allow-Origin %q; want the request's Origin echoed", typ, h.String())
		}
		for k, v := range w.headers {
			if h, _ := headers.Get(k); h.Scalar != v {
				t.Errorf("%s: header %s = %q; want %q", typ, k, h.String(), v)
			}
		}
	}
}

// TestRepoTemplate429sNameTheRule: every 429 the deployed stack can answer
// says which rule refused it, in the same words as the local front
// (apigw.Rule*): the usage plan's throttle and quota, and each WAF rule.
func TestRepoTemplate429sNameTheRule(t *testing.T) {
	t.Parallel()
	tpl := rawRepoTemplate(t)
	for typ, rule := range map[string]string{"THROTTLED": apigw.RuleThrottle, "QUOTA_EXCEEDED": apigw.RuleQuota} {
		body, _ := tpl.Path("Resources", "CheckoutApi", "Properties", "GatewayResponses", typ, "ResponseTemplates", "application/json")
		if !strings.Contains(body.Scalar, `"rule":"`+rule+`"`) {
			t.Errorf("%s body %s; want details.rule %q", typ, body.Scalar, rule)
		}
	}
	acl, _ := tpl.Path("Resources", "ApiWebAcl", "Properties")
	bodies, _ := acl.Get("CustomResponseBodies")
	rules, _ := acl.Get("Rules")
	want := map[string]string{"RateLimitPerIp": apigw.RuleWAFIP, "RateLimitPerUser": apigw.RuleWAFUser}
	for _, r := range rules.Seq {
		name, _ := r.Get("Name")
		key, _ := r.Path("Action", "Block", "CustomResponse", "CustomResponseBodyKey")
		content, _ := bodies.Path(key.Scalar, "Content")
		if w, ok := want[name.Scalar]; !ok || !strings.Contains(content.Scalar, `"rule":"`+w+`"`) || !strings.Contains(content.Scalar, name.Scalar) {
			t.Errorf("WAF rule %s answers %s; want details.rule %q and the rule's name", name.Scalar, content.Scalar, want[name.Scalar])
		}
		delete(want, name.Scalar)
	}
	if len(want) != 0 {
		t.Errorf("WAF rules missing: %v", want)
	}
}
