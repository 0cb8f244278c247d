package auth

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// Authorizer is the API Gateway TOKEN authorizer (REST API, token source
// header Authorization).
type Authorizer struct {
	verifier     *Verifier
	usagePlanKey string
	log          *slog.Logger
}

// NewAuthorizer returns an authorizer that verifies tokens with v. When
// usagePlanKey is non-empty it is returned as UsageIdentifierKey (API Gateway
// uses it only when the API's key source is AUTHORIZER). log may be nil.
func NewAuthorizer(v *Verifier, usagePlanKey string, log *slog.Logger) *Authorizer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Authorizer{verifier: v, usagePlanKey: usagePlanKey, log: log}
}

// Handle answers one authorizer call.
//
// For a valid "Bearer <jwt>" token it returns an IAM policy allowing
// execute-api:Invoke on every method and path of the calling stage
// ("arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/*"), so the policy API
// Gateway caches for this token works for every route; PrincipalID is the
// token's sub, and Context carries "sub", "scope" (space-separated) and
// "exp" (the token's expiry, Unix seconds).
//
// For anything else (no token, another scheme, a token Verify rejects, a
// methodArn that is not an execute-api ARN) it returns exactly
// ErrUnauthorized, whose message "Unauthorized" API Gateway maps to 401.
// The reason is logged; the token never is.
func (a *Authorizer) Handle(ctx context.Context, req events.APIGatewayCustomAuthorizerRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
	deny := events.APIGatewayCustomAuthorizerResponse{}
	if req.Type != "" && req.Type != "TOKEN" {
		a.log.WarnContext(ctx, "authorizer: unexpected request type", "type", req.Type)
		return deny, ErrUnauthorized
	}
	token, ok := BearerToken(req.AuthorizationToken)
	if !ok {
		a.log.InfoContext(ctx, "authorizer: token rejected", "reason", ReasonMissingToken)
		return deny, ErrUnauthorized
	}
	claims, err := a.verifier.Verify(ctx, token)
	if err != nil {
		level := slog.LevelInfo
		if ReasonOf(err) == ReasonKeysUnavailable {
			level = slog.LevelError
		}
		a.log.Log(ctx, level, "authorizer: token rejected", "reason", ReasonOf(err), "error", err.Error())
		return deny, ErrUnauthorized
	}
	resource, err := StageWildcardARN(req.MethodArn)
	if err != nil {
		a.log.ErrorContext(ctx, "authorizer: bad methodArn", "error", err.Error())
		return deny, ErrUnauthorized
	}
	a.log.DebugContext(ctx, "authorizer: allowed", "sub", claims.Subject)
	return events.APIGatewayCustomAuthorizerResponse{
		PrincipalID: claims.Subject,
		PolicyDocument: events.APIGatewayCustomAuthorizerPolicy{
			Version: "2012-10-17",
			Statement: []events.IAMPolicyStatement{{
				Action:   []string{"execute-api:Invoke"},
				Effect:   "Allow",
				Resource: []string{resource},
			}},
		},
		// exp travels with the cached Allow: API Gateway may serve this
		// answer for the cache TTL, past the token's expiry, so the API
		// checks it on every request.
		Context: map[string]any{
			"sub":   claims.Subject,
			"scope": strings.Join(claims.Scopes, " "),
			"exp":   claims.ExpiresAt.Unix(),
		},
		UsageIdentifierKey: a.usagePlanKey,
	}, nil
}

// StageWildcardARN turns a method ARN
// ("arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/v1/orders/o1")
// into the ARN of every method of its stage
// ("arn:aws:execute-api:us-east-1:123456789012:abc123/prod/*").
func StageWildcardARN(methodArn string) (string, error) {
	parts := strings.SplitN(methodArn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "execute-api" || parts[3] == "" || parts[4] == "" {
		return "", fmt.Errorf("not an execute-api method ARN: %q", methodArn)
	}
	seg := strings.SplitN(parts[5], "/", 3)
	if len(seg) < 2 || seg[0] == "" || seg[1] == "" {
		return "", fmt.Errorf("method ARN %q lacks api id or stage", methodArn)
	}
	return strings.Join(parts[:5], ":") + ":" + seg[0] + "/" + seg[1] + "/*", nil
}
