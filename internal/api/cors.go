package api

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// CORS is which browser origins may call the API (a storefront page using
// Stripe.js calls it cross-origin). The API answers the preflight
// (OPTIONS) itself, so the template routes OPTIONS to this function with
// neither authorizer nor API key, as browsers send neither on a preflight.
//
// "*" allows every origin. That is safe for this API because it
// authenticates with a Bearer token and an API key the page sends
// explicitly, never with cookies, so another site's page gains nothing a
// script outside a browser could not do; list the storefront's origins to
// narrow it anyway. No origins (the zero value) turns CORS off.
type CORS struct {
	Origins []string // exact origins ("https://shop.example.com") or "*"
}

// Headers the storefront may send, and response headers it may read.
const (
	corsAllowHeaders  = "Authorization, Content-Type, Idempotency-Key, X-Api-Key, X-Request-Id"
	corsExposeHeaders = "Location, Retry-After, X-Request-Id"
	corsMaxAge        = "600"
)

// ParseCORSOrigins reads a comma-separated list of origins (the template's
// CorsAllowedOrigins): "*", or scheme://host[:port] each with no path.
// Empty means none.
func ParseCORSOrigins(s string) (CORS, error) {
	var c CORS
	for _, o := range strings.Split(s, ",") {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		if o != "*" {
			u, err := url.Parse(o)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
				return CORS{}, fmt.Errorf("CORS origin %q: want \"*\" or scheme://host[:port], like https://shop.example.com", o)
			}
			o = u.Scheme + "://" + u.Host
		}
		c.Origins = append(c.Origins, o)
	}
	return c, nil
}

// allowed returns the Access-Control-Allow-Origin value for origin, or ""
// when origin may not call the API.
func (c CORS) allowed(origin string) string {
	switch {
	case origin == "" || len(c.Origins) == 0:
		return ""
	case slices.Contains(c.Origins, "*"):
		return "*"
	case slices.Contains(c.Origins, origin):
		return origin
	}
	return ""
}

// decorate adds the CORS response headers for req's Origin to resp.
func (c CORS) decorate(req events.APIGatewayProxyRequest, resp *events.APIGatewayProxyResponse) {
	if len(c.Origins) == 0 {
		return
	}
	if resp.Headers == nil {
		resp.Headers = map[string]string{}
	}
	resp.Headers["Vary"] = "Origin"
	origin, _ := Header(req, "Origin")
	if allow := c.allowed(origin); allow != "" {
		resp.Headers["Access-Control-Allow-Origin"] = allow
		resp.Headers["Access-Control-Expose-Headers"] = corsExposeHeaders
	}
}

// preflight answers OPTIONS on route r: 204 with the allowed methods and
// headers when the origin and the requested method are allowed, else 403
// forbidden saying which.
func (c CORS) preflight(req events.APIGatewayProxyRequest, r *route) response {
	origin, _ := Header(req, "Origin")
	method, _ := Header(req, "Access-Control-Request-Method")
	allow := c.allowed(origin)
	switch {
	case allow == "":
		return errorResponse(http.StatusForbidden, "forbidden",
			fmt.Sprintf("origin %q may not call this API (CorsAllowedOrigins)", origin), map[string]any{"field": "Origin"})
	case method != "" && r.endpoint(strings.ToUpper(method)) == nil:
		return errorResponse(http.StatusForbidden, "forbidden",
			fmt.Sprintf("%s is not allowed on %s; allowed: %s", method, r.pattern, r.allow()), map[string]any{"field": "Access-Control-Request-Method"})
	}
	return response{status: http.StatusNoContent}.
		with("Access-Control-Allow-Methods", r.allow()).
		with("Access-Control-Allow-Headers", corsAllowHeaders).
		with("Access-Control-Max-Age", corsMaxAge)
}
