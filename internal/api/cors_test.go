package api

import (
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

func TestCORS(t *testing.T) {
	t.Parallel()
	const shop = "https://shop.example.com"
	listed := New(Deps{CORS: CORS{Origins: []string{shop}}})
	anyOrigin := New(Deps{CORS: CORS{Origins: []string{"*"}}})
	off := New(Deps{})
	preflight := func(origin, method string) reqOpt {
		return func(r *events.APIGatewayProxyRequest) {
			r.Headers["Origin"] = origin
			r.Headers["Access-Control-Request-Method"] = method
			r.Headers["Access-Control-Request-Headers"] = "authorization, content-type, idempotency-key, x-api-key"
		}
	}
	cases := []struct {
		name        string
		h           *Handler
		req         events.APIGatewayProxyRequest
		status      int
		allowOrigin string
		allowMethod string
	}{
		{"preflight from the storefront", listed, newReq("OPTIONS", "/v1/checkouts", preflight(shop, "POST")), 204, shop, "POST"},
		{"preflight for a path with an id", listed, newReq("OPTIONS", "/v1/checkouts/0b9c3f1e-8a4d-4c2b-9f57-3f1d2c5e6a7b", preflight(shop, "GET")), 204, shop, "GET"},
		{"preflight with any origin allowed", anyOrigin, newReq("OPTIONS", "/v1/products/TEE-1", preflight("https://other.example", "GET")), 204, "*", "GET"},
		{"preflight from another origin", listed, newReq("OPTIONS", "/v1/checkouts", preflight("https://evil.example", "POST")), 403, "", ""},
		{"preflight for a method the path lacks", listed, newReq("OPTIONS", "/v1/checkouts", preflight(shop, "DELETE")), 403, shop, ""},
		{"preflight with CORS off", off, newReq("OPTIONS", "/v1/checkouts", preflight(shop, "POST")), 403, "", ""},
		{"preflight on an unknown path", listed, newReq("OPTIONS", "/v1/nope", preflight(shop, "GET")), 404, shop, ""},
		{"an error answer carries the origin", listed, newReq("GET", "/v1/orders/x", header("Origin", shop)), 401, shop, ""},
		{"another origin's answer does not", listed, newReq("GET", "/v1/orders/x", header("Origin", "https://evil.example")), 401, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp := do(t, tc.h, tc.req)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d %s; want %d", resp.StatusCode, resp.Body, tc.status)
			}
			if got := resp.Headers["Access-Control-Allow-Origin"]; got != tc.allowOrigin {
				t.Errorf("Access-Control-Allow-Origin %q; want %q", got, tc.allowOrigin)
			}
			if got := resp.Headers["Access-Control-Allow-Methods"]; got != tc.allowMethod {
				t.Errorf("Access-Control-Allow-Methods %q; want %q", got, tc.allowMethod)
			}
			if tc.status == 204 {
				if resp.Body != "" || resp.Headers["Access-Control-Allow-Headers"] == "" || resp.Headers["Access-Control-Max-Age"] == "" {
					t.Errorf("preflight answer %+v; want no body, the allowed headers and a max age", resp)
				}
			}
			if tc.h != off && resp.Headers["Vary"] != "Origin" {
				t.Errorf("Vary %q; want Origin (answers differ by origin)", resp.Headers["Vary"])
			}
		})
	}
}

func TestParseCORSOrigins(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][]string{
		"":  nil,
		"*": {"*"},
		"https://a.example, http://localhost:5173": {"https://a.example", "http://localhost:5173"},
		"https://a.example/":                       {"https://a.example"},
	} {
		c, err := ParseCORSOrigins(in)
		if err != nil || len(c.Origins) != len(want) {
			t.Errorf("%q: %v %v; want %v", in, c.Origins, err, want)
			continue
		}
		for i := range want {
			if c.Origins[i] != want[i] {
				t.Errorf("%q: %v; want %v", in, c.Origins, want)
			}
		}
	}
	for _, bad := range []string{"shop.example.com", "https://a.example/path", "ftp://a.example", "https://user@a.example"} {
		if _, err := ParseCORSOrigins(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
