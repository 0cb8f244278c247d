// Package webhook receives Stripe webhooks (POST /v1/webhooks/stripe) as an
// API Gateway proxy handler: it verifies the Stripe-Signature header, records
// each event once, and reconciles the payment rows the event is about.
//
// Guarantees: an event with a bad, missing or stale (over 300 s) signature is
// answered 400 invalid_signature and nothing is written; an event id is
// processed at most once (a repeated delivery is answered 200 and changes
// nothing); the event row and the changes it causes commit together, so a
// failure answers 500 and Stripe's retry processes the event afresh.
package webhook

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/jackc/pgx/v5/pgxpool"
	stripewebhook "github.com/stripe/stripe-go/v76/webhook"

	"github.com/checkout-dev/checkout/internal/api"
)

// Route of the webhook, and every status it answers (for the OpenAPI check).
const (
	Method = http.MethodPost
	Path   = "/v1/webhooks/stripe"
)

// Statuses lists every status Handle answers on its route.
var Statuses = []int{http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusInternalServerError}

// Tolerance is how old a signature's timestamp may be.
const Tolerance = 300 * time.Second

// MaxBodyBytes bounds an event body.
const MaxBodyBytes = 256 << 10

// Handler serves the webhook. Safe for concurrent use.
type Handler struct {
	pool   *pgxpool.Pool
	secret string
	log    *slog.Logger
}

// New returns a Handler verifying with the endpoint's signing secret
// (whsec_...) and recording in pool.
func New(pool *pgxpool.Pool, secret string, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.Default()
	}
	return &Handler{pool: pool, secret: secret, log: log.With("component", "stripe-webhook")}
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
	ev, err := stripewebhook.ConstructEventWithOptions(payload, sig, h.secret, stripewebhook.ConstructEventOptions{Tolerance: Tolerance})
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
	res, err := Process(ctx, h.pool, ev, payload)
	if err != nil {
		h.log.ErrorContext(ctx, "webhook processing failed", "request_id", requestID, "event", ev.ID, "type", ev.Type, "err", err)
		return api.ErrorResponse(http.StatusInternalServerError, "internal_error", "internal error", nil), nil
	}
	h.log.InfoContext(ctx, "webhook", "request_id", requestID, "event", ev.ID, "type", ev.Type, "outcome", res.Outcome,
		"checkout_id", res.CheckoutID)
	return api.JSONResponse(http.StatusOK, Ack{Received: true, Duplicate: res.Outcome == OutcomeDuplicate}), nil
}

func isSignatureError(err error) bool {
	for _, e := range []error{stripewebhook.ErrNotSigned, stripewebhook.ErrInvalidHeader, stripewebhook.ErrNoValidSignature, stripewebhook.ErrTooOld} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
