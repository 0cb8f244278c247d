package api

import (
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/checkout-dev/checkout/internal/auth"
)

// TestExpiredTokenRefusedDespiteACachedAllow: API Gateway may serve a
// cached Allow for the authorizer's TTL after the token's exp; the API
// refuses the request itself.
func TestExpiredTokenRefusedDespiteACachedAllow(t *testing.T) {
	t.Parallel()
	h := New(Deps{})
	past := time.Now().Add(-2 * time.Minute).Unix()
	for name, exp := range map[string]any{
		"exp as a string (API Gateway)": strconv.FormatInt(past, 10),
		"exp as a number (local front)": float64(past),
		"exp as an int64":               past,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			req := newReq("GET", "/v1/orders/0b9c3f1e-8a4d-4c2b-9f57-3f1d2c5e6a7b", func(r *events.APIGatewayProxyRequest) {
				r.RequestContext.Authorizer = map[string]any{"principalId": "alice", "sub": "alice", "scope": "", "exp": exp}
			})
			resp := do(t, h, req)
			if resp.StatusCode != 401 || resp.Headers["WWW-Authenticate"] == "" {
				t.Fatalf("%d %v %s; want 401 with WWW-Authenticate", resp.StatusCode, resp.Headers, resp.Body)
			}
		})
	}
	// Within the leeway it still passes the check (and reaches the route:
	// the id is malformed, so 400 proves the token check let it through).
	recent := time.Now().Add(-TokenLeeway / 2).Unix()
	resp := do(t, h, newReq("GET", "/v1/orders/not-an-id", func(r *events.APIGatewayProxyRequest) {
		r.RequestContext.Authorizer = map[string]any{"principalId": "alice", "sub": "alice", "scope": "", "exp": float64(recent)}
	}))
	if resp.StatusCode != 400 {
		t.Fatalf("token within the leeway: %d %s; want it through to the route (400)", resp.StatusCode, resp.Body)
	}
}

func TestTokenLeewayMatchesTheAuthorizer(t *testing.T) {
	t.Parallel()
	if TokenLeeway != auth.DefaultLeeway {
		t.Fatalf("api.TokenLeeway %s, auth.DefaultLeeway %s: the API and the authorizer must agree", TokenLeeway, auth.DefaultLeeway)
	}
}
