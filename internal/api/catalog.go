package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/inventory"
	"github.com/checkout-dev/checkout/internal/postgres"
)

// MaxAmount bounds a catalog price (minor units).
const MaxAmount = 999_999_999_999

var currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)

// Product is a catalog entry as the API shows it. Available is only set by
// GET /v1/products/{sku}.
type Product struct {
	SKU       string `json:"sku"`
	Name      string `json:"name"`
	Amount    int64  `json:"amount"`
	Currency  string `json:"currency"`
	Available *int   `json:"available,omitempty"`
}

// getProduct: GET /v1/products/{sku}: the catalog entry and the units
// available now (on hand minus reserved, never negative).
func (h *Handler) getProduct(c *call) response {
	sku := c.params["sku"]
	lvl, err := h.d.Inventory.Level(c.ctx, sku)
	if err != nil {
		return h.fail(c, err)
	}
	p, found, err := loadProduct(c.ctx, h.d.Pool, sku, false)
	if err == nil && !found {
		err = apperr.E(apperr.NotFound, "not_found", "no product with SKU %s", sku)
	}
	if err != nil {
		return h.fail(c, err)
	}
	avail := max(lvl.Available, 0)
	p.Available = &avail
	return jsonResponse(http.StatusOK, p)
}

// loadProduct reads the catalog entry of sku; found is false when there is
// none. With lock (q must then be a transaction) the row is locked FOR UPDATE.
func loadProduct(ctx context.Context, q postgres.Querier, sku string, lock bool) (p Product, found bool, err error) {
	sql := `SELECT name, amount, currency FROM products WHERE sku = $1`
	if lock {
		sql += ` FOR UPDATE`
	}
	p = Product{SKU: sku}
	err = q.QueryRow(ctx, sql, sku).Scan(&p.Name, &p.Amount, &p.Currency)
	if errors.Is(err, pgx.ErrNoRows) {
		return Product{}, false, nil
	}
	if err != nil {
		return Product{}, false, fmt.Errorf("load product %s: %w", sku, err)
	}
	return p, true, nil
}

// productInput is the body of PUT /v1/admin/products/{sku}; every field is
// required.
type productInput struct {
	Name     *string `json:"name"`
	Amount   *int64  `json:"amount"`
	Currency *string `json:"currency"`
}

func (in productInput) validate() error {
	switch {
	case in.Name == nil:
		return apperr.InvalidField("name", "is required")
	case utf8.RuneCountInString(*in.Name) < 1 || utf8.RuneCountInString(*in.Name) > 200 || !utf8.ValidString(*in.Name):
		return apperr.InvalidField("name", "must be 1 to 200 characters")
	case in.Amount == nil:
		return apperr.InvalidField("amount", "is required (minor units, like 1999 for 19.99)")
	case *in.Amount < 0 || *in.Amount > MaxAmount:
		return apperr.InvalidField("amount", "must be between 0 and %d minor units", int64(MaxAmount))
	case in.Currency == nil:
		return apperr.InvalidField("currency", "is required")
	case !currencyPattern.MatchString(*in.Currency):
		return apperr.InvalidField("currency", "must be an ISO-4217 code in upper case, like \"USD\"")
	}
	return nil
}

// putProduct: PUT /v1/admin/products/{sku} creates the catalog entry (201,
// with an inventory row holding 0 units) or updates it (200). Writing the
// same values again changes nothing. Every change writes one audit row.
func (h *Handler) putProduct(c *call) response {
	sku := c.params["sku"]
	if !skuPattern.MatchString(sku) {
		return h.fail(c, apperr.InvalidField("sku", "%q is not a valid SKU", sku))
	}
	var in productInput
	if r := h.decodeBody(c, &in); r != nil {
		return *r
	}
	if err := in.validate(); err != nil {
		return h.fail(c, err)
	}
	p := Product{SKU: sku, Name: *in.Name, Amount: *in.Amount, Currency: *in.Currency}
	var created bool
	err := postgres.InTx(c.ctx, h.d.Pool, func(tx pgx.Tx) error {
		var err error
		created, err = upsertProduct(c.ctx, tx, p, "admin:"+c.principal.UserID)
		return err
	})
	if err != nil {
		return h.fail(c, err)
	}
	if created {
		return jsonResponse(http.StatusCreated, p).with("Location", "/v1/products/"+sku)
	}
	return jsonResponse(http.StatusOK, p)
}

var skuPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func upsertProduct(ctx context.Context, tx pgx.Tx, p Product, actor string) (created bool, err error) {
	for range 2 {
		prev, found, err := loadProduct(ctx, tx, p.SKU, true)
		if err != nil {
			return false, err
		}
		if found {
			if prev == p {
				return false, nil
			}
			if _, err := tx.Exec(ctx, `UPDATE products SET name = $2, amount = $3, currency = $4, updated_at = now() WHERE sku = $1`,
				p.SKU, p.Name, p.Amount, p.Currency); err != nil {
				return false, fmt.Errorf("update product: %w", err)
			}
			return false, audit(ctx, tx, actor, "product_updated", p, map[string]any{
				"previous": map[string]any{"name": prev.Name, "amount": prev.Amount, "currency": prev.Currency}})
		}
		tag, err := tx.Exec(ctx, `INSERT INTO products (sku, name, amount, currency) VALUES ($1, $2, $3, $4) ON CONFLICT (sku) DO NOTHING`,
			p.SKU, p.Name, p.Amount, p.Currency)
		if err != nil {
			return false, fmt.Errorf("insert product: %w", err)
		}
		if tag.RowsAffected() == 0 {
			continue // a concurrent PUT created it: update it on the next pass
		}
		if _, err := tx.Exec(ctx, `INSERT INTO inventory (sku, on_hand) VALUES ($1, 0) ON CONFLICT (sku) DO NOTHING`, p.SKU); err != nil {
			return false, fmt.Errorf("create inventory row: %w", err)
		}
		return true, audit(ctx, tx, actor, "product_created", p, nil)
	}
	return false, apperr.E(apperr.Transient, "transient", "product %s changed concurrently", p.SKU)
}

func audit(ctx context.Context, tx pgx.Tx, actor, action string, p Product, detail map[string]any) error {
	if detail == nil {
		detail = map[string]any{}
	}
	detail["name"] = p.Name
	_, err := tx.Exec(ctx, `INSERT INTO audit_log (actor, action, sku, amount, currency, detail) VALUES ($1, $2, $3, $4, $5, $6)`,
		actor, action, p.SKU, p.Amount, p.Currency, detail)
	if err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}

// inventoryInput is the body of PUT /v1/admin/inventory/{sku}.
type inventoryInput struct {
	Quantity *int `json:"quantity"`
	Buckets  *int `json:"buckets"` // optional: split a hot SKU (inventory.SetBuckets)
}

// getInventory: GET /v1/admin/inventory/{sku}.
func (h *Handler) getInventory(c *call) response {
	lvl, err := h.d.Inventory.Level(c.ctx, c.params["sku"])
	if err != nil {
		return h.fail(c, err)
	}
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
