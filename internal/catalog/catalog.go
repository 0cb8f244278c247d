// Package catalog owns the products table: what is sold and at what price.
// Prices come from here, never from the client. Every change is audited in
// the transaction that makes it; a new product gets its (empty) inventory
// row from the inventory package in the same transaction.
package catalog

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/audit"
	"github.com/checkout-dev/checkout/internal/inventory"
	"github.com/checkout-dev/checkout/internal/postgres"
)

// MaxAmount bounds a catalog price (minor units).
const MaxAmount = 999_999_999_999

var (
	skuPattern      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)
)

// ValidSKU reports whether sku is well formed (1 to 64 of A-Z, a-z, 0-9,
// '.', '_', '-', starting with a letter or digit).
func ValidSKU(sku string) bool { return skuPattern.MatchString(sku) }

// Product is a catalog entry. Amount is in minor units of Currency.
// MaxPerCustomer caps the units one customer may buy (over all their
// checkouts that did not fail); 0 means no cap.
type Product struct {
	SKU            string `json:"sku"`
	Name           string `json:"name"`
	Amount         int64  `json:"amount"`
	Currency       string `json:"currency"`
	MaxPerCustomer int    `json:"max_per_customer,omitempty"`
}

// MaxPerCustomerLimit bounds MaxPerCustomer (a checkout line holds at most
// 1000 units anyway).
const MaxPerCustomerLimit = 1000

// Validate checks p's fields in order (sku, name, amount, currency); the
// error is an apperr Invalid naming the first bad one.
func (p Product) Validate() error {
	if !ValidSKU(p.SKU) {
		return apperr.InvalidField("sku", "%q is not a valid SKU", p.SKU)
	}
	for _, err := range []error{CheckName(p.Name), CheckAmount(p.Amount), CheckCurrency(p.Currency), CheckMaxPerCustomer(p.MaxPerCustomer)} {
		if err != nil {
			return err
		}
	}
	return nil
}

// CheckMaxPerCustomer checks a purchase cap: 0 (none) to MaxPerCustomerLimit.
func CheckMaxPerCustomer(n int) error {
	if n < 0 || n > MaxPerCustomerLimit {
		return apperr.InvalidField("max_per_customer", "must be between 1 and %d units, or 0 for no limit", MaxPerCustomerLimit)
	}
	return nil
}

// CheckName checks a product name: 1 to 200 characters of valid UTF-8, with
// no control characters (NUL included: PostgreSQL text cannot hold it) and
// no bidirectional formatting characters (which can make a name read as
// another on a receipt or an admin screen).
func CheckName(name string) error {
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) < 1 || utf8.RuneCountInString(name) > 200 {
		return apperr.InvalidField("name", "must be 1 to 200 characters")
	}
	for i, r := range name {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\uFEFF' {
			return apperr.InvalidField("name", "must not contain control or bidirectional formatting characters (found U+%04X at byte %d)", r, i)
		}
	}
	return nil
}

// CheckAmount checks a price: 0 to MaxAmount minor units.
func CheckAmount(amount int64) error {
	if amount < 0 || amount > MaxAmount {
		return apperr.InvalidField("amount", "must be between 0 and %d minor units", int64(MaxAmount))
	}
	return nil
}

// CheckCurrency checks an ISO-4217 code in upper case.
func CheckCurrency(currency string) error {
	if !currencyPattern.MatchString(currency) {
		return apperr.InvalidField("currency", "must be an ISO-4217 code in upper case, like \"USD\"")
	}
	return nil
}

// Store reads and writes the catalog.
type Store struct {
	pool *pgxpool.Pool
}

// NewStore returns a Store on pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Get returns the product sku. Errors: apperr NotFound.
func (s *Store) Get(ctx context.Context, sku string) (Product, error) {
	p, found, err := GetTx(ctx, s.pool, sku, false)
	if err == nil && !found {
		err = apperr.E(apperr.NotFound, "not_found", "no product with SKU %s", sku)
	}
	return p, err
}

// GetTx reads product sku through q; found is false when there is none.
// With lock (q must then be a transaction) the row is locked FOR UPDATE.
func GetTx(ctx context.Context, q postgres.Querier, sku string, lock bool) (p Product, found bool, err error) {
	sql := `SELECT name, amount, currency, coalesce(max_per_customer, 0) FROM products WHERE sku = $1`
	if lock {
		sql += ` FOR UPDATE`
	}
	p = Product{SKU: sku}
	err = q.QueryRow(ctx, sql, sku).Scan(&p.Name, &p.Amount, &p.Currency, &p.MaxPerCustomer)
	if errors.Is(err, pgx.ErrNoRows) {
		return Product{}, false, nil
	}
	if err != nil {
		return Product{}, false, fmt.Errorf("catalog: load %s: %w", sku, err)
	}
	return p, true, nil
}

// ProductsTx returns the products among skus, by SKU (unknown SKUs are
// absent), read through q: a checkout prices its cart with it, an order
// names its lines.
func ProductsTx(ctx context.Context, q postgres.Querier, skus []string) (map[string]Product, error) {
	rows, err := q.Query(ctx, `SELECT sku, name, amount, currency, coalesce(max_per_customer, 0) FROM products WHERE sku = ANY($1)`, skus)
	if err != nil {
		return nil, fmt.Errorf("catalog: products: %w", err)
	}
	out := make(map[string]Product, len(skus))
	for rows.Next() {
		var p Product
		if err := rows.Scan(&p.SKU, &p.Name, &p.Amount, &p.Currency, &p.MaxPerCustomer); err != nil {
			return nil, fmt.Errorf("catalog: products: %w", err)
		}
		out[p.SKU] = p
	}
	return out, rows.Err()
}

// Put creates product p (created=true, with an inventory row holding 0
// units) or updates it. Writing the same values again changes nothing.
// Every change writes one audit row under actor. Concurrent Puts of one SKU
// serialise on its row.
//
// Errors: apperr Invalid (p's fields; nothing written), Transient.
func (s *Store) Put(ctx context.Context, p Product, actor string) (created bool, err error) {
	if err := p.Validate(); err != nil {
		return false, err
	}
	err = postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		created, err = put(ctx, tx, p, actor, true)
		return err
	})
	return created, err
}

// PutIfMissing creates p if no product has its SKU, and never changes an
// existing one (a demo catalog seeded at every start keeps what a developer
// changed). created reports whether it did.
func (s *Store) PutIfMissing(ctx context.Context, p Product, actor string) (created bool, err error) {
	if err := p.Validate(); err != nil {
		return false, err
	}
	err = postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		created, err = put(ctx, tx, p, actor, false)
		return err
	})
	return created, err
}

func put(ctx context.Context, tx pgx.Tx, p Product, actor string, update bool) (created bool, err error) {
	for range 2 {
		prev, found, err := GetTx(ctx, tx, p.SKU, true)
		if err != nil {
			return false, err
		}
		if found {
			if prev == p || !update {
				return false, nil
			}
			if _, err := tx.Exec(ctx, `UPDATE products SET name = $2, amount = $3, currency = $4, max_per_customer = nullif($5, 0), updated_at = now() WHERE sku = $1`,
				p.SKU, p.Name, p.Amount, p.Currency, p.MaxPerCustomer); err != nil {
				return false, fmt.Errorf("catalog: update %s: %w", p.SKU, err)
			}
			return false, writeAudit(ctx, tx, actor, "product_updated", p, map[string]any{
				"previous": map[string]any{"name": prev.Name, "amount": prev.Amount, "currency": prev.Currency, "max_per_customer": prev.MaxPerCustomer}})
		}
		tag, err := tx.Exec(ctx, `INSERT INTO products (sku, name, amount, currency, max_per_customer) VALUES ($1, $2, $3, $4, nullif($5, 0)) ON CONFLICT (sku) DO NOTHING`,
			p.SKU, p.Name, p.Amount, p.Currency, p.MaxPerCustomer)
		if err != nil {
			return false, fmt.Errorf("catalog: insert %s: %w", p.SKU, err)
		}
		if tag.RowsAffected() == 0 {
			continue // a concurrent Put created it: look again
		}
		if err := inventory.CreateRowTx(ctx, tx, p.SKU); err != nil {
			return false, err
		}
		return true, writeAudit(ctx, tx, actor, "product_created", p, nil)
	}
	return false, apperr.E(apperr.Transient, "transient", "product %s changed concurrently", p.SKU)
}

func writeAudit(ctx context.Context, tx pgx.Tx, actor, action string, p Product, detail map[string]any) error {
	if detail == nil {
		detail = map[string]any{}
	}
	detail["name"] = p.Name
	if p.MaxPerCustomer > 0 {
		detail["max_per_customer"] = p.MaxPerCustomer
	}
	return audit.Write(ctx, tx, audit.Entry{Actor: actor, Action: action, SKU: p.SKU, Detail: detail}.Money(p.Amount, p.Currency))
}
