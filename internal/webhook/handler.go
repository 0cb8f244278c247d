// Package webhook receives Stripe webhooks (POST /v1/webhooks/stripe) as an
// API Gateway proxy handler: it verifies the Stripe-Signature header,
// records each event once, and sends the payment it is about to
// reconciliation (which reads the truth back from the gateway).
//
// Guarantees: an event with a bad, missing or stale (over 300 s) signature is
// answered 400 invalid_signature and nothing is written; an event id is
// forwarded until it is recorded, then never again (a repeated delivery is
// answered 200 and changes nothing); a failure answers 500 and Stripe's
// retry processes the event afresh.
//
// The webhook endpoint must be pinned to API version 2023-10-16 (the one
// stripe-go/v76 speaks; in the Stripe dashboard or with the API's
// api_version when the endpoint is created). An event rendered with another
// version is still verified and handled — the webhook reads only object
// ids from it and reconciliation retrieves the objects with the pinned
// version — but it is logged at ERROR level with both versions, so a
// mismatch is loud and reconciliation never silently stops.
package webhook

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stripe/stripe-go/v76"
	stripewebhook "github.com/stripe/stripe-go/v76/webhook"

	"github.com/checkout-dev/checkout/internal/api"
)

// Route of the webhook, and every status it answers (for the OpenAPI check).
const (
	Method = http.MethodPost
	Path   = "/v1/webhooks/stripe"
)

// Statuses lists every status Handle answers on its route.
var Statuses = []int{http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusInternalServerError}

// Tolerance is how old a signature's timestamp may be.
const Tolerance = 300 * time.Second

// MaxBodyBytes bounds an event body.
const MaxBodyBytes = 256 << 10

// Handler serves the webhook. Safe for concurrent use.
type Handler struct {
	pool   *pgxpool.Pool
	secret string
	fwd    Forwarder
	log    *slog.Logger
}

// New returns a Handler verifying with the endpoint's signing secret
// (whsec_...), recording in pool and forwarding payments to fwd.
func New(pool *pgxpool.Pool, secret string, fwd Forwarder, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.Default()
	}
	return &Handler{pool: pool, secret: secret, fwd: fwd, log: log.With("component", "stripe-webhook")}
}

// Ack is the body of a 200 answer.
type Ack struct {
	Received  bool `json:"received"`
	Duplicate bool `json:"duplicate,omitempty"`
}

// Handle serves one delivery. It never returns an error; failures are JSON
// error responses.
func (h *Handler) Handle(ctx context.Context, req events.APIGatewayProxyRequest) (resp events.APIGatewayProxyResponse, err error) {
	requestID := req.RequestContext.RequestID
	defer func() {
		if r := recover(); r != nil {
			h.log.ErrorContext(ctx, "panic serving webhook", "request_id", requestID, "panic", r)
			resp, err = api.ErrorResponse(http.StatusInternalServerError, "internal_error", "internal error", nil), nil
		}
	}()
	if !strings.EqualFold(req.HTTPMethod, Method) {
		r := api.ErrorResponse(http.StatusMethodNotAllowed, "method_not_allowed", "use POST", nil)
		r.Headers["Allow"] = Method
		return r, nil
	}
	if ct, _ := api.Header(req, "Content-Type"); !isJSON(ct) {
		return api.ErrorResponse(http.StatusUnsupportedMediaType, "unsupported_media_type",
			"Content-Type must be application/json (Stripe sends application/json; charset=utf-8)", map[string]any{"field": "Content-Type"}), nil
	}
	payload := []byte(req.Body)
	if req.IsBase64Encoded {
		if payload, err = base64.StdEncoding.DecodeString(req.Body); err != nil {
			return api.ErrorResponse(http.StatusBadRequest, "invalid_request", "the body is not valid base64", nil), nil
		}
	}
	if len(payload) > MaxBodyBytes {
		return api.ErrorResponse(http.StatusRequestEntityTooLarge, "payload_too_large", "the event is too large", nil), nil
	}
	sig, _ := api.Header(req, "Stripe-Signature")
	ev, err := stripewebhook.ConstructEventWithOptions(payload, sig, h.secret,
		stripewebhook.ConstructEventOptions{Tolerance: Tolerance, IgnoreAPIVersionMismatch: true})
	if err != nil {
		if isSignatureError(err) {
			h.log.WarnContext(ctx, "webhook signature rejected", "request_id", requestID, "err", err)
			return api.ErrorResponse(http.StatusBadRequest, "invalid_signature", "the Stripe-Signature header does not verify", nil), nil
		}
		h.log.ErrorContext(ctx, "webhook event unreadable", "request_id", requestID, "err", err)
		return api.ErrorResponse(http.StatusBadRequest, "invalid_request", "the event cannot be read: "+err.Error(), nil), nil
	}
	if ev.ID == "" || ev.Type == "" || ev.Data == nil {
		return api.ErrorResponse(http.StatusBadRequest, "invalid_request", "the event has no id, type or data", nil), nil
	}
	if ev.APIVersion != stripe.APIVersion {
		h.log.ErrorContext(ctx, "webhook endpoint is not pinned to the API version stripe-go speaks: pin it; the event is handled by reading its objects back from the API",
			"request_id", requestID, "event", ev.ID, "event_api_version", ev.APIVersion, "want_api_version", stripe.APIVersion)
	}
	res, err := Process(ctx, h.pool, h.fwd, ev, payload)
	if err != nil {
		h.log.ErrorContext(ctx, "webhook processing failed", "request_id", requestID, "event", ev.ID, "type", ev.Type, "err", err)
		return api.ErrorResponse(http.StatusInternalServerError, "internal_error", "internal error", nil), nil
	}
	h.log.InfoContext(ctx, "webhook", "request_id", requestID, "event", ev.ID, "type", ev.Type, "outcome", res.Outcome,
		"intent", res.IntentID)
	return api.JSONResponse(http.StatusOK, Ack{Received: true, Duplicate: res.Outcome == OutcomeDuplicate}), nil
}

// isJSON reports whether a Content-Type is application/json, parameters
// such as charset allowed.
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}

func isSignatureError(err error) bool {
	for _, e := range []error{stripewebhook.ErrNotSigned, stripewebhook.ErrInvalidHeader, stripewebhook.ErrNoValidSignature, stripewebhook.ErrTooOld} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
