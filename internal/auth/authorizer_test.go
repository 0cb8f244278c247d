package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/golang-jwt/jwt/v5"
)

const testMethodArn = "arn:aws:execute-api:eu-west-1:123456789012:abc123def4/prod/POST/v1/checkouts"

// syncBuffer collects log output from concurrent handlers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newTestAuthorizer(t *testing.T, usageKey string) (*Authorizer, *syncBuffer) {
	t.Helper()
	v := newTestVerifier(t, Config{Secret: []byte(testSecret)}, newClock(), nil)
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return NewAuthorizer(v, usageKey, log), logs
}

func TestAuthorizerAllow(t *testing.T) {
	t.Parallel()
	secret := []byte(testSecret)
	tests := []struct {
		name      string
		header    string
		usageKey  string
		wantSub   string
		wantScope string
	}{
		{name: "admin with usage key", usageKey: "dev-usage-key-1",
			header:  "Bearer " + signHS(t, jwt.SigningMethodHS256, secret, with(claimsOK(), "sub", "admin-7", "scope", "admin orders:read")),
			wantSub: "admin-7", wantScope: "admin orders:read"},
		{name: "user without usage key",
			header:  "Bearer " + signHS(t, jwt.SigningMethodHS256, secret, claimsOK()),
			wantSub: "user-1", wantScope: ""},
		{name: "lowercase scheme",
			header:  "bearer " + signHS(t, jwt.SigningMethodHS256, secret, with(claimsOK(), "scope", "a b")),
			wantSub: "user-1", wantScope: "a b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, logs := newTestAuthorizer(t, tc.usageKey)
			resp, err := a.Handle(context.Background(), events.APIGatewayCustomAuthorizerRequest{
				Type: "TOKEN", AuthorizationToken: tc.header, MethodArn: testMethodArn,
			})
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			// Check the JSON API Gateway receives, not just the Go struct.
			raw, err := json.Marshal(resp)
			if err != nil {
				t.Fatal(err)
			}
			var wire struct {
				PrincipalID    string `json:"principalId"`
				PolicyDocument struct {
					Version   string
					Statement []struct {
						Action   []string
						Effect   string
						Resource []string
					}
				} `json:"policyDocument"`
				Context            map[string]any `json:"context"`
				UsageIdentifierKey *string        `json:"usageIdentifierKey"`
			}
			if err := json.Unmarshal(raw, &wire); err != nil {
				t.Fatal(err)
			}
			if wire.PrincipalID != tc.wantSub {
				t.Errorf("principalId = %q, want %q", wire.PrincipalID, tc.wantSub)
			}
			pd := wire.PolicyDocument
			if pd.Version != "2012-10-17" || len(pd.Statement) != 1 {
				t.Fatalf("policy = %s", raw)
			}
			st := pd.Statement[0]
			wantRes := "arn:aws:execute-api:eu-west-1:123456789012:abc123def4/prod/*"
			if st.Effect != "Allow" || len(st.Action) != 1 || st.Action[0] != "execute-api:Invoke" ||
				len(st.Resource) != 1 || st.Resource[0] != wantRes {
				t.Errorf("statement = %+v, want Allow execute-api:Invoke on %s", st, wantRes)
			}
			if wire.Context["sub"] != tc.wantSub || wire.Context["scope"] != tc.wantScope || len(wire.Context) != 3 {
				t.Errorf("context = %v", wire.Context)
			}
			// exp travels with the cached Allow, as a number of seconds.
			if exp, ok := wire.Context["exp"].(float64); !ok || int64(exp) != unix(time.Hour) && int64(exp) != unix(time.Hour)-1 {
				t.Errorf("context exp = %v; want the token's exp %d", wire.Context["exp"], unix(time.Hour))
			}
			switch {
			case tc.usageKey == "" && wire.UsageIdentifierKey != nil:
				t.Errorf("usageIdentifierKey present without a configured key: %s", raw)
			case tc.usageKey != "" && (wire.UsageIdentifierKey == nil || *wire.UsageIdentifierKey != tc.usageKey):
				t.Errorf("usageIdentifierKey = %v, want %q", wire.UsageIdentifierKey, tc.usageKey)
			}
			token, _ := BearerToken(tc.header)
			if strings.Contains(logs.String(), token) {
				t.Error("logs contain the token")
			}
		})
	}
}

func TestAuthorizerDeny(t *testing.T) {
	t.Parallel()
	secret := []byte(testSecret)
	good := signHS(t, jwt.SigningMethodHS256, secret, claimsOK())
	tests := []struct {
		name       string
		req        events.APIGatewayCustomAuthorizerRequest
		wantReason Reason // logged reason; "" when not a token problem
	}{
		{name: "no header", req: events.APIGatewayCustomAuthorizerRequest{Type: "TOKEN", MethodArn: testMethodArn}, wantReason: ReasonMissingToken},
		{name: "bare token without scheme", req: events.APIGatewayCustomAuthorizerRequest{Type: "TOKEN", AuthorizationToken: good, MethodArn: testMethodArn}, wantReason: ReasonMissingToken},
		{name: "basic scheme", req: events.APIGatewayCustomAuthorizerRequest{Type: "TOKEN", AuthorizationToken: "Basic dXNlcjpwYXNz", MethodArn: testMethodArn}, wantReason: ReasonMissingToken},
		{name: "bearer without token", req: events.APIGatewayCustomAuthorizerRequest{Type: "TOKEN", AuthorizationToken: "Bearer ", MethodArn: testMethodArn}, wantReason: ReasonMissingToken},
		{name: "expired", req: events.APIGatewayCustomAuthorizerRequest{Type: "TOKEN", MethodArn: testMethodArn,
			AuthorizationToken: "Bearer " + signHS(t, jwt.SigningMethodHS256, secret, with(claimsOK(), "exp", unix(-time.Hour)))}, wantReason: ReasonExpired},
		{name: "forged", req: events.APIGatewayCustomAuthorizerRequest{Type: "TOKEN", MethodArn: testMethodArn,
			AuthorizationToken: "Bearer " + signHS(t, jwt.SigningMethodHS256, []byte("not-the-secret-0123456789"), claimsOK())}, wantReason: ReasonBadSignature},
		{name: "alg none", req: events.APIGatewayCustomAuthorizerRequest{Type: "TOKEN", MethodArn: testMethodArn,
			AuthorizationToken: "Bearer " + signNone(t, claimsOK())}, wantReason: ReasonUnsupportedAlg},
		{name: "missing sub", req: events.APIGatewayCustomAuthorizerRequest{Type: "TOKEN", MethodArn: testMethodArn,
			AuthorizationToken: "Bearer " + signHS(t, jwt.SigningMethodHS256, secret, with(claimsOK(), "sub", nil))}, wantReason: ReasonMissingSub},
		{name: "missing exp", req: events.APIGatewayCustomAuthorizerRequest{Type: "TOKEN", MethodArn: testMethodArn,
			AuthorizationToken: "Bearer " + signHS(t, jwt.SigningMethodHS256, secret, with(claimsOK(), "exp", nil))}, wantReason: ReasonMissingExp},
		{name: "garbage", req: events.APIGatewayCustomAuthorizerRequest{Type: "TOKEN", MethodArn: testMethodArn,
			AuthorizationToken: "Bearer abc.def.ghi"}, wantReason: ReasonMalformed},
		{name: "bad methodArn", req: events.APIGatewayCustomAuthorizerRequest{Type: "TOKEN", MethodArn: "arn:aws:lambda:eu-west-1:1:function:x",
			AuthorizationToken: "Bearer " + good}},
		{name: "REQUEST type", req: events.APIGatewayCustomAuthorizerRequest{Type: "REQUEST", MethodArn: testMethodArn,
			AuthorizationToken: "Bearer " + good}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, logs := newTestAuthorizer(t, "usage-key")
			resp, err := a.Handle(context.Background(), tc.req)
			if err == nil {
				t.Fatalf("Handle allowed: %+v", resp)
			}
			if err != ErrUnauthorized || err.Error() != "Unauthorized" {
				t.Fatalf("err = %#v (%q), want exactly ErrUnauthorized", err, err.Error())
			}
			if resp.PrincipalID != "" || len(resp.PolicyDocument.Statement) != 0 || resp.UsageIdentifierKey != "" {
				t.Errorf("deny response carries data: %+v", resp)
			}
			out := logs.String()
			if tc.wantReason != "" && !strings.Contains(out, `"reason":"`+string(tc.wantReason)+`"`) {
				t.Errorf("log lacks reason %s: %s", tc.wantReason, out)
			}
			if token, ok := BearerToken(tc.req.AuthorizationToken); ok && strings.Contains(out, token) {
				t.Errorf("logs contain the token: %s", out)
			}
			if strings.Contains(out, good) {
				t.Errorf("logs contain the token: %s", out)
			}
		})
	}
}

// The authorizer over RS256 with a real JWKS, as deployed.
func TestAuthorizerRS256(t *testing.T) {
	t.Parallel()
	keys := testRSAKeys(t)
	js := newJWKSServer(t)
	js.set([]string{"prod-1"}, keys[0])
	v := newTestVerifier(t, Config{Issuer: "https://idp.example", Audience: "checkout"}, newClock(), js)
	a := NewAuthorizer(v, "", nil)
	claims := with(claimsOK(), "sub", "u-42", "iss", "https://idp.example", "aud", "checkout", "scope", "admin")
	resp, err := a.Handle(context.Background(), events.APIGatewayCustomAuthorizerRequest{
		Type: "TOKEN", MethodArn: testMethodArn,
		AuthorizationToken: "Bearer " + signRS(t, jwt.SigningMethodRS256, keys[0], "prod-1", claims),
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.PrincipalID != "u-42" || resp.Context["scope"] != "admin" {
		t.Errorf("resp = %+v", resp)
	}
	_, err = a.Handle(context.Background(), events.APIGatewayCustomAuthorizerRequest{
		Type: "TOKEN", MethodArn: testMethodArn,
		AuthorizationToken: "Bearer " + signRS(t, jwt.SigningMethodRS256, keys[0], "prod-1", with(claims, "aud", "other")),
	})
	if err != ErrUnauthorized {
		t.Errorf("wrong audience: err = %v, want ErrUnauthorized", err)
	}
}

func TestStageWildcardARN(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{in: testMethodArn, want: "arn:aws:execute-api:eu-west-1:123456789012:abc123def4/prod/*"},
		{in: "arn:aws:execute-api:us-east-1:1:api/dev/GET/", want: "arn:aws:execute-api:us-east-1:1:api/dev/*"},
		{in: "arn:aws-cn:execute-api:cn-north-1:1:api/v1/GET/v1/products/a:b", want: "arn:aws-cn:execute-api:cn-north-1:1:api/v1/*"},
		{in: "arn:aws:execute-api:us-east-1:1:api/dev", want: "arn:aws:execute-api:us-east-1:1:api/dev/*"},
		{in: "arn:aws:execute-api:us-east-1:1:api", wantErr: true},
		{in: "arn:aws:execute-api:us-east-1:1:/dev/GET/x", wantErr: true},
		{in: "arn:aws:lambda:us-east-1:1:function:f", wantErr: true},
		{in: "arn:aws:execute-api::1:api/dev/GET/x", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := StageWildcardARN(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("StageWildcardARN(%q) = %q, %v; want %q, err %v", tc.in, got, err, tc.want, tc.wantErr)
			}
		})
	}
}
