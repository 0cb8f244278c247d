package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/internal/apperr"
	cartstore "github.com/checkout-dev/checkout/internal/cart"
	"github.com/checkout-dev/checkout/internal/catalog"
	"github.com/checkout-dev/checkout/internal/checkout"
)

// CartLine is a cart line as the API shows it: priced from the catalog now.
type CartLine struct {
	SKU        string `json:"sku"`
	Name       string `json:"name"`
	Quantity   int    `json:"quantity"`
	UnitAmount int64  `json:"unit_amount"`
	Amount     int64  `json:"amount"`
}

// CartBody is a cart as the API shows it. Currency and Total are set once
// the cart has a line (a cart holds one currency).
type CartBody struct {
	CartID    string     `json:"cart_id"`
	ExpiresAt time.Time  `json:"expires_at"`
	Lines     []CartLine `json:"lines"`
	Currency  string     `json:"currency,omitempty"`
	Total     int64      `json:"total"`
}

// cartsUnavailable answers cart routes when the API runs without Redis.
func cartsUnavailable() response {
	return unavailable("carts need the Redis layer, which this deployment does not have (REDIS_URL)")
}

// cartID reads the {id} path parameter as a cart id.
func cartID(c *call) (uuid.UUID, *response) { return idParam(c) }

// postCart: POST /v1/carts creates an empty cart for the caller.
func (h *Handler) postCart(c *call) response {
	if h.d.Carts == nil {
		return cartsUnavailable()
	}
	ct, err := h.d.Carts.Create(c.ctx, c.principal.UserID)
	if err != nil {
		return h.fail(c, err)
	}
	return jsonResponse(http.StatusCreated, CartBody{CartID: ct.ID.String(), ExpiresAt: ct.ExpiresAt, Lines: []CartLine{}}).
		with("Location", "/v1/carts/"+ct.ID.String())
}

// getCart: GET /v1/carts/{id}: the lines with current prices and the total.
// Another user's cart, an expired one and an unknown one are 404.
func (h *Handler) getCart(c *call) response {
	if h.d.Carts == nil {
		return cartsUnavailable()
	}
	id, r := cartID(c)
	if r != nil {
		return *r
	}
	ct, err := h.d.Carts.Get(c.ctx, id, c.principal.UserID)
	if err != nil {
		return h.fail(c, err)
	}
	body, err := h.priceCart(c.ctx, ct)
	if err != nil {
		return h.fail(c, err)
	}
	return jsonResponse(http.StatusOK, body)
}

// cartItemInput is the body of PUT /v1/carts/{id}/items/{sku}.
type cartItemInput struct {
	Quantity *int `json:"quantity"`
}

// putCartItem: PUT /v1/carts/{id}/items/{sku} {"quantity": N} sets a line
// (0 removes it). The SKU must be in the catalog and in the cart's
// currency. Bad input writes nothing.
func (h *Handler) putCartItem(c *call) response {
	if h.d.Carts == nil {
		return cartsUnavailable()
	}
	id, r := cartID(c)
	if r != nil {
		return *r
	}
	sku := c.params["sku"]
	if !catalog.ValidSKU(sku) {
		return h.fail(c, apperr.InvalidField("sku", "%q is not a valid SKU", sku))
	}
	var in cartItemInput
	if r := h.decodeBody(c, &in); r != nil {
		return *r
	}
	if in.Quantity == nil {
		return h.fail(c, apperr.InvalidField("quantity", "is required (0 removes the line)"))
	}
	if *in.Quantity < 0 || *in.Quantity > cartstore.MaxQuantity {
		return h.fail(c, apperr.InvalidField("quantity", "must be between 0 and %d, got %d", cartstore.MaxQuantity, *in.Quantity))
	}
	ct, err := h.d.Carts.Get(c.ctx, id, c.principal.UserID)
	if err != nil {
		return h.fail(c, err)
	}
	if *in.Quantity > 0 {
		p, err := h.d.Catalog.Get(c.ctx, sku)
		if apperr.KindOf(err) == apperr.NotFound {
			return h.fail(c, apperr.InvalidField("sku", "unknown SKU %q", sku))
		}
		if err != nil {
			return h.fail(c, err)
		}
		if cur, err := h.cartCurrency(c.ctx, ct, sku); err != nil {
			return h.fail(c, err)
		} else if cur != "" && cur != p.Currency {
			return h.fail(c, apperr.InvalidField("sku", "%q is priced in %s and the cart in %s; a cart holds one currency", sku, p.Currency, cur))
		}
	}
	if ct, err = h.d.Carts.SetLine(c.ctx, id, c.principal.UserID, sku, *in.Quantity); err != nil {
		return h.fail(c, err)
	}
	body, err := h.priceCart(c.ctx, ct)
	if err != nil {
		return h.fail(c, err)
	}
	return jsonResponse(http.StatusOK, body)
}

// deleteCart: DELETE /v1/carts/{id}.
func (h *Handler) deleteCart(c *call) response {
	if h.d.Carts == nil {
		return cartsUnavailable()
	}
	id, r := cartID(c)
	if r != nil {
		return *r
	}
	if err := h.d.Carts.Delete(c.ctx, id, c.principal.UserID); err != nil {
		return h.fail(c, err)
	}
	return response{status: http.StatusNoContent}
}

// cartCurrency is the currency of the cart's lines other than skip ("" for
// none).
func (h *Handler) cartCurrency(ctx context.Context, ct cartstore.Cart, skip string) (string, error) {
	for _, l := range ct.Lines {
		if l.SKU == skip {
			continue
		}
		p, err := h.d.Catalog.Get(ctx, l.SKU)
		if err != nil {
			return "", err
		}
		return p.Currency, nil
	}
	return "", nil
}

// priceCart prices the cart's lines from the catalog now.
func (h *Handler) priceCart(ctx context.Context, ct cartstore.Cart) (CartBody, error) {
	b := CartBody{CartID: ct.ID.String(), ExpiresAt: ct.ExpiresAt, Lines: []CartLine{}}
	for _, l := range ct.Lines {
		p, err := h.d.Catalog.Get(ctx, l.SKU)
		if err != nil {
			return b, err
		}
		b.Currency = p.Currency
		line := CartLine{SKU: l.SKU, Name: p.Name, Quantity: l.Quantity, UnitAmount: p.Amount, Amount: p.Amount * int64(l.Quantity)}
		b.Total += line.Amount
		b.Lines = append(b.Lines, line)
	}
	return b, nil
}

// checkoutInput is the body of POST /v1/checkouts: the items, or the
// cart_id of the caller's cart whose lines are the items.
type checkoutInput struct {
	Items         []checkout.Item `json:"items"`
	CartID        *string         `json:"cart_id"`
	Currency      string          `json:"currency"`
	PaymentMethod string          `json:"payment_method"`
}

// request turns the input into a checkout request, reading the cart when
// one is named. fromCart is the cart and the version the checkout is made
// from (to clear it once the checkout completes).
func (h *Handler) request(c *call, in checkoutInput) (req checkout.Request, fromCart *cartstore.Cart, err error) {
	req = checkout.Request{Items: in.Items, Currency: in.Currency, PaymentMethod: in.PaymentMethod}
	if in.CartID == nil {
		return req, nil, nil
	}
	if in.Items != nil {
		return req, nil, apperr.InvalidField("cart_id", "give items or cart_id, not both")
	}
	if h.d.Carts == nil {
		return req, nil, apperr.E(apperr.Unavailable, "redis_unavailable", "carts need the Redis layer")
	}
	id, perr := uuid.Parse(*in.CartID)
	if perr != nil || len(*in.CartID) != 36 {
		return req, nil, apperr.InvalidField("cart_id", "must be a cart id (UUID)")
	}
	ct, err := h.d.Carts.Get(c.ctx, id, c.principal.UserID)
	if apperr.KindOf(err) == apperr.NotFound {
		return req, nil, apperr.InvalidField("cart_id", "no cart %s of yours (expired, deleted or never made)", id)
	}
	if err != nil {
		return req, nil, err
	}
	if len(ct.Lines) == 0 {
		return req, nil, apperr.InvalidField("cart_id", "the cart is empty")
	}
	req.Items = make([]checkout.Item, len(ct.Lines))
	for i, l := range ct.Lines {
		req.Items[i] = checkout.Item{SKU: l.SKU, Quantity: l.Quantity}
	}
	return req, &ct, nil
}

// cartLinkTTL bounds how long the API remembers which cart a checkout came
// from (longer than any checkout lives).
const cartLinkTTL = 48 * time.Hour

func cartLinkKey(checkoutID string) string { return "cartof:" + checkoutID }

// rememberCart notes the cart (and its version) a checkout was made from.
func (h *Handler) rememberCart(c *call, checkoutID string, ct *cartstore.Cart) {
	if ct == nil || h.d.CartLinks == nil {
		return
	}
	v := ct.ID.String() + ":" + strconv.FormatInt(ct.Version, 10)
	if err := h.d.CartLinks.Set(c.ctx, cartLinkKey(checkoutID), v, cartLinkTTL).Err(); err != nil {
		h.log.WarnContext(c.ctx, "cart: could not remember the checkout's cart; it will not be cleared", "checkout_id", checkoutID, "err", err)
	}
}

// clearCartOf empties the cart a completed checkout was made from (if it
// is still at the version the checkout was made from: lines added since
// stay). Best effort, once: the link is deleted when done.
func (h *Handler) clearCartOf(c *call, co checkout.Checkout) {
	if co.Status != checkout.StatusCompleted || h.d.CartLinks == nil || h.d.Carts == nil {
		return
	}
	key := cartLinkKey(co.ID.String())
	v, err := h.d.CartLinks.GetDel(c.ctx, key).Result()
	if err != nil || v == "" {
		return
	}
	idText, verText, _ := strings.Cut(v, ":")
	id, err1 := uuid.Parse(idText)
	ver, err2 := strconv.ParseInt(verText, 10, 64)
	if err1 != nil || err2 != nil {
		return
	}
	if _, err := h.d.Carts.Clear(c.ctx, id, co.UserID, ver); err != nil {
		h.log.WarnContext(c.ctx, "cart: could not clear the cart of a completed checkout", "checkout_id", co.ID, "cart_id", id, "err", fmt.Sprint(err))
	}
}
