package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/checkout"
	"github.com/checkout-dev/checkout/internal/order"
)

// CheckoutBody is a checkout as the API shows it.
type CheckoutBody struct {
	CheckoutID string   `json:"checkout_id"`
	Status     string   `json:"status"`
	OrderID    string   `json:"order_id,omitempty"`
	Amount     int64    `json:"amount"`
	Currency   string   `json:"currency"`
	Failure    *Failure `json:"failure,omitempty"`
	// NextAction and ClientSecret are set while the status is
	// requires_action: how the customer authenticates the payment.
	NextAction   *NextAction `json:"next_action,omitempty"`
	ClientSecret string      `json:"client_secret,omitempty"`
}

// NextAction is what the storefront does for a checkout in
// requires_action: send the customer to URL (redirect_to_url), or let
// Stripe.js authenticate with the client secret (use_stripe_sdk).
type NextAction struct {
	Type string `json:"type"`
	URL  string `json:"url,omitempty"`
}

// Failure says why a checkout failed.
type Failure struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func checkoutBody(c checkout.Checkout) CheckoutBody {
	b := CheckoutBody{CheckoutID: c.ID.String(), Status: string(c.Status), Amount: c.Amount, Currency: c.Currency}
	if c.OrderID != nil {
		b.OrderID = c.OrderID.String()
	}
	if c.FailureCode != "" {
		b.Failure = &Failure{Code: c.FailureCode, Message: c.FailureMessage}
	}
	return b
}

// postCheckout: POST /v1/checkouts.
//
// Order of checks (each answers before anything is written): the
// Idempotency-Key header (400), the Content-Type (415), the body size (413),
// strict JSON decoding (400), then checkout.CreateOrGet (400 for bad or
// unknown input, 422 for a key reused with another body). checkout.Starter
// then starts its execution (or fails it on the sold-out fast path);
// answers: 202 with Location and Retry-After while it is not final, 200 with
// the stored result once it is, 503 with Retry-After when the execution
// could not be started.
func (h *Handler) postCheckout(c *call) response {
	key, _ := Header(c.req, "Idempotency-Key")
	if err := checkout.ValidateKey(key); err != nil {
		return h.fail(c, err)
	}
	var in checkoutInput
	if r := h.decodeBody(c, &in); r != nil {
		return *r
	}
	req, fromCart, err := h.request(c, in)
	if err != nil {
		return h.fail(c, err)
	}
	co, created, err := h.d.Checkouts.CreateOrGet(c.ctx, c.principal.UserID, key, req)
	if err != nil {
		if ae := apperr.As(err); ae != nil {
			if id, ok := ae.Details["checkout_id"].(string); ok {
				c.checkoutID = id
			}
		}
		return h.fail(c, err)
	}
	c.checkoutID = co.ID.String()
	if created {
		h.rememberCart(c, c.checkoutID, fromCart)
	}
	co, err = h.d.Starter.Start(c.ctx, co)
	if errors.Is(err, checkout.ErrNotStarted) {
		h.log.ErrorContext(c.ctx, "start checkout", "request_id", c.requestID, "user", c.principal.UserID,
			"checkout_id", c.checkoutID, "err", err)
		return unavailable("the checkout was recorded but could not be started; retry with the same Idempotency-Key")
	}
	if err != nil {
		return h.fail(c, err)
	}
	if checkout.IsFinal(co.Status) {
		h.clearCartOf(c, co)
		return jsonResponse(http.StatusOK, checkoutBody(co))
	}
	return jsonResponse(http.StatusAccepted, checkoutBody(co)).
		with("Location", "/v1/checkouts/"+co.ID.String()).
		with("Retry-After", "1")
}

// getCheckout: GET /v1/checkouts/{id}[?wait=N]. Another user's checkout is
// 404. With wait, it answers as soon as the checkout is final or after N
// seconds (at most 20, and never past the request's own deadline).
func (h *Handler) getCheckout(c *call) response {
	id, r := idParam(c)
	if r != nil {
		return *r
	}
	c.checkoutID = id.String()
	wait, r := waitParam(c)
	if r != nil {
		return *r
	}
	if dl, ok := c.ctx.Deadline(); ok && wait > 0 {
		wait = max(min(wait, time.Until(dl)-500*time.Millisecond), 0)
	}
	// With a read replica, its answer is used only for a settled checkout;
	// anything else comes from the primary (Store.WaitFrom, reads.go).
	co, err := h.d.Checkouts.WaitFrom(c.ctx, id, wait, h.checkoutSource(id, c.principal.UserID))
	if err != nil && co.ID != uuid.Nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		err = nil
	}
	if err != nil {
		return h.fail(c, err)
	}
	h.clearCartOf(c, co)
	b := checkoutBody(co)
	if co.Status == checkout.StatusRequiresAction && h.d.Payments != nil {
		url, secret, ok, err := h.d.Payments.NextAction(c.ctx, co.ID)
		if err != nil {
			return h.fail(c, err)
		}
		if ok {
			b.NextAction, b.ClientSecret = &NextAction{Type: "redirect_to_url", URL: url}, secret
			if url == "" {
				b.NextAction = &NextAction{Type: "use_stripe_sdk"}
			}
		}
	}
	return jsonResponse(http.StatusOK, b)
}

func waitParam(c *call) (time.Duration, *response) {
	v, ok := query(c.req, "wait")
	if !ok {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || time.Duration(n)*time.Second > MaxWait {
		r := fromError(apperr.InvalidField("wait", "must be a whole number of seconds from 0 to %d", int(MaxWait/time.Second)))
		return 0, &r
	}
	return time.Duration(n) * time.Second, nil
}

// idParam reads the {id} path parameter: a malformed id is a 400 naming
// "id" (the contract's answer), not a 404 for something that cannot exist.
func idParam(c *call) (uuid.UUID, *response) {
	id, err := uuid.Parse(c.params["id"])
	if err != nil || len(c.params["id"]) != 36 {
		r := fromError(apperr.InvalidField("id", "must be a UUID like 0b9c3f1e-8a4d-4c2b-9f57-3f1d2c5e6a7b"))
		return uuid.Nil, &r
	}
	return id, nil
}

// getOrder: GET /v1/orders/{id}; another user's order is 404. Read from
// the replica when there is one (reads.go).
func (h *Handler) getOrder(c *call) response {
	id, r := idParam(c)
	if r != nil {
		return *r
	}
	o, err := read(c.ctx, h, func(ctx context.Context, s stores) (order.Order, error) {
		return s.orders.GetForUser(ctx, id, c.principal.UserID)
	})
	if err != nil {
		return h.fail(c, err)
	}
	c.checkoutID = o.CheckoutID.String()
	return jsonResponse(http.StatusOK, o)
}
