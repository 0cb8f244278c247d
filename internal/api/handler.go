// Package api is the public HTTP contract of the checkout service: routes,
// validation, JSON errors. Handler speaks API Gateway's REST proxy
// integration (events.APIGatewayProxyRequest in, ...Response out) and
// depends on nothing Lambda-specific, so the same code runs in the Lambda and
// behind the local API Gateway front.
//
// Identity comes from the authorizer that ran before the handler:
// requestContext.authorizer.principalId (or sub) is the user id, scope the
// space-separated scopes. API keys and throttling are API Gateway's job.
package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	cartstore "github.com/checkout-dev/checkout/internal/cart"
	"github.com/checkout-dev/checkout/internal/catalog"
	"github.com/checkout-dev/checkout/internal/catalogcache"
	"github.com/checkout-dev/checkout/internal/checkout"
	"github.com/checkout-dev/checkout/internal/inventory"
	"github.com/checkout-dev/checkout/internal/metrics"
	"github.com/checkout-dev/checkout/internal/order"
	"github.com/checkout-dev/checkout/internal/payment"
)

// MaxWait is the longest long-poll of GET /v1/checkouts/{id}?wait=N.
const MaxWait = 20 * time.Second

// Deps are what the handler needs. Pool, Checkouts, Orders, Inventory and
// Executions are required.
type Deps struct {
	Pool      *pgxpool.Pool // the health check pings it
	Catalog   *catalog.Store
	Checkouts *checkout.Store
	Starter   *checkout.Starter
	Orders    *order.Service
	Inventory *inventory.Store
	// Payments shows a checkout's next action while its payment requires
	// the customer; nil shows none.
	Payments *payment.Service
	// CORS lists the browser origins allowed to call the API; none turns
	// CORS off (preflights are 403).
	CORS CORS
	// Carts, when set, serves /v1/carts and checkouts from a cart;
	// CartLinks (the same Redis) remembers which cart a checkout came from
	// so the cart is cleared when the checkout completes. Nil: cart routes
	// answer 503.
	Carts     *cartstore.Store
	CartLinks redis.UniversalClient
	// CatalogCache, when set, serves GET /v1/products/{sku}'s catalog entry
	// through Redis; admin changes invalidate it. Nil reads the database.
	CatalogCache *catalogcache.Cache
	// Reads, when set, serves the read-only routes from a read replica
	// (reads.go, NewReads); nil reads everything from the primary.
	Reads *Reads
	// Metrics receives ApiLatency and ApiServerErrors (nil: none).
	Metrics metrics.Recorder
	Log     *slog.Logger // default slog.Default()
}

// Handler serves the public API. It is safe for concurrent use.
type Handler struct {
	d   Deps
	log *slog.Logger
}

// New returns a Handler on d.
func New(d Deps) *Handler {
	log := d.Log
	if log == nil {
		log = slog.Default()
	}
	return &Handler{d: d, log: log.With("component", "api")}
}

// call is one request being served.
type call struct {
	ctx        context.Context
	req        events.APIGatewayProxyRequest
	params     map[string]string
	principal  Principal
	requestID  string
	checkoutID string // set by handlers that know it, for the log line
}

// Handle serves one API Gateway proxy request. It never returns an error and
// never panics: every failure is a JSON error response (a panic or an
// unexpected error is logged with the request id and answered 500
// "internal error").
func (h *Handler) Handle(ctx context.Context, req events.APIGatewayProxyRequest) (resp events.APIGatewayProxyResponse, err error) {
	start := time.Now()
	ctx, span := requestSpan(ctx, req)
	c := &call{ctx: ctx, req: req, principal: principalOf(req), requestID: req.RequestContext.RequestID}
	if c.requestID == "" {
		if v, ok := Header(req, "X-Request-Id"); ok {
			c.requestID = v
		}
	}
	routeName := ""
	defer func() {
		if r := recover(); r != nil {
			h.log.ErrorContext(ctx, "panic serving request", "request_id", c.requestID, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			resp, err = render(internalError()), nil
		}
		took := time.Since(start)
		endRequestSpan(span, routeName, resp.StatusCode, c.checkoutID)
		h.log.InfoContext(ctx, "request", "request_id", c.requestID, "method", req.HTTPMethod, "path", req.Path,
			"route", routeName, "status", resp.StatusCode, "user", c.principal.UserID, "checkout_id", c.checkoutID,
			"duration_ms", took.Milliseconds(), "trace_id", span.SpanContext().TraceID().String())
		h.record(ctx, req, routeName, resp.StatusCode, took)
	}()
	res := h.serve(c, &routeName)
	resp = render(res)
	h.d.CORS.decorate(req, &resp)
	return resp, nil
}

func (h *Handler) serve(c *call, routeName *string) response {
	r, params := match(c.req)
	if r == nil {
		return errorResponse(http.StatusNotFound, "not_found", "no such resource: "+c.req.Path, nil)
	}
	*routeName = r.pattern
	if strings.EqualFold(c.req.HTTPMethod, http.MethodOptions) {
		*routeName = "OPTIONS " + r.pattern
		return h.d.CORS.preflight(c.req, r)
	}
	ep := r.endpoint(strings.ToUpper(c.req.HTTPMethod))
	if ep == nil {
		return errorResponse(http.StatusMethodNotAllowed, "method_not_allowed",
			fmt.Sprintf("%s is not allowed on %s; allowed: %s", c.req.HTTPMethod, r.pattern, r.allow()), nil).
			with("Allow", r.allow())
	}
	*routeName = ep.method + " " + r.pattern
	c.params = params
	switch ep.access {
	case user, admin:
		if c.principal.UserID == "" {
			return errorResponse(http.StatusUnauthorized, "unauthorized", "a valid Bearer token is required", nil).
				with("WWW-Authenticate", "Bearer")
		}
		if c.principal.Expired(time.Now()) {
			return errorResponse(http.StatusUnauthorized, "unauthorized", "the token has expired; sign in again", nil).
				with("WWW-Authenticate", `Bearer error="invalid_token", error_description="the token has expired"`)
		}
		if ep.access == admin && !c.principal.HasScope("admin") {
			return errorResponse(http.StatusForbidden, "forbidden", "this route needs the admin scope", nil)
		}
	}
	return ep.run(h, c)
}

// fail answers err, logging it when it is answered as an internal error.
func (h *Handler) fail(c *call, err error) response {
	res := fromError(err)
	if res.status >= 500 {
		h.log.ErrorContext(c.ctx, "request failed", "request_id", c.requestID, "user", c.principal.UserID,
			"checkout_id", c.checkoutID, "err", err)
	}
	return res
}

// record publishes the request's metrics: its latency unless it was a long
// poll (?wait=N, N > 0: the time is the buyer's wait), and a server error
// for a 5xx answer.
func (h *Handler) record(ctx context.Context, req events.APIGatewayProxyRequest, route string, status int, took time.Duration) {
	if h.d.Metrics == nil {
		return
	}
	var ms []metrics.Metric
	if w, _ := query(req, "wait"); w == "" || w == "0" {
		ms = append(ms, metrics.Metric{Name: metrics.ApiLatency, Value: float64(took.Microseconds()) / 1000, Unit: metrics.Milliseconds})
	}
	if status >= 500 {
		ms = append(ms, metrics.Metric{Name: metrics.ApiServerErrors, Value: 1, Unit: metrics.Count})
	}
	if len(ms) > 0 {
		h.d.Metrics.Record(ctx, metrics.Entry{Metrics: ms, Properties: map[string]any{"route": route, "status": status}})
	}
}
