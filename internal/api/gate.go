package api

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/stockgate"
)

// The admin routes of the Redis stock gate (the gated strategy, see
// inventory.Store.ArmGate): /v1/admin/inventory/{sku}/gate.

// getGate: GET /v1/admin/inventory/{sku}/gate compares the SKU in the gate
// with the database (inventory.Store.GateStatus) and changes nothing.
func (h *Handler) getGate(c *call) response {
	st, err := h.d.Inventory.GateStatus(c.ctx, c.params["sku"])
	if err != nil {
		return h.gateFail(c, err)
	}
	return jsonResponse(http.StatusOK, st)
}

// putGate: PUT /v1/admin/inventory/{sku}/gate arms the SKU before a sale
// (inventory.Store.ArmGate, listed under the admin's id); arming an armed
// SKU repairs its figure. The body, if any, must be the empty object.
func (h *Handler) putGate(c *call) response {
	if r := h.emptyBody(c); r != nil {
		return *r
	}
	st, err := h.d.Inventory.WithActor("admin:"+c.principal.UserID).ArmGate(c.ctx, c.params["sku"])
	if err != nil {
		return h.gateFail(c, err)
	}
	return jsonResponse(http.StatusOK, st)
}

// deleteGate: DELETE /v1/admin/inventory/{sku}/gate disarms the SKU
// (inventory.Store.DisarmGate): its reserves go to the database alone.
// Idempotent.
func (h *Handler) deleteGate(c *call) response {
	st, err := h.d.Inventory.WithActor("admin:"+c.principal.UserID).DisarmGate(c.ctx, c.params["sku"])
	if err != nil {
		return h.gateFail(c, err)
	}
	return jsonResponse(http.StatusOK, st)
}

// emptyBody accepts no body (or only white space) without a Content-Type,
// and otherwise a JSON body that is the empty object: other members are
// unknown fields (400), another Content-Type 415.
func (h *Handler) emptyBody(c *call) *response {
	raw, r := body(c.req)
	if r != nil {
		return r
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	var none struct{}
	return h.decodeBody(c, &none)
}

// gateFail answers a gate route's error: no gate configured, or a Redis
// that does not answer, is 503 gate_unavailable (with Retry-After when
// retrying may help); everything else as every route answers it.
func (h *Handler) gateFail(c *call, err error) response {
	if ae := apperr.As(err); ae != nil && ae.Code == "gate_unavailable" {
		return errorResponse(http.StatusServiceUnavailable, "gate_unavailable", ae.Message, nil)
	}
	if errors.Is(err, stockgate.ErrUnavailable) {
		h.log.WarnContext(c.ctx, "stock gate unavailable", "request_id", c.requestID, "sku", c.params["sku"], "err", err)
		return errorResponse(http.StatusServiceUnavailable, "gate_unavailable", "the stock gate (Redis) is not answering; retry shortly", nil).
			with("Retry-After", strconv.Itoa(retryAfterSeconds))
	}
	return h.fail(c, err)
}
