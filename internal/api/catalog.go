package api

import (
	"context"
	"net/http"
	"time"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/catalog"
	"github.com/checkout-dev/checkout/internal/inventory"
)

// productBody is a catalog entry as the API shows it. Available is only
// set by GET /v1/products/{sku}.
type productBody struct {
	catalog.Product
	Available *int `json:"available,omitempty"`
}

// getProduct: GET /v1/products/{sku}: the catalog entry (through the
// catalog cache when there is one) and the units available now (on hand
// minus reserved, never negative; read from the database, the read
// replica's when there is one, within its lag bound: reads.go).
func (h *Handler) getProduct(c *call) response {
	sku := c.params["sku"]
	// Only the stock level may come from the replica (it lags a buyer's
	// reservation by design); the product, whose name and price an admin
	// may have just changed, comes from the catalog cache or the primary.
	lvl, err := read(c.ctx, h, func(ctx context.Context, s stores) (inventory.Level, error) {
		return s.inventory.Level(ctx, sku)
	})
	var p catalog.Product
	if err == nil {
		if h.d.CatalogCache != nil {
			p, err = h.d.CatalogCache.Get(c.ctx, sku) // fills from the primary
		} else {
			p, err = h.d.Catalog.Get(c.ctx, sku)
		}
	}
	if err != nil {
		return h.fail(c, err)
	}
	avail := max(lvl.Available, 0)
	return jsonResponse(http.StatusOK, productBody{Product: p, Available: &avail})
}

// productInput is the body of PUT /v1/admin/products/{sku}; name, amount
// and currency are required, max_per_customer is optional (absent or 0: no
// cap; PUT replaces the product, so leaving it out removes a cap).
type productInput struct {
	Name           *string `json:"name"`
	Amount         *int64  `json:"amount"`
	Currency       *string `json:"currency"`
	MaxPerCustomer *int    `json:"max_per_customer"`
}

// product checks the fields in order, each given and valid, and returns
// the product.
func (in productInput) product(sku string) (catalog.Product, error) {
	switch {
	case in.Name == nil:
		return catalog.Product{}, apperr.InvalidField("name", "is required")
	case catalog.CheckName(*in.Name) != nil:
		return catalog.Product{}, catalog.CheckName(*in.Name)
	case in.Amount == nil:
		return catalog.Product{}, apperr.InvalidField("amount", "is required (minor units, like 1999 for 19.99)")
	case catalog.CheckAmount(*in.Amount) != nil:
		return catalog.Product{}, catalog.CheckAmount(*in.Amount)
	case in.Currency == nil:
		return catalog.Product{}, apperr.InvalidField("currency", "is required")
	}
	p := catalog.Product{SKU: sku, Name: *in.Name, Amount: *in.Amount, Currency: *in.Currency}
	if in.MaxPerCustomer != nil {
		p.MaxPerCustomer = *in.MaxPerCustomer
	}
	return p, p.Validate()
}

// putProduct: PUT /v1/admin/products/{sku} creates the catalog entry (201,
// with an inventory row holding 0 units) or updates it (200); see
// catalog.Store.Put.
func (h *Handler) putProduct(c *call) response {
	sku := c.params["sku"]
	if !catalog.ValidSKU(sku) {
		return h.fail(c, apperr.InvalidField("sku", "%q is not a valid SKU", sku))
	}
	var in productInput
	if r := h.decodeBody(c, &in); r != nil {
		return *r
	}
	p, err := in.product(sku)
	if err != nil {
		return h.fail(c, err)
	}
	created, err := h.d.Catalog.Put(c.ctx, p, "admin:"+c.principal.UserID)
	if err != nil {
		return h.fail(c, err)
	}
	h.invalidate(c, sku)
	if created {
		return jsonResponse(http.StatusCreated, p).with("Location", "/v1/products/"+sku)
	}
	return jsonResponse(http.StatusOK, p)
}

// inventoryInput is the body of PUT /v1/admin/inventory/{sku}.
type inventoryInput struct {
	Quantity *int `json:"quantity"`
	Buckets  *int `json:"buckets"` // optional: split a hot SKU (inventory.SetBuckets)
}

// getInventory: GET /v1/admin/inventory/{sku} (from the read replica when
// there is one, within its lag bound: reads.go).
func (h *Handler) getInventory(c *call) response {
	// From the primary: an admin reads what they just wrote.
	lvl, err := h.d.Inventory.Level(c.ctx, c.params["sku"])
	if err != nil {
		return h.fail(c, err)
	}
	h.invalidate(c, c.params["sku"])
	return jsonResponse(http.StatusOK, lvl)
}

// putInventory: PUT /v1/admin/inventory/{sku} sets the on-hand stock
// (inventory.SetOnHand, audited under the admin's id). 422 below_reserved
// when units are reserved above the new value.
func (h *Handler) putInventory(c *call) response {
	var in inventoryInput
	if r := h.decodeBody(c, &in); r != nil {
		return *r
	}
	if in.Quantity == nil {
		return h.fail(c, apperr.InvalidField("quantity", "is required"))
	}
	if in.Buckets != nil && (*in.Buckets < 1 || *in.Buckets > inventory.MaxBuckets) {
		return h.fail(c, apperr.InvalidField("buckets", "must be between 1 and %d", inventory.MaxBuckets))
	}
	store := h.d.Inventory.WithActor("admin:" + c.principal.UserID)
	lvl, err := store.SetOnHand(c.ctx, c.params["sku"], *in.Quantity)
	if err == nil && in.Buckets != nil {
		lvl, err = store.SetBuckets(c.ctx, c.params["sku"], *in.Buckets)
	}
	if err != nil {
		return h.fail(c, err)
	}
	return jsonResponse(http.StatusOK, lvl)
}

// health: GET /v1/health answers 200 {"status":"ok"} once the database
// answers a ping, else 503.
func (h *Handler) health(c *call) response {
	ctx, cancel := context.WithTimeout(c.ctx, 3*time.Second)
	defer cancel()
	if err := h.d.Pool.Ping(ctx); err != nil {
		h.log.WarnContext(c.ctx, "health: database unreachable", "request_id", c.requestID, "err", err)
		return unavailable("the database is not reachable")
	}
	return jsonResponse(http.StatusOK, map[string]string{"status": "ok"})
}

// invalidate drops sku's cached catalog entry after an admin change
// committed (a failure is logged: the entry then lives out its TTL).
func (h *Handler) invalidate(c *call, sku string) {
	if h.d.CatalogCache == nil {
		return
	}
	if err := h.d.CatalogCache.Invalidate(c.ctx, sku); err != nil {
		h.log.WarnContext(c.ctx, "catalog cache: could not invalidate; the entry expires with its TTL", "sku", sku, "err", err)
	}
}
