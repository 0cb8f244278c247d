package stack_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/checkout-dev/checkout/localaws/sam"
)

// TestRepoTemplateGatewayResponsesSpeakTheContract: the errors API Gateway
// answers itself (no Lambda runs) have the contract's status, code and
// headers: 403s are forbidden, an unknown path is 404 not_found (not API
// Gateway's "Missing Authentication Token" 403), a 401 says how to
// authenticate, and every one can be read by a browser page.
func TestRepoTemplateGatewayResponsesSpeakTheContract(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var tpl sam.Value
	if err := yaml.Unmarshal(raw, &tpl); err != nil {
		t.Fatal(err)
	}
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
