package apigw

import (
	"errors"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/checkout-dev/checkout/localaws/sam"
)

// authorize runs the route's TOKEN authorizer as API Gateway does: the
// identity header must be present (and match the validation expression),
// then the authorizer's policy must allow execute-api:Invoke on the method.
// It returns the authorizer context (principalId plus context values), or a
// status and message: 401 for a missing or rejected token, 403 for a Deny.
// Answers are cached per token for the authorizer's ResultTTL.
func (f *Front) authorize(r *http.Request, route *sam.Route) (map[string]any, int, string) {
	var az *sam.Authorizer
	if f.cfg.Api != nil {
		az = f.cfg.Api.Authorizers[route.Authorizer]
	}
	if az == nil {
		return nil, http.StatusInternalServerError, "authorizer " + route.Authorizer + " is not defined"
	}
	header := az.IdentityHeader
	if header == "" {
		header = "Authorization"
	}
	token := r.Header.Get(header)
	if token == "" {
		return nil, http.StatusUnauthorized, "missing " + header + " header"
	}
	if az.ValidationExpression != "" {
		if re, err := regexp.Compile("^(?:" + az.ValidationExpression + ")$"); err == nil && !re.MatchString(token) {
			return nil, http.StatusUnauthorized, "malformed " + header + " header"
		}
	}
	arn := f.methodArn(r, route)
	resp, err, cached := f.auth.get(az.Name, token)
	if !cached {
		fn := f.cfg.Authorizers[az.FunctionID]
		if fn == nil {
			return nil, http.StatusInternalServerError, "authorizer function " + az.FunctionID + " is not running"
		}
		resp, err = fn(r.Context(), events.APIGatewayCustomAuthorizerRequest{Type: "TOKEN", AuthorizationToken: token, MethodArn: arn})
		if err == nil || err.Error() == "Unauthorized" {
			f.auth.put(az.Name, token, resp, err, az.ResultTTL)
		}
	}
	if err != nil {
		if err.Error() == "Unauthorized" {
			return nil, http.StatusUnauthorized, "the token is missing, expired or invalid"
		}
		f.cfg.Log.Error("apigw: authorizer failed", "err", err)
		return nil, http.StatusInternalServerError, "authorizer failed"
	}
	if !allows(resp.PolicyDocument, arn) {
		return nil, http.StatusForbidden, "not allowed to call this route"
	}
	ctx := map[string]any{"principalId": resp.PrincipalID}
	for k, v := range resp.Context {
		ctx[k] = v
	}
	return ctx, 0, ""
}

// allows evaluates an IAM policy for execute-api:Invoke on arn: an explicit
// Deny wins, else an Allow is needed. Resource patterns use * and ?.
func allows(doc events.APIGatewayCustomAuthorizerPolicy, arn string) bool {
	allowed := false
	for _, st := range doc.Statement {
		if !matchesAny(st.Action, "execute-api:Invoke") || !matchesAny(st.Resource, arn) {
			continue
		}
		switch st.Effect {
		case "Deny":
			return false
		case "Allow":
			allowed = true
		}
	}
	return allowed
}

func matchesAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if wildcard(p, s) {
			return true
		}
	}
	return false
}

func wildcard(pattern, s string) bool {
	re := "^" + strings.NewReplacer(`\*`, ".*", `\?`, ".").Replace(regexp.QuoteMeta(pattern)) + "$"
	ok, _ := regexp.MatchString(re, s)
	return ok
}

// maxAuthEntries bounds the authorizer cache. A token is at most
// MaxHeaderBytes, so the cache holds at most ~40 MB even when full.
const maxAuthEntries = 4096

type authEntry struct {
	resp    events.APIGatewayCustomAuthorizerResponse
	err     error
	expires time.Time
}

// authCache remembers authorizer answers per (authorizer, token), like API
// Gateway's authorization caching.
type authCache struct {
	mu  sync.Mutex
	now func() time.Time
	m   map[string]authEntry
}

func newAuthCache(now func() time.Time) *authCache {
	return &authCache{now: now, m: map[string]authEntry{}}
}

func (c *authCache) get(name, token string) (events.APIGatewayCustomAuthorizerResponse, error, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[name+"\x00"+token]
	if ok && !c.now().Before(e.expires) {
		delete(c.m, name+"\x00"+token)
		ok = false
	}
	if !ok {
		return events.APIGatewayCustomAuthorizerResponse{}, nil, false
	}
	return e.resp, e.err, true
}

func (c *authCache) put(name, token string, resp events.APIGatewayCustomAuthorizerResponse, err error, ttl time.Duration) {
	if ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if len(c.m) >= maxAuthEntries {
		// Evict the expired entries; if the cache is still full (a flood
		// of distinct live tokens), start afresh rather than track LRU:
		// an evicted token only costs one more authorizer call.
		for k, e := range c.m {
			if !now.Before(e.expires) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= maxAuthEntries {
			c.m = map[string]authEntry{}
		}
	}
	if err != nil {
		err = errors.New(err.Error())
	}
	c.m[name+"\x00"+token] = authEntry{resp: resp, err: err, expires: now.Add(ttl)}
}
