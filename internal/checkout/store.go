// Package checkout records checkouts: create-or-get by (user, idempotency
// key), the request fingerprint that detects a reused key, and the status a
// checkout moves through until it is final.
package checkout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/catalog"
	"github.com/checkout-dev/checkout/internal/postgres"
	"github.com/checkout-dev/checkout/internal/tracing"
)

// PricedItem is a cart line priced from the catalog when the checkout was recorded.
type PricedItem struct {
	SKU        string `json:"sku"`
	Quantity   int    `json:"quantity"`
	UnitAmount int64  `json:"unit_amount"`
}

// Checkout is a recorded checkout.
type Checkout struct {
	ID             uuid.UUID
	UserID         string
	IdempotencyKey string
	Status         Status
	FailureCode    string
	FailureMessage string
	Amount         int64
	Currency       string
	PaymentMethod  string
	Items          []PricedItem
	OrderID        *uuid.UUID // set once the order exists (checkouts.order_id)
	ExecutionID    string
	// Compensating is set once the saga claimed the checkout for
	// compensation (BeginCompensationTx): no order can be made for it.
	Compensating bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
	// Traceparent is the W3C traceparent of the request that created the
	// checkout: its trace is the checkout's (internal/tracing).
	Traceparent string
}

// Request returns the checkout's cart as the client sent it.
func (c Checkout) Request() Request {
	r := Request{Currency: c.Currency, PaymentMethod: c.PaymentMethod}
	for _, it := range c.Items {
		r.Items = append(r.Items, Item{SKU: it.SKU, Quantity: it.Quantity})
	}
	return r
}

// Store reads and writes checkouts.
type Store struct {
	pool          *pgxpool.Pool
	maxUnfinished int
	status        *statusHub // wakes Wait when a status notification arrives
}

// NewStore returns a Store on pool, allowing DefaultMaxUnfinished
// unfinished checkouts per customer.
func NewStore(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool, maxUnfinished: DefaultMaxUnfinished, status: newStatusHub()}
}

// CreateOrGet records a checkout for (userID, key), pricing req from the
// catalog, or returns the checkout already recorded for that pair.
//
// Guarantees: concurrent calls with the same (userID, key) create at most one
// checkout, and all of them return it. created reports whether this call
// created it.
//
// Errors: apperr Invalid naming the field (bad key, bad request, unknown SKU,
// a currency other than the catalog's, a total over MaxChargeAmount) with
// nothing written; apperr Conflict with code "idempotency_key_reused" when
// the key was used for another request, with nothing written; apperr State
// with CodeTooManyUnfinished or CodePurchaseLimit when a new checkout would
// break a customer limit (see checkLimits), with nothing written. A retry
// with the key of an existing checkout returns it without any limit check.
func (s *Store) CreateOrGet(ctx context.Context, userID, key string, req Request) (c Checkout, created bool, err error) {
	if userID == "" || len(userID) > 255 {
		return Checkout{}, false, apperr.InvalidField("user", "the token's subject must be 1 to 255 characters")
	}
	if err := ValidateKey(key); err != nil {
		return Checkout{}, false, err
	}
	if err := req.Validate(); err != nil {
		return Checkout{}, false, err
	}
	traceparent := tracing.Traceparent(ctx) // the request's: the saga's states are its children
	ctx, span := tracing.StartSQL(ctx, "checkout.create")
	defer func() { tracing.End(span, err) }()
	fp := Fingerprint(req)
	err = postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		existing, found, err := getByKey(ctx, tx, userID, key)
		if err != nil {
			return err
		}
		if found {
			c = existing
			return sameRequest(existing, fp)
		}
		items, amount, caps, err := price(ctx, tx, req)
		if err != nil {
			return err
		}
		if err := s.checkLimits(ctx, tx, userID, items, caps); err != nil {
			return err
		}
		id := uuid.New()
		tag, err := tx.Exec(ctx, `
			INSERT INTO checkouts (id, user_id, idempotency_key, request_fingerprint, amount, currency, payment_method, traceparent)
			VALUES ($1, $2, $3, $4, $5, $6, $7, nullif($8, ''))
			ON CONFLICT (user_id, idempotency_key) DO NOTHING`,
			id, userID, key, fp, amount, req.Currency, req.PaymentMethod, traceparent)
		if err != nil {
			return fmt.Errorf("checkout: insert: %w", err)
		}
		if tag.RowsAffected() == 0 {
			// A concurrent request with the same key committed first; ours
			// waited for it on the unique index and now sees its row.
			existing, _, err := getByKey(ctx, tx, userID, key)
			if err != nil {
				return err
			}
			c = existing
			return sameRequest(existing, fp)
		}
		for _, it := range items {
			if _, err := tx.Exec(ctx, `INSERT INTO checkout_items (checkout_id, sku, quantity, unit_amount) VALUES ($1, $2, $3, $4)`,
				id, it.SKU, it.Quantity, it.UnitAmount); err != nil {
				return fmt.Errorf("checkout: insert item: %w", err)
			}
		}
		created = true
		c, err = get(ctx, tx, id)
		return err
	})
	if err != nil {
		return Checkout{}, false, err
	}
	return c, created, nil
}

func sameRequest(c Checkout, fp []byte) error {
	if !bytes.Equal(Fingerprint(c.Request()), fp) {
		return &apperr.Error{Kind: apperr.Conflict, Code: "idempotency_key_reused",
			Message: "this Idempotency-Key was already used for a different request; use a new key for a new checkout",
			Details: map[string]any{"checkout_id": c.ID.String()}}
	}
	return nil
}

// MaxChargeAmount is the largest amount one card payment can carry: Stripe
// refuses more than eight digits of minor units (99,999,999 in any
// currency). A checkout above it is refused when it is created, before any
// stock is held, rather than failing later as payment_failed.
const MaxChargeAmount = 99_999_999

// price looks up every SKU in the catalog and returns the priced lines,
// their total and each SKU's max_per_customer (0: none). Unknown SKUs and
// currency mismatches are Invalid.
func price(ctx context.Context, tx pgx.Tx, req Request) ([]PricedItem, int64, map[string]int, error) {
	skus := make([]string, len(req.Items))
	for i, it := range req.Items {
		skus[i] = it.SKU
	}
	products, err := catalog.ProductsTx(ctx, tx, skus)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("checkout: price: %w", err)
	}
	var total int64
	out := make([]PricedItem, len(req.Items))
	caps := map[string]int{}
	for i, it := range req.Items {
		p, ok := products[it.SKU]
		if !ok {
			return nil, 0, nil, apperr.InvalidField(fmt.Sprintf("items[%d].sku", i), "unknown SKU %q", it.SKU)
		}
		if p.Currency != req.Currency {
			return nil, 0, nil, apperr.InvalidField("currency", "%q is priced in %s, not %s; one checkout uses one currency", it.SKU, p.Currency, req.Currency)
		}
		if p.Amount > 0 && int64(it.Quantity) > (math.MaxInt64-total)/p.Amount {
			return nil, 0, nil, apperr.InvalidField("items", "the total amount is too large")
		}
		total += int64(it.Quantity) * p.Amount
		out[i] = PricedItem{SKU: it.SKU, Quantity: it.Quantity, UnitAmount: p.Amount}
		caps[it.SKU] = p.MaxPerCustomer
	}
	if total > MaxChargeAmount {
		return nil, 0, nil, &apperr.Error{Kind: apperr.Invalid, Code: "amount_too_large", Field: "items",
			Message: fmt.Sprintf("the total is %d minor units; a single card payment can be at most %d; split the order", total, int64(MaxChargeAmount)),
			Details: map[string]any{"amount": total, "limit": int64(MaxChargeAmount)}}
	}
	return out, total, caps, nil
}

// selectCheckout reads a checkout, its order's id and its items (as arrays
// in SKU order) in one statement: the saga's steps and the API's polls read
// a checkout several times per checkout.
const selectCheckout = `
	SELECT c.id, c.user_id, c.idempotency_key, c.status, coalesce(c.failure_code, ''), coalesce(c.failure_message, ''),
	       c.amount, c.currency, c.payment_method, coalesce(c.execution_id, ''), c.created_at, c.updated_at, c.order_id,
	       c.compensation_started_at IS NOT NULL, coalesce(c.traceparent, ''),
	       coalesce(i.skus, '{}'), coalesce(i.quantities, '{}'), coalesce(i.unit_amounts, '{}')
	FROM checkouts c
	LEFT JOIN LATERAL (SELECT array_agg(sku ORDER BY sku) AS skus, array_agg(quantity ORDER BY sku) AS quantities,
	                          array_agg(unit_amount ORDER BY sku) AS unit_amounts
	                   FROM checkout_items WHERE checkout_id = c.id) i ON true`

func scanCheckout(row pgx.Row) (Checkout, error) {
	var c Checkout
	var skus []string
	var quantities []int
	var amounts []int64
	err := row.Scan(&c.ID, &c.UserID, &c.IdempotencyKey, &c.Status, &c.FailureCode, &c.FailureMessage,
		&c.Amount, &c.Currency, &c.PaymentMethod, &c.ExecutionID, &c.CreatedAt, &c.UpdatedAt, &c.OrderID, &c.Compensating, &c.Traceparent,
		&skus, &quantities, &amounts)
	if err != nil {
		return c, err
	}
	if len(quantities) != len(skus) || len(amounts) != len(skus) {
		return c, fmt.Errorf("checkout %s: items read as %d skus, %d quantities, %d amounts", c.ID, len(skus), len(quantities), len(amounts))
	}
	c.Items = make([]PricedItem, len(skus))
	for i := range skus {
		c.Items[i] = PricedItem{SKU: skus[i], Quantity: quantities[i], UnitAmount: amounts[i]}
	}
	return c, nil
}

func getByKey(ctx context.Context, q postgres.Querier, userID, key string) (Checkout, bool, error) {
	c, err := scanCheckout(q.QueryRow(ctx, selectCheckout+` WHERE c.user_id = $1 AND c.idempotency_key = $2`, userID, key))
	if errors.Is(err, pgx.ErrNoRows) {
		return Checkout{}, false, nil
	}
	if err != nil {
		return Checkout{}, false, fmt.Errorf("checkout: get by key: %w", err)
	}
	return c, true, nil
}

func get(ctx context.Context, q postgres.Querier, id uuid.UUID) (Checkout, error) {
	c, err := scanCheckout(q.QueryRow(ctx, selectCheckout+` WHERE c.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Checkout{}, apperr.E(apperr.NotFound, "not_found", "no checkout %s", id)
	}
	if err != nil {
		return Checkout{}, fmt.Errorf("checkout: get: %w", err)
	}
	return c, nil
}

// Get returns the checkout id. Errors: apperr NotFound.
func (s *Store) Get(ctx context.Context, id uuid.UUID) (Checkout, error) {
	return get(ctx, s.pool, id)
}

// GetForUser returns checkout id if it belongs to userID. Another user's
// checkout is reported as NotFound, so ids cannot be probed.
func (s *Store) GetForUser(ctx context.Context, id uuid.UUID, userID string) (Checkout, error) {
	c, err := s.Get(ctx, id)
	if err == nil && c.UserID != userID {
		return Checkout{}, apperr.E(apperr.NotFound, "not_found", "no checkout %s", id)
	}
	return c, err
}

// Wait returns checkout id once its status is final or requires_action
// (the customer must act), or when d has passed, whichever comes first
// (WaitFrom on the primary). It returns the latest state on timeout; ctx
// cancellation returns ctx's error.
func (s *Store) Wait(ctx context.Context, id uuid.UUID, userID string, d time.Duration) (Checkout, error) {
	return s.WaitFrom(ctx, id, d, s.Source(id, userID))
}

// Source reads checkout id of userID (GetForUser) from s's pool, as the
// primary's answer.
func (s *Store) Source(id uuid.UUID, userID string) Source {
	return func(ctx context.Context, _ bool) (Checkout, bool, error) {
		c, err := s.GetForUser(ctx, id, userID)
		return c, true, err
	}
}

// SetExecution records the state machine execution that runs checkout id.
// Idempotent.
func (s *Store) SetExecution(ctx context.Context, id uuid.UUID, executionID string) error {
	_, err := s.pool.Exec(ctx, `UPDATE checkouts SET execution_id = $2, updated_at = now() WHERE id = $1 AND execution_id IS DISTINCT FROM $2`, id, executionID)
	if err != nil {
		return fmt.Errorf("checkout: set execution: %w", err)
	}
	return nil
}
