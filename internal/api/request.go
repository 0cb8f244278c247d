package api

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/checkout-dev/checkout/internal/strictjson"
)

// MaxBodyBytes bounds a request body (after base64 decoding).
const MaxBodyBytes = 64 << 10

// Header returns the first value of header name in req, matched without
// regard to case, looking at Headers and then MultiValueHeaders.
func Header(req events.APIGatewayProxyRequest, name string) (string, bool) {
	for k, v := range req.Headers {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	for k, vs := range req.MultiValueHeaders {
		if strings.EqualFold(k, name) && len(vs) > 0 {
			return vs[0], true
		}
	}
	return "", false
}

// query returns query parameter name.
func query(req events.APIGatewayProxyRequest, name string) (string, bool) {
	if v, ok := req.QueryStringParameters[name]; ok {
		return v, true
	}
	if vs, ok := req.MultiValueQueryStringParameters[name]; ok && len(vs) > 0 {
		return vs[0], true
	}
	return "", false
}

// Principal is the caller as the authorizer established it.
type Principal struct {
	UserID string
	Scopes []string
	// Expires is the token's exp from the authorizer context (zero when
	// the authorizer gave none). API Gateway caches an authorizer's Allow
	// for its TTL, which can outlast the token; the handler refuses a
	// principal past Expires.
	Expires time.Time
}

// TokenLeeway is the clock skew allowed past a token's exp, the same as
// the authorizer's (auth.DefaultLeeway).
const TokenLeeway = 30 * time.Second

// Expired reports whether p's token expired before now (beyond the leeway).
func (p Principal) Expired(now time.Time) bool {
	return !p.Expires.IsZero() && now.After(p.Expires.Add(TokenLeeway))
}

// HasScope reports whether p holds scope s.
func (p Principal) HasScope(s string) bool { return slices.Contains(p.Scopes, s) }

// principalOf reads the caller from the authorizer context that API Gateway
// (or the local front) attached: "principalId" (else "sub") is the user id,
// "scope" the space-separated scopes.
func principalOf(req events.APIGatewayProxyRequest) Principal {
	a := req.RequestContext.Authorizer
	var p Principal
	for _, k := range []string{"principalId", "sub"} {
		if s, ok := a[k].(string); ok && strings.TrimSpace(s) != "" {
			p.UserID = s
			break
		}
	}
	switch e := a["exp"].(type) {
	case string: // API Gateway hands context values to the integration as strings
		if n, err := strconv.ParseInt(e, 10, 64); err == nil && n > 0 {
			p.Expires = time.Unix(n, 0)
		}
	case float64:
		p.Expires = time.Unix(int64(e), 0)
	case int64:
		p.Expires = time.Unix(e, 0)
	case json.Number:
		if n, err := e.Int64(); err == nil && n > 0 {
			p.Expires = time.Unix(n, 0)
		}
	}
	switch s := a["scope"].(type) {
	case string:
		p.Scopes = strings.Fields(s)
	case []any:
		for _, x := range s {
			if str, ok := x.(string); ok {
				p.Scopes = append(p.Scopes, strings.Fields(str)...)
			}
		}
	case []string:
		for _, str := range s {
			p.Scopes = append(p.Scopes, strings.Fields(str)...)
		}
	}
	return p
}

// body returns the request body, decoded from base64 when API Gateway
// encoded it. A body over MaxBodyBytes is a 413.
func body(req events.APIGatewayProxyRequest) ([]byte, *response) {
	raw := []byte(req.Body)
	if req.IsBase64Encoded {
		if base64.StdEncoding.DecodedLen(len(req.Body)) > MaxBodyBytes+3 {
			r := tooLarge()
			return nil, &r
		}
		b, err := base64.StdEncoding.DecodeString(req.Body)
		if err != nil {
			r := errorResponse(http.StatusBadRequest, "invalid_request", "body: is not valid base64", map[string]any{"field": "body"})
			return nil, &r
		}
		raw = b
	}
	if len(raw) > MaxBodyBytes {
		r := tooLarge()
		return nil, &r
	}
	return raw, nil
}

func tooLarge() response {
	return errorResponse(http.StatusRequestEntityTooLarge, "payload_too_large",
		fmt.Sprintf("the request body must be at most %d bytes", MaxBodyBytes), map[string]any{"limit": MaxBodyBytes})
}

// decodeBody reads a JSON request body into v: the Content-Type (415), the
// size and encoding (413, 400), then strict decoding (400). A non-nil
// result is the answer to send; nothing has been written yet.
func (h *Handler) decodeBody(c *call, v any) *response {
	if r := requireJSON(c.req); r != nil {
		return r
	}
	raw, r := body(c.req)
	if r != nil {
		return r
	}
	if err := strictjson.Decode(raw, v); err != nil {
		r := h.fail(c, err)
		return &r
	}
	return nil
}

// requireJSON answers 415 unless Content-Type is application/json.
func requireJSON(req events.APIGatewayProxyRequest) *response {
	ct, _ := Header(req, "Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		r := errorResponse(http.StatusUnsupportedMediaType, "unsupported_media_type",
			"Content-Type must be application/json", map[string]any{"field": "Content-Type"})
		return &r
	}
	return nil
}
