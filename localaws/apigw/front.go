// Package apigw is the local stand-in for API Gateway: it serves HTTP the
// way a SAM template's REST API does (package sam) — routes, the Lambda
// TOKEN authorizer, API keys, the usage plan's throttle and quota, the WAF
// rate rules — and calls the handlers the Lambdas wrap with API Gateway proxy
// events.
package apigw

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/localaws/sam"
)

// MaxBody is API Gateway's payload limit (10 MB).
const MaxBody = 10 << 20

// MaxHeaderBytes is API Gateway's quota on the request line and header
// values together (REST APIs: 10,240 bytes). Over it the front answers 431
// before any authorizer runs or anything is cached.
const MaxHeaderBytes = 10240

// headerBytes is the size of r's request line and header values.
func headerBytes(r *http.Request) int {
	n := len(r.Method) + 1 + len(r.RequestURI) + 1 + len(r.Proto)
	for _, vs := range r.Header {
		for _, v := range vs {
			n += len(v)
		}
	}
	return n
}

// ProxyFunc is a function behind a route: a proxy event in, a proxy
// response out.
type ProxyFunc func(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error)

// AuthorizerFunc is a Lambda TOKEN authorizer.
type AuthorizerFunc func(ctx context.Context, req events.APIGatewayCustomAuthorizerRequest) (events.APIGatewayCustomAuthorizerResponse, error)

// Config is what the front needs from the template and the runtime.
type Config struct {
	Api         *sam.Api
	Routes      []sam.Route
	RateRules   []sam.RateRule
	APIKeys     []string                  // valid x-api-key values (the usage plan's key)
	Functions   map[string]ProxyFunc      // by function logical id
	Authorizers map[string]AuthorizerFunc // by authorizer function logical id
	Region      string
	AccountID   string
	Now         func() time.Time
	Log         *slog.Logger
}

// Front is an http.Handler that behaves like the deployed REST API.
type Front struct {
	cfg    Config
	keys   map[string]bool
	limits *limiter
	auth   *authCache
}

// New returns a Front for cfg. Routes whose function is missing from
// cfg.Functions answer 502, as API Gateway does for a broken integration.
func New(cfg Config) *Front {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.AccountID == "" {
		cfg.AccountID = "000000000000"
	}
	f := &Front{cfg: cfg, keys: map[string]bool{}}
	for _, k := range cfg.APIKeys {
		f.keys[k] = true
	}
	var plan *sam.UsagePlan
	if cfg.Api != nil {
		plan = cfg.Api.UsagePlan
	}
	f.limits = newLimiter(plan, cfg.RateRules, cfg.Now)
	f.auth = newAuthCache(cfg.Now)
	return f
}

// ServeHTTP runs one request through the API Gateway pipeline: WAF rate
// rules, route match, authorizer, API key and usage plan, then the function.
func (f *Front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := f.cfg.Now()
	requestID := uuid.NewString()
	rec := &statusRecorder{ResponseWriter: w, status: 200}
	w = rec
	w.Header().Set("x-amzn-RequestId", requestID)
	var user, limitRule string
	invoked := false
	defer func() {
		if p := recover(); p != nil {
			f.cfg.Log.Error("apigw: panic", "request_id", requestID, "panic", fmt.Sprint(p))
			writeError(w, http.StatusInternalServerError, "internal_error", "internal error", nil)
		}
		// A function logs the requests it serves; the front logs the ones
		// it answered itself (404, 401, 403, 429, ...).
		level := slog.LevelInfo
		if invoked {
			level = slog.LevelDebug
		}
		attrs := []any{"request_id", requestID, "method", r.Method, "path", r.URL.Path,
			"status", rec.status, "user", user, "duration_ms", f.cfg.Now().Sub(start).Milliseconds()}
		if limitRule != "" {
			attrs = append(attrs, "limit_rule", limitRule) // which rule answered 429
		}
		f.cfg.Log.Log(r.Context(), level, "request", attrs...)
	}()

	// Like the template's GatewayResponses: the front's own errors echo the
	// request's Origin so a browser page can read them.
	if origin := r.Header.Get("Origin"); origin != "" {
		w.Header().Set("Access-Control-Allow-Origin", origin)
		w.Header().Set("Vary", "Origin")
	}
	if n := headerBytes(r); n > MaxHeaderBytes {
		writeError(w, http.StatusRequestHeaderFieldsTooLarge, "request_header_fields_too_large",
			fmt.Sprintf("the request line and headers are %d bytes; API Gateway's limit is %d", n, MaxHeaderBytes), nil)
		return
	}
	ip := clientIP(r)
	if wait, blocked, name := f.limits.waf("ip", ip); blocked {
		limitRule = RuleWAFIP
		tooMany(w, wait, "too many requests from this address", RuleWAFIP, name)
		return
	}
	route, params, allowed := f.match(r.Method, r.URL.Path)
	if route == nil {
		if len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "method "+r.Method+" is not allowed here", nil)
			return
		}
		writeError(w, http.StatusNotFound, "not_found", "no route for "+r.Method+" "+r.URL.Path, nil)
		return
	}
	// The API key first: a caller without the storefront's key never gets
	// an authorizer call (nor a cache entry) out of the front.
	apiKey := r.Header.Get("x-api-key")
	if route.ApiKeyRequired && !f.keys[apiKey] {
		writeError(w, http.StatusForbidden, "forbidden", "a valid API key is required in the x-api-key header", nil)
		return
	}
	authCtx := map[string]any{}
	if route.Authorizer != "" {
		claims, status, msg := f.authorize(r, route)
		if status != 0 {
			if status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", "Bearer")
			}
			writeError(w, status, codeFor(status), msg, nil)
			return
		}
		authCtx = claims
		user, _ = claims["principalId"].(string)
		if wait, blocked, name := f.limits.waf("user", user); blocked {
			limitRule = RuleWAFUser
			tooMany(w, wait, "too many requests for this user", RuleWAFUser, name)
			return
		}
	}
	if route.ApiKeyRequired {
		if wait, limited, why, rule := f.limits.usagePlan(apiKey, route.Method, route.Path); limited {
			limitRule = rule
			tooMany(w, wait, why, rule, "")
			return
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "cannot read the request body", nil)
		return
	}
	if len(body) > MaxBody {
		writeError(w, http.StatusRequestEntityTooLarge, "payload_too_large", "the request body is over API Gateway's 10 MB limit", nil)
		return
	}
	fn := f.cfg.Functions[route.FunctionID]
	if fn == nil {
		writeError(w, http.StatusBadGateway, "bad_gateway", "no function behind this route", nil)
		return
	}
	ev := f.proxyEvent(r, route, params, body, requestID, ip, apiKey, authCtx)
	invoked = true
	// The function decides CORS for its own answers.
	w.Header().Del("Access-Control-Allow-Origin")
	w.Header().Del("Vary")
	resp, err := fn(r.Context(), ev)
	if err != nil {
		f.cfg.Log.Error("apigw: function failed", "request_id", requestID, "function", route.FunctionID, "err", err)
		writeError(w, http.StatusBadGateway, "bad_gateway", "internal server error", nil)
		return
	}
	writeProxyResponse(w, resp)
}

// match finds the route for method and path, or the methods path allows.
func (f *Front) match(method, path string) (*sam.Route, map[string]string, []string) {
	var allowed []string
	for i := range f.cfg.Routes {
		rt := &f.cfg.Routes[i]
		if params, ok := rt.Match(method, path); ok {
			return rt, params, nil
		}
		if _, ok := (sam.Route{Method: "ANY", Path: rt.Path}).Match(method, path); ok {
			allowed = append(allowed, rt.Method)
		}
	}
	return nil, nil, allowed
}

func (f *Front) methodArn(r *http.Request, route *sam.Route) string {
	stage := "dev"
	if f.cfg.Api != nil && f.cfg.Api.StageName != "" {
		stage = f.cfg.Api.StageName
	}
	return fmt.Sprintf("arn:aws:execute-api:%s:%s:local/%s/%s%s", f.cfg.Region, f.cfg.AccountID, stage, r.Method, r.URL.Path)
}

func (f *Front) proxyEvent(r *http.Request, route *sam.Route, params map[string]string, body []byte,
	requestID, ip, apiKey string, authCtx map[string]any) events.APIGatewayProxyRequest {
	headers, multi := map[string]string{}, map[string][]string{}
	for k, vs := range r.Header {
		headers[k] = vs[len(vs)-1]
		multi[k] = vs
	}
	query, multiQuery := map[string]string{}, map[string][]string{}
	for k, vs := range r.URL.Query() {
		query[k] = vs[len(vs)-1]
		multiQuery[k] = vs
	}
	stage := "dev"
	if f.cfg.Api != nil && f.cfg.Api.StageName != "" {
		stage = f.cfg.Api.StageName
	}
	ev := events.APIGatewayProxyRequest{
		Resource: route.Path, Path: r.URL.Path, HTTPMethod: r.Method,
		Headers: headers, MultiValueHeaders: multi,
		QueryStringParameters: query, MultiValueQueryStringParameters: multiQuery,
		PathParameters: params,
		RequestContext: events.APIGatewayProxyRequestContext{
			AccountID: f.cfg.AccountID, ResourcePath: route.Path, Stage: stage, RequestID: requestID,
			HTTPMethod: r.Method, APIID: "local", Path: "/" + stage + r.URL.Path,
			RequestTimeEpoch: f.cfg.Now().UnixMilli(),
			Identity:         events.APIGatewayRequestIdentity{SourceIP: ip, APIKey: apiKey, UserAgent: r.UserAgent()},
			Authorizer:       authCtx,
		},
	}
	if len(body) > 0 {
		if utf8.Valid(body) {
			ev.Body = string(body)
		} else {
			ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		}
	}
	return ev
}

func writeProxyResponse(w http.ResponseWriter, resp events.APIGatewayProxyResponse) {
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	for k, vs := range resp.MultiValueHeaders {
		w.Header().Del(k)
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		if b, err := base64.StdEncoding.DecodeString(resp.Body); err == nil {
			body = b
		}
	}
	status := resp.StatusCode
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeError answers in the public contract's error shape (the template's
// GatewayResponses give API Gateway's own errors the same shape).
func writeError(w http.ResponseWriter, status int, code, msg string, details map[string]any) {
	e := map[string]any{"code": code, "message": msg}
	if details != nil {
		e["details"] = details
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": e})
}

// tooMany answers 429 naming the rule that refused the request (rule:
// usage_plan_throttle, usage_plan_quota, waf_ip, waf_user; wafRule: the
// WAF rule's name), with Retry-After.
func tooMany(w http.ResponseWriter, wait time.Duration, why, rule, wafRule string) {
	secs := int(wait.Seconds() + 0.999)
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", fmt.Sprint(secs))
	details := map[string]any{"retry_after_seconds": secs, "rule": rule}
	if wafRule != "" {
		details["waf_rule"] = wafRule
	}
	writeError(w, http.StatusTooManyRequests, "rate_limited", why, details)
}

func codeFor(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusForbidden:
		return "forbidden"
	}
	return "internal_error"
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}
