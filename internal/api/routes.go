package api

import (
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// access says who may call an endpoint. API keys and throttling are API
// Gateway's job; the handler checks only the authorizer's principal.
type access int

const (
	public access = iota // anyone (health)
	keyed                // anyone with an API key (checked by API Gateway)
	user                 // a signed-in user: the authorizer's principal
	admin                // a user whose token has the "admin" scope
)

// endpoint is one method on one path.
type endpoint struct {
	method string
	access access
	run    func(h *Handler, c *call) response
	// statuses lists every status this endpoint can answer (besides the
	// ones every endpoint can answer, see commonStatuses). The OpenAPI test
	// checks they are documented; the handler tests check every answer
	// they see is listed.
	statuses []int
}

// route is one path pattern ("/v1/checkouts/{id}") and its endpoints.
type route struct {
	pattern   string
	endpoints []endpoint
}

// commonStatuses can be answered by every endpoint: a bug or an
// unreachable database (500), or a busy one (503).
var commonStatuses = []int{http.StatusInternalServerError, http.StatusServiceUnavailable}

// allStatuses returns every status, sorted and distinct, an endpoint may answer, auth included.
func (e endpoint) allStatuses() []int {
	s := append([]int(nil), e.statuses...)
	switch e.access {
	case user:
		s = append(s, http.StatusUnauthorized)
	case admin:
		s = append(s, http.StatusUnauthorized, http.StatusForbidden)
	}
	s = append(s, commonStatuses...)
	slices.Sort(s)
	return slices.Compact(s)
}

// routes is the whole public API of this handler (the Stripe webhook is a
// separate function). It is the single source of truth for routing, for the
// Allow header and for the OpenAPI test.
var routes = []route{
	{"/v1/checkouts", []endpoint{
		{http.MethodPost, user, (*Handler).postCheckout, []int{200, 202, 400, 409, 413, 415, 422}},
	}},
	{"/v1/checkouts/{id}", []endpoint{
		{http.MethodGet, user, (*Handler).getCheckout, []int{200, 400, 404}},
	}},
	{"/v1/carts", []endpoint{
		{http.MethodPost, user, (*Handler).postCart, []int{201}},
	}},
	{"/v1/carts/{id}", []endpoint{
		{http.MethodGet, user, (*Handler).getCart, []int{200, 400, 404}},
		{http.MethodDelete, user, (*Handler).deleteCart, []int{204, 400, 404}},
	}},
	{"/v1/carts/{id}/items/{sku}", []endpoint{
		{http.MethodPut, user, (*Handler).putCartItem, []int{200, 400, 404, 413, 415}},
	}},
	{"/v1/orders/{id}", []endpoint{
		{http.MethodGet, user, (*Handler).getOrder, []int{200, 400, 404}},
	}},
	{"/v1/products/{sku}", []endpoint{
		{http.MethodGet, keyed, (*Handler).getProduct, []int{200, 400, 404}},
	}},
	{"/v1/admin/inventory/{sku}", []endpoint{
		{http.MethodGet, admin, (*Handler).getInventory, []int{200, 400, 404}},
		{http.MethodPut, admin, (*Handler).putInventory, []int{200, 400, 404, 413, 415, 422}},
	}},
	{"/v1/admin/inventory/{sku}/gate", []endpoint{
		{http.MethodGet, admin, (*Handler).getGate, []int{200, 400, 404}},
		{http.MethodPut, admin, (*Handler).putGate, []int{200, 400, 404, 413, 415}},
		{http.MethodDelete, admin, (*Handler).deleteGate, []int{200, 400, 404}},
	}},
	{"/v1/admin/products/{sku}", []endpoint{
		{http.MethodPut, admin, (*Handler).putProduct, []int{200, 201, 400, 413, 415}},
	}},
	{"/v1/health", []endpoint{
		{http.MethodGet, public, (*Handler).health, []int{200}},
	}},
}

// match finds the route of req: by Resource and PathParameters when API
// Gateway matched one of ours, else by parsing Path.
func match(req events.APIGatewayProxyRequest) (*route, map[string]string) {
	for i := range routes {
		r := &routes[i]
		if req.Resource != r.pattern {
			continue
		}
		params := map[string]string{}
		ok := true
		for _, name := range paramNames(r.pattern) {
			v := req.PathParameters[name]
			if v == "" {
				ok = false
				break
			}
			params[name] = v
		}
		if ok {
			return r, params
		}
	}
	return matchPath(req.Path)
}

func matchPath(path string) (*route, map[string]string) {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for i := range routes {
		r := &routes[i]
		pat := strings.Split(strings.TrimPrefix(r.pattern, "/"), "/")
		if len(pat) != len(segs) {
			continue
		}
		params := map[string]string{}
		ok := true
		for j, p := range pat {
			if strings.HasPrefix(p, "{") {
				v, err := url.PathUnescape(segs[j])
				if err != nil || v == "" {
					ok = false
					break
				}
				params[strings.Trim(p, "{}")] = v
				continue
			}
			if p != segs[j] {
				ok = false
				break
			}
		}
		if ok {
			return r, params
		}
	}
	return nil, nil
}

func paramNames(pattern string) []string {
	var out []string
	for _, p := range strings.Split(pattern, "/") {
		if strings.HasPrefix(p, "{") {
			out = append(out, strings.Trim(p, "{}"))
		}
	}
	return out
}

func (r *route) endpoint(method string) *endpoint {
	for i := range r.endpoints {
		if r.endpoints[i].method == method {
			return &r.endpoints[i]
		}
	}
	return nil
}

func (r *route) allow() string {
	var ms []string
	for _, e := range r.endpoints {
		ms = append(ms, e.method)
	}
	sort.Strings(ms)
	return strings.Join(ms, ", ")
}

// RouteInfo describes one endpoint of the handler, for documentation checks
// and for fronts that need the route list.
type RouteInfo struct {
	Method string
	Path   string // API Gateway resource, e.g. /v1/checkouts/{id}
	// Access is "public", "api_key", "user" or "admin".
	Access string
	// Statuses lists every HTTP status the endpoint can answer.
	Statuses []int
}

// Routes lists every endpoint the handler serves.
func Routes() []RouteInfo {
	names := map[access]string{public: "public", keyed: "api_key", user: "user", admin: "admin"}
	var out []RouteInfo
	for _, r := range routes {
		for _, e := range r.endpoints {
			out = append(out, RouteInfo{Method: e.method, Path: r.pattern, Access: names[e.access], Statuses: e.allStatuses()})
		}
	}
	return out
}
