package apigw_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/checkout-dev/checkout/localaws/apigw"
	"github.com/checkout-dev/checkout/localaws/sam"
)

const secret = "apigw-test-secret-0123456789"

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// front builds a Front like the template's: a user route behind the JWT
// authorizer and the API key, a public health route, and an echo function
// that returns the proxy event it got.
func front(t *testing.T, plan *sam.UsagePlan, rules []sam.RateRule) (*httptest.Server, *clock) {
	t.Helper()
	echo := func(_ context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		b, _ := json.Marshal(req)
		return events.APIGatewayProxyResponse{StatusCode: 200, Headers: map[string]string{"Content-Type": "application/json"}, Body: string(b)}, nil
	}
	binary := func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		return events.APIGatewayProxyResponse{StatusCode: 201, Body: base64.StdEncoding.EncodeToString([]byte{0, 1, 2}), IsBase64Encoded: true}, nil
	}
	clk := &clock{now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	api := &sam.Api{StageName: "dev", Authorizers: map[string]*sam.Authorizer{
		"Jwt": {Name: "Jwt", PayloadType: "TOKEN", FunctionID: "AuthFn", IdentityHeader: "Authorization", ResultTTL: time.Minute}},
		UsagePlan: plan}
	f := apigw.New(apigw.Config{
		Api: api,
		Routes: []sam.Route{
			{Method: "GET", Path: "/v1/checkouts/{id}", FunctionID: "ApiFn", Authorizer: "Jwt", ApiKeyRequired: true},
			{Method: "POST", Path: "/v1/checkouts", FunctionID: "ApiFn", Authorizer: "Jwt", ApiKeyRequired: true},
			{Method: "GET", Path: "/v1/health", FunctionID: "ApiFn"},
			{Method: "GET", Path: "/v1/blob", FunctionID: "BlobFn"},
			{Method: "GET", Path: "/v1/broken", FunctionID: "Missing"},
		},
		RateRules:   rules,
		APIKeys:     []string{"key-1"},
		Functions:   map[string]apigw.ProxyFunc{"ApiFn": echo, "BlobFn": binary},
		Authorizers: map[string]apigw.AuthorizerFunc{"AuthFn": authorizer},
		Now:         clk.Now,
		Log:         slog.New(slog.DiscardHandler),
	})
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return srv, clk
}

// token returns a signed token for sub that expires after ttl (a negative
// ttl: expired that long ago). Its format is this test's own:
// base64url("sub|unix expiry") "." base64url(HMAC-SHA256 of that).
func token(t *testing.T, sub string, ttl time.Duration) string {
	t.Helper()
	payload := sub + "|" + strconv.FormatInt(time.Now().Add(ttl).Unix(), 10)
	return b64(payload) + "." + b64(string(sign(payload)))
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func sign(payload string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// authorizer is a TOKEN authorizer for the tokens above, answering as a
// Lambda authorizer does: an error "Unauthorized" for a missing, forged or
// expired token, else an Allow policy on the method with the subject as
// principal.
func authorizer(_ context.Context, req events.APIGatewayCustomAuthorizerRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
	unauthorized := errors.New("Unauthorized")
	p, s, ok := strings.Cut(strings.TrimPrefix(req.AuthorizationToken, "Bearer "), ".")
	payload, err1 := base64.RawURLEncoding.DecodeString(p)
	mac, err2 := base64.RawURLEncoding.DecodeString(s)
	if !ok || err1 != nil || err2 != nil || !hmac.Equal(mac, sign(string(payload))) {
		return events.APIGatewayCustomAuthorizerResponse{}, unauthorized
	}
	sub, exp, _ := strings.Cut(string(payload), "|")
	if unix, err := strconv.ParseInt(exp, 10, 64); err != nil || time.Now().Unix() >= unix {
		return events.APIGatewayCustomAuthorizerResponse{}, unauthorized
	}
	return events.APIGatewayCustomAuthorizerResponse{
		PrincipalID: sub,
		PolicyDocument: events.APIGatewayCustomAuthorizerPolicy{Version: "2012-10-17", Statement: []events.IAMPolicyStatement{
			{Action: []string{"execute-api:Invoke"}, Effect: "Allow", Resource: []string{req.MethodArn}},
		}},
		Context: map[string]any{"sub": sub},
	}, nil
}

func do(t *testing.T, srv *httptest.Server, method, path, tok, key, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if key != "" {
		req.Header.Set("x-api-key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func errorCode(t *testing.T, body string) string {
	t.Helper()
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("not a JSON error: %s", body)
	}
	return e.Error.Code
}

// errorRule is details.rule of an error body.
func errorRule(t *testing.T, body string) string {
	t.Helper()
	var e struct {
		Error struct {
			Details map[string]any `json:"details"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("not a JSON error: %s", body)
	}
	s, _ := e.Error.Details["rule"].(string)
	return s
}

func TestPipeline(t *testing.T) {
	t.Parallel()
	srv, _ := front(t, nil, nil)
	good := token(t, "alice", time.Hour)
	forged := good[:len(good)-4] + "AAAA"
	cases := []struct {
		name, method, path, tok, key string
		status                       int
		code                         string
	}{
		{"unknown path", "GET", "/v1/nope", "", "", 404, "not_found"},
		{"wrong method", "DELETE", "/v1/health", "", "", 405, "method_not_allowed"},
		{"public route", "GET", "/v1/health", "", "", 200, ""},
		{"missing token", "GET", "/v1/checkouts/c1", "", "key-1", 401, "unauthorized"},
		{"forged token", "GET", "/v1/checkouts/c1", forged, "key-1", 401, "unauthorized"},
		{"expired token", "GET", "/v1/checkouts/c1", token(t, "alice", -time.Hour), "key-1", 401, "unauthorized"},
		{"missing API key", "GET", "/v1/checkouts/c1", good, "", 403, "forbidden"},
		{"wrong API key", "GET", "/v1/checkouts/c1", good, "key-2", 403, "forbidden"},
		{"all good", "GET", "/v1/checkouts/c1", good, "key-1", 200, ""},
		{"missing function", "GET", "/v1/broken", "", "", 502, "bad_gateway"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, srv, tc.method, tc.path, tc.tok, tc.key, "")
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d; want %d (%s)", resp.StatusCode, tc.status, body)
			}
			if tc.code != "" && errorCode(t, body) != tc.code {
				t.Fatalf("code %q; want %q", errorCode(t, body), tc.code)
			}
		})
	}
}

func TestProxyEventCarriesTheRequest(t *testing.T) {
	t.Parallel()
	srv, _ := front(t, nil, nil)
	resp, body := do(t, srv, "POST", "/v1/checkouts?x=1&x=2", token(t, "alice", time.Hour), "key-1", `{"a":1}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var ev events.APIGatewayProxyRequest
	if err := json.Unmarshal([]byte(body), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Resource != "/v1/checkouts" || ev.HTTPMethod != "POST" || ev.Body != `{"a":1}` ||
		ev.QueryStringParameters["x"] != "2" || len(ev.MultiValueQueryStringParameters["x"]) != 2 ||
		ev.RequestContext.Authorizer["principalId"] != "alice" || ev.RequestContext.Identity.APIKey != "key-1" ||
		ev.RequestContext.RequestID == "" || ev.RequestContext.Stage != "dev" {
		t.Fatalf("proxy event = %+v", ev)
	}
	_, body = do(t, srv, "GET", "/v1/checkouts/abc-123", token(t, "bob", time.Hour), "key-1", "")
	if err := json.Unmarshal([]byte(body), &ev); err != nil || ev.PathParameters["id"] != "abc-123" || ev.Resource != "/v1/checkouts/{id}" {
		t.Fatalf("path parameters = %v (resource %q)", ev.PathParameters, ev.Resource)
	}
	resp, body = do(t, srv, "GET", "/v1/blob", "", "", "")
	if resp.StatusCode != 201 || body != "\x00\x01\x02" {
		t.Fatalf("base64 response decoded to %q (status %d)", body, resp.StatusCode)
	}
}

func TestUsagePlanThrottleAndQuota(t *testing.T) {
	t.Parallel()
	srv, clk := front(t, &sam.UsagePlan{RateLimit: 1, BurstLimit: 3, QuotaLimit: 5, QuotaPeriod: "DAY"}, nil)
	tok := token(t, "alice", 48*time.Hour)
	for i := 0; i < 3; i++ { // the burst
		if resp, body := do(t, srv, "GET", "/v1/checkouts/c", tok, "key-1", ""); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
	}
	resp, body := do(t, srv, "GET", "/v1/checkouts/c", tok, "key-1", "")
	if resp.StatusCode != 429 || errorCode(t, body) != "rate_limited" || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("past the burst: %d %s Retry-After=%q; want 429 rate_limited 1", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	if rule := errorRule(t, body); rule != "usage_plan_throttle" {
		t.Fatalf("past the burst: rule %q; want usage_plan_throttle (%s)", rule, body)
	}
	clk.Add(2 * time.Second) // refills two tokens
	for i := 0; i < 2; i++ {
		if resp, _ := do(t, srv, "GET", "/v1/checkouts/c", tok, "key-1", ""); resp.StatusCode != 200 {
			t.Fatalf("after refill %d: %d", i, resp.StatusCode)
		}
	}
	clk.Add(10 * time.Second)
	resp, body = do(t, srv, "GET", "/v1/checkouts/c", tok, "key-1", "") // the 6th of the day
	if resp.StatusCode != 429 || !strings.Contains(body, "quota") || errorRule(t, body) != "usage_plan_quota" {
		t.Fatalf("past the quota: %d %s; want 429 naming usage_plan_quota", resp.StatusCode, body)
	}
	clk.Add(24 * time.Hour)
	if resp, body := do(t, srv, "GET", "/v1/checkouts/c", tok, "key-1", ""); resp.StatusCode != 200 {
		t.Fatalf("next day: %d %s", resp.StatusCode, body)
	}
}

func TestWAFRateRules(t *testing.T) {
	t.Parallel()
	rules := []sam.RateRule{
		{Name: "per-ip", Limit: 4, Window: time.Minute, AggregateKeyType: "IP", Action: "Block"},
		{Name: "per-user", Limit: 2, Window: time.Minute, AggregateKeyType: "CUSTOM_KEYS", Action: "Block"},
	}
	srv, clk := front(t, nil, rules)
	alice, bob := token(t, "alice", 48*time.Hour), token(t, "bob", 48*time.Hour)
	for i := 0; i < 2; i++ {
		if resp, _ := do(t, srv, "GET", "/v1/checkouts/c", alice, "key-1", ""); resp.StatusCode != 200 {
			t.Fatalf("alice %d: %d", i, resp.StatusCode)
		}
	}
	resp, body := do(t, srv, "GET", "/v1/checkouts/c", alice, "key-1", "")
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || errorRule(t, body) != "waf_user" || !strings.Contains(body, `"waf_rule":"per-user"`) {
		t.Fatalf("alice's 3rd: %d %s; want 429 with Retry-After naming waf_user and the rule per-user", resp.StatusCode, body)
	}
	if resp, _ := do(t, srv, "GET", "/v1/checkouts/c", bob, "key-1", ""); resp.StatusCode != 200 {
		t.Fatalf("4th from this IP (bob's 1st): %d; want 200", resp.StatusCode)
	}
	if resp, body := do(t, srv, "GET", "/v1/checkouts/c", bob, "key-1", ""); resp.StatusCode != 429 || errorRule(t, body) != "waf_ip" {
		t.Fatalf("5th from this IP: %d %s; want 429 naming waf_ip (per-IP rule)", resp.StatusCode, body)
	}
	clk.Add(time.Minute)
	if resp, _ := do(t, srv, "GET", "/v1/checkouts/c", bob, "key-1", ""); resp.StatusCode != 200 {
		t.Fatalf("after the window: %d; want 200", resp.StatusCode)
	}
}
