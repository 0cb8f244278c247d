package apigw_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/checkout-dev/checkout/localaws/apigw"
	"github.com/checkout-dev/checkout/localaws/sam"
)

// TestFrontRefusesBeforeTheAuthorizer: requests without the API key or
// with oversized headers are answered without an authorizer call (so
// without an authorizer cache entry), 401s say how to authenticate, and
// the front's own errors can be read by a browser page.
func TestFrontRefusesBeforeTheAuthorizer(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	counting := func(ctx context.Context, req events.APIGatewayCustomAuthorizerRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
		calls.Add(1)
		return authorizer(ctx, req)
	}
	plain := func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		return events.APIGatewayProxyResponse{StatusCode: 200, Body: `{}`}, nil
	}
	f := apigw.New(apigw.Config{
		Api: &sam.Api{StageName: "dev", Authorizers: map[string]*sam.Authorizer{
			"Jwt": {Name: "Jwt", PayloadType: "TOKEN", FunctionID: "AuthFn", IdentityHeader: "Authorization", ResultTTL: time.Minute}}},
		Routes:      []sam.Route{{Method: "GET", Path: "/v1/checkouts/{id}", FunctionID: "ApiFn", Authorizer: "Jwt", ApiKeyRequired: true}},
		APIKeys:     []string{"key-1"},
		Functions:   map[string]apigw.ProxyFunc{"ApiFn": plain},
		Authorizers: map[string]apigw.AuthorizerFunc{"AuthFn": counting},
		Log:         slog.New(slog.DiscardHandler),
	})
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	get := func(tok, key, origin string) (*http.Response, string) {
		req, _ := http.NewRequest("GET", srv.URL+"/v1/checkouts/c1", nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		if key != "" {
			req.Header.Set("x-api-key", key)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	// No key, any token: 403 and the authorizer never runs.
	for i := range 50 {
		resp, body := get("forged-"+strings.Repeat("x", i), "", "")
		if resp.StatusCode != 403 || errorCode(t, body) != "forbidden" {
			t.Fatalf("no key: %d %s; want 403 forbidden", resp.StatusCode, body)
		}
	}
	// Headers over API Gateway's 10,240 bytes: 431 before the authorizer.
	resp, body := get(strings.Repeat("A", apigw.MaxHeaderBytes), "key-1", "")
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge || errorCode(t, body) != "request_header_fields_too_large" {
		t.Fatalf("huge token: %d %s; want 431", resp.StatusCode, body)
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("the authorizer ran %d times for requests the front should refuse first", n)
	}

	// A rejected token: 401 with WWW-Authenticate, readable cross-origin.
	resp, body = get("forged.token", "key-1", "https://shop.example.com")
	if resp.StatusCode != 401 || errorCode(t, body) != "unauthorized" {
		t.Fatalf("forged token: %d %s; want 401", resp.StatusCode, body)
	}
	if got := resp.Header.Get("WWW-Authenticate"); got != "Bearer" {
		t.Errorf("WWW-Authenticate %q; want Bearer", got)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "https://shop.example.com" {
		t.Errorf("front error Access-Control-Allow-Origin %q; want the origin echoed, as the template's GatewayResponses do", got)
	}
	// The function's own answer decides CORS: the front adds nothing.
	resp, _ = get(token(t, "alice", time.Hour), "key-1", "https://shop.example.com")
	if resp.StatusCode != 200 {
		t.Fatalf("good request: %d", resp.StatusCode)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("function answer got Access-Control-Allow-Origin %q from the front; want none", got)
	}
}
