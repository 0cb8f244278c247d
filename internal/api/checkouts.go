package api

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/checkout"
	"github.com/checkout-dev/checkout/internal/saga"
)

// CheckoutBody is a checkout as the API shows it.
type CheckoutBody struct {
	CheckoutID string   `json:"checkout_id"`
	Status     string   `json:"status"`
	OrderID    string   `json:"order_id,omitempty"`
	Amount     int64    `json:"amount"`
	Currency   string   `json:"currency"`
	Failure    *Failure `json:"failure,omitempty"`
}

// Failure says why a checkout failed.
type Failure struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func checkoutBody(c checkout.Checkout) CheckoutBody {
	b := CheckoutBody{CheckoutID: c.ID.String(), Status: c.Status, Amount: c.Amount, Currency: c.Currency}
	if c.OrderID != nil {
		b.OrderID = c.OrderID.String()
	}
	if c.FailureCode != "" {
		b.Failure = &Failure{Code: c.FailureCode, Message: c.FailureMessage}
	}
	return b
}

// errStart marks a failure to start (or record) the execution: answered 503
// so the client retries with the same key, which starts it then.
var errStart = errors.New("the checkout could not be started")

// postCheckout: POST /v1/checkouts.
//
// Order of checks (each answers before anything is written): the
// Idempotency-Key header (400), the Content-Type (415), the body size (413),
// strict JSON decoding (400), then checkout.CreateOrGet (400 for bad or
// unknown input, 422 for a key reused with another body). A checkout that
// is pending without an execution (new, or an earlier attempt failed to
// start it) gets the sold-out fast path or its execution; answers: 202 with
// Location and Retry-After while it is not final, 200 with the stored result
// once it is, 503 with Retry-After when the execution could not be started.
func (h *Handler) postCheckout(c *call) response {
	key, _ := Header(c.req, "Idempotency-Key")
	if err := checkout.ValidateKey(key); err != nil {
		return h.fail(c, err)
	}
	var req checkout.Request
	if r := h.decodeBody(c, &req); r != nil {
		return *r
	}
	co, _, err := h.d.Checkouts.CreateOrGet(c.ctx, c.principal.UserID, key, req)
	if err != nil {
		if ae := apperr.As(err); ae != nil {
			if id, ok := ae.Details["checkout_id"].(string); ok {
				c.checkoutID = id
			}
		}
		return h.fail(c, err)
	}
	c.checkoutID = co.ID.String()
	co, err = h.ensureStarted(c.ctx, co)
	if errors.Is(err, errStart) {
		h.log.ErrorContext(c.ctx, "start checkout", "request_id", c.requestID, "user", c.principal.UserID,
			"checkout_id", c.checkoutID, "err", err)
		return unavailable("the checkout was recorded but could not be started; retry with the same Idempotency-Key")
	}
	if err != nil {
		return h.fail(c, err)
	}
	if checkout.IsFinal(co.Status) {
		return jsonResponse(http.StatusOK, checkoutBody(co))
	}
	return jsonResponse(http.StatusAccepted, checkoutBody(co)).
		with("Location", "/v1/checkouts/"+co.ID.String()).
		with("Retry-After", "1")
}

// lockClass namespaces the advisory locks taken by ensureStarted.
const lockClass = 0x43484b54 // "CHKT"

// ensureStarted makes sure a pending checkout has its execution, or ends it
// on the sold-out fast path. Concurrent callers for the same checkout are
// serialized by a PostgreSQL advisory lock and re-read the checkout under
// it, so exactly one of them decides; a checkout that is final, already has
// an execution or is past pending is returned as is.
//
// Errors wrap errStart when the execution could not be started or recorded
// (the checkout stays pending, and the next call tries again).
func (h *Handler) ensureStarted(ctx context.Context, co checkout.Checkout) (checkout.Checkout, error) {
	if co.Status != checkout.StatusPending || co.ExecutionID != "" {
		return co, nil
	}
	// Each holder of the lock's connection needs one more connection at a
	// time; bounding the holders to half the pool means they can never
	// starve each other.
	select {
	case h.starting <- struct{}{}:
		defer func() { <-h.starting }()
	case <-ctx.Done():
		return co, fmt.Errorf("%w: %w", errStart, ctx.Err())
	}
	conn, err := h.d.Pool.Acquire(ctx)
	if err != nil {
		return co, fmt.Errorf("%w: acquire connection: %w", errStart, err)
	}
	defer conn.Release()
	objID := int32(binary.BigEndian.Uint32(co.ID[:4]) ^ binary.BigEndian.Uint32(co.ID[12:]))
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1, $2)`, int32(lockClass), objID); err != nil {
		return co, fmt.Errorf("%w: lock: %w", errStart, err)
	}
	defer func() {
		// On failure the session ends with the broken connection and the
		// lock goes with it.
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1, $2)`, int32(lockClass), objID)
	}()
	if co, err = h.d.Checkouts.Get(ctx, co.ID); err != nil {
		return co, err
	}
	if co.Status != checkout.StatusPending || co.ExecutionID != "" {
		return co, nil
	}
	short, err := h.shortage(ctx, co)
	if err != nil {
		return co, err
	}
	if short != "" {
		if err := h.d.Checkouts.Finish(ctx, co.ID, checkout.StatusFailed, "out_of_stock", short); err != nil {
			return co, err
		}
		return h.d.Checkouts.Get(ctx, co.ID)
	}
	input, err := json.Marshal(saga.StateFor(co))
	if err != nil {
		return co, fmt.Errorf("marshal state: %w", err)
	}
	arn, err := h.d.Executions.Start(ctx, co.ID.String(), input)
	if err != nil {
		return co, fmt.Errorf("%w: %w", errStart, err)
	}
	if err := h.d.Checkouts.SetExecution(ctx, co.ID, arn); err != nil {
		return co, fmt.Errorf("%w: %w", errStart, err)
	}
	co.ExecutionID = arn
	return co, nil
}

// shortage returns why co cannot be served from the stock available now
// ("" when every line can be), for the sold-out fast path: one lock-free
// read for all lines (inventory.Store.Available), or none when the store's
// sold-out cache knows every SKU. The saga's reservation stays the
// authority: stock that looks available here may be gone when it reserves.
func (h *Handler) shortage(ctx context.Context, co checkout.Checkout) (string, error) {
	skus := make([]string, len(co.Items))
	for i, it := range co.Items {
		skus[i] = it.SKU
	}
	avail, err := h.d.Inventory.Available(ctx, skus)
	if err != nil {
		return "", err
	}
	for _, it := range co.Items {
		if a := avail[it.SKU]; a < it.Quantity {
			return fmt.Sprintf("%s is out of stock: %d requested, %d available", it.SKU, it.Quantity, max(a, 0)), nil
		}
	}
	return "", nil
}

// getCheckout: GET /v1/checkouts/{id}[?wait=N]. Another user's checkout is
// 404. With wait, it answers as soon as the checkout is final or after N
// seconds (at most 20, and never past the request's own deadline).
func (h *Handler) getCheckout(c *call) response {
	id, err := uuid.Parse(c.params["id"])
	if err != nil {
		return errorResponse(http.StatusNotFound, "not_found", "no checkout "+c.params["id"], nil)
	}
	c.checkoutID = id.String()
	wait, r := waitParam(c)
	if r != nil {
		return *r
	}
	var co checkout.Checkout
	if wait > 0 {
		if dl, ok := c.ctx.Deadline(); ok {
			wait = min(wait, time.Until(dl)-500*time.Millisecond)
		}
		co, err = h.d.Checkouts.Wait(c.ctx, id, c.principal.UserID, wait)
		if err != nil && co.ID != uuid.Nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
			err = nil
		}
	} else {
		co, err = h.d.Checkouts.GetForUser(c.ctx, id, c.principal.UserID)
	}
	if err != nil {
		return h.fail(c, err)
	}
	return jsonResponse(http.StatusOK, checkoutBody(co))
}

func waitParam(c *call) (time.Duration, *response) {
	v, ok := query(c.req, "wait")
	if !ok || v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || time.Duration(n)*time.Second > MaxWait {
		r := fromError(apperr.InvalidField("wait", "must be a whole number of seconds from 0 to %d", int(MaxWait/time.Second)))
		return 0, &r
	}
	return time.Duration(n) * time.Second, nil
}

// getOrder: GET /v1/orders/{id}; another user's order is 404.
func (h *Handler) getOrder(c *call) response {
	id, err := uuid.Parse(c.params["id"])
	if err != nil {
		return errorResponse(http.StatusNotFound, "not_found", "no order "+c.params["id"], nil)
	}
	o, err := h.d.Orders.GetForUser(c.ctx, id, c.principal.UserID)
	if err != nil {
		return h.fail(c, err)
	}
	c.checkoutID = o.CheckoutID.String()
	return jsonResponse(http.StatusOK, o)
}
