// Package order turns a paid checkout into an order in one transaction.
package order

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/audit"
	"github.com/checkout-dev/checkout/internal/catalog"
	"github.com/checkout-dev/checkout/internal/checkout"
	"github.com/checkout-dev/checkout/internal/inventory"
	"github.com/checkout-dev/checkout/internal/payment"
	"github.com/checkout-dev/checkout/internal/postgres"
	"github.com/checkout-dev/checkout/internal/tracing"
)

// Item is one order line, priced and named as sold.
type Item struct {
	SKU        string `json:"sku"`
	Name       string `json:"name"`
	Quantity   int    `json:"quantity"`
	UnitAmount int64  `json:"unit_amount"`
}

// Status is an order's status.
type Status string

// Order statuses.
const (
	StatusConfirmed Status = "confirmed" // paid for and its stock committed
	StatusCancelled Status = "cancelled" // cancelled after it was confirmed (by a person)
)

// Order is a confirmed order.
type Order struct {
	ID            uuid.UUID `json:"order_id"`
	CheckoutID    uuid.UUID `json:"checkout_id"`
	UserID        string    `json:"user_id"`
	Status        Status    `json:"status"`
	Amount        int64     `json:"amount"`
	Currency      string    `json:"currency"`
	Items         []Item    `json:"items"`
	PaymentStatus string    `json:"payment_status"`
	CreatedAt     time.Time `json:"created_at"`
}

// Service creates and reads orders.
type Service struct {
	pool *pgxpool.Pool
	inv  *inventory.Store
}

// NewService returns a Service that commits reservations through inv (nil
// for a Service that only reads: GetForUser, ByCheckout, ListForUser).
func NewService(pool *pgxpool.Pool, inv *inventory.Store) *Service {
	return &Service{pool: pool, inv: inv}
}

// Create makes the order for a paid checkout. In one transaction it commits
// the checkout's reservations (the units are sold), creates the order and
// its items, links the charge, marks the checkout completed and writes the
// audit rows. Idempotent: a second call returns the same order with
// created=false.
//
// Errors (apperr kinds): NotFound (no checkout); State (the charge has not
// succeeded, or the checkout already ended otherwise); Expired (code
// reservation_expired: the reservations expired first; the money must be
// refunded); Transient (database contention; retry).
func (s *Service) Create(ctx context.Context, checkoutID uuid.UUID) (o Order, created bool, err error) {
	ctx, span := tracing.StartSQL(ctx, "order.create", tracing.AttrCheckoutID.String(checkoutID.String()))
	defer func() { tracing.End(span, err) }()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return Order{}, false, apperr.Wrap(apperr.Transient, "transient", err, "begin")
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit

	c, err := checkout.LockForOrderTx(ctx, tx, checkoutID)
	if err != nil {
		return Order{}, false, err
	}
	if c.OrderID != nil { // the checkout names its order: a replay
		existing, _, err := byCheckout(ctx, tx, checkoutID)
		return existing, false, err
	}
	if checkout.IsFinal(c.Status) {
		return Order{}, false, apperr.E(apperr.State, "checkout_already_final", "checkout %s is already %s", checkoutID, c.Status)
	}
	if c.Compensating {
		return Order{}, false, apperr.E(apperr.State, "checkout_compensating", "checkout %s is being compensated; no order can be made", checkoutID)
	}
	paymentID, err := payment.ChargeForOrderTx(ctx, tx, checkoutID)
	if err != nil {
		return Order{}, false, err
	}
	skus := make([]string, len(c.Items))
	for i, it := range c.Items {
		skus[i] = it.SKU
	}
	products, err := catalog.ProductsTx(ctx, tx, skus)
	if err != nil {
		return Order{}, false, err
	}
	// The checkout names its order first: the order's foreign key checks it.
	id, createdAt, err := checkout.CompleteTx(ctx, tx, checkoutID)
	if err != nil {
		return Order{}, false, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO orders (id, created_at, checkout_id, user_id, amount, currency, payment_id) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		id, createdAt, checkoutID, c.UserID, c.Amount, c.Currency, paymentID); err != nil {
		return Order{}, false, fmt.Errorf("order: insert: %w", err)
	}
	names, qtys, amounts := make([]string, len(c.Items)), make([]int32, len(c.Items)), make([]int64, len(c.Items))
	for i, it := range c.Items {
		names[i], qtys[i], amounts[i] = products[it.SKU].Name, int32(it.Quantity), it.UnitAmount
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO order_items (order_id, order_created_at, sku, name, quantity, unit_amount)
		SELECT $1, $2, u.sku, u.name, u.quantity, u.unit_amount FROM unnest($3::text[], $4::text[], $5::int[], $6::bigint[]) AS u(sku, name, quantity, unit_amount)`,
		id, createdAt, skus, names, qtys, amounts); err != nil {
		return Order{}, false, fmt.Errorf("order: insert items: %w", err)
	}
	if err := audit.Write(ctx, tx, audit.Entry{Actor: "order", Action: "order_created", CheckoutID: checkoutID,
		Detail: map[string]any{"order_id": id.String(), "payment_id": paymentID}}.Money(c.Amount, c.Currency)); err != nil {
		return Order{}, false, err
	}
	o, _, err = byCheckout(ctx, tx, checkoutID)
	if err != nil {
		return Order{}, false, err
	}
	// The units are sold last: a refusal (the reservation expired or was
	// released) rolls back everything above, and the SKU's stock row, the
	// hottest lock of a flash sale, stays locked only for that round trip
	// and the COMMIT.
	if err := s.inv.CommitTx(ctx, tx, checkoutID); err != nil {
		return Order{}, false, err
	}
	if err := tx.Commit(ctx); err != nil {
		return Order{}, false, apperr.Wrap(apperr.Transient, "transient", err, "commit order")
	}
	s.inv.GateCommitted(ctx, checkoutID)
	return o, true, nil
}

// ExistsTx reports, inside tx, whether checkoutID has an order (the
// checkout names it). With the checkout's row locked
// (checkout.BeginCompensationTx) the answer cannot change before tx ends.
func ExistsTx(ctx context.Context, tx pgx.Tx, checkoutID uuid.UUID) (bool, error) {
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM checkouts WHERE id = $1 AND order_id IS NOT NULL)`, checkoutID).Scan(&exists); err != nil {
		return false, fmt.Errorf("order: exists: %w", err)
	}
	return exists, nil
}

// The lookups of one order. orders is partitioned by month of created_at,
// and each lookup names the partition it needs (docs/partitions.md shows
// their plans; TestLookupsReadOnePartition checks them):
//
//   - by id: a UUIDv7 id carries created_at (migration 00017), so the
//     planner keeps one partition; an id made before the migration (random,
//     version 4) leaves the range open and probes every partition's
//     primary key index.
//   - by checkout: the checkout row names its order's (id, created_at).
const (
	selectOrder = `SELECT o.id, o.checkout_id, o.user_id, o.status, o.amount, o.currency, o.created_at `
	byIDQuery   = selectOrder + `FROM orders o WHERE o.id = $1
		AND o.created_at BETWEEN coalesce(uuid_v7_time($1), '-infinity') AND coalesce(uuid_v7_time($1), 'infinity')`
	byCheckoutQuery = selectOrder + `FROM checkouts c
		JOIN orders o ON o.id = c.order_id AND o.created_at = c.order_created_at WHERE c.id = $1`
	itemsQuery = `SELECT sku, name, quantity, unit_amount FROM order_items
		WHERE order_id = $1 AND order_created_at = $2 ORDER BY sku`
	// A user's orders, newest first, from a cursor: orders_user_idx
	// (user_id, created_at, id) in each partition, the partitions read
	// newest first (created_at is the partition key) until the page is full.
	listForUserQuery = `SELECT o.id, o.checkout_id, o.status, o.amount, o.currency, o.created_at
		FROM orders o WHERE o.user_id = $1 AND o.created_at <= $2 AND (o.created_at, o.id) < ($2, $3)
		ORDER BY o.created_at DESC, o.id DESC LIMIT $4`
)

// MaxPage is the most orders ListForUser returns at once.
const MaxPage = 100

// Summary is an order in a list: no items, no payment status.
type Summary struct {
	ID         uuid.UUID `json:"order_id"`
	CheckoutID uuid.UUID `json:"checkout_id"`
	Status     Status    `json:"status"`
	Amount     int64     `json:"amount"`
	Currency   string    `json:"currency"`
	CreatedAt  time.Time `json:"created_at"`
}

// Cursor is where a page of ListForUser starts: after the order (CreatedAt,
// ID), in newest-first order. The zero Cursor starts at the newest order.
type Cursor struct {
	CreatedAt time.Time
	ID        uuid.UUID
}

// Next returns the cursor of the page after page. An empty page ends the
// listing: its Next is the zero Cursor, which starts again at the newest.
func Next(page []Summary) Cursor {
	if len(page) == 0 {
		return Cursor{}
	}
	last := page[len(page)-1]
	return Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
}

// ListForUser returns up to limit (1 to MaxPage) of userID's orders that
// come after from, newest first. Errors: apperr Invalid for a limit out of
// range.
func (s *Service) ListForUser(ctx context.Context, userID string, from Cursor, limit int) ([]Summary, error) {
	if limit < 1 || limit > MaxPage {
		return nil, apperr.InvalidField("limit", "must be 1 to %d, not %d", MaxPage, limit)
	}
	var at any = from.CreatedAt
	id := from.ID
	if from.CreatedAt.IsZero() {
		at, id = "infinity", uuid.Max
	}
	rows, err := s.pool.Query(ctx, listForUserQuery, userID, at, id, limit)
	if err != nil {
		return nil, fmt.Errorf("order: list: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Summary, error) {
		var o Summary
		err := r.Scan(&o.ID, &o.CheckoutID, &o.Status, &o.Amount, &o.Currency, &o.CreatedAt)
		return o, err
	})
	if err != nil {
		return nil, fmt.Errorf("order: list: %w", err)
	}
	return out, nil
}

// GetForUser returns order id if userID owns it; another user's order is
// NotFound, so ids cannot be probed.
func (s *Service) GetForUser(ctx context.Context, id uuid.UUID, userID string) (Order, error) {
	o, err := load(ctx, s.pool, byIDQuery, id)
	if err == nil && o.UserID != userID {
		return Order{}, apperr.E(apperr.NotFound, "not_found", "no order %s", id)
	}
	return o, err
}

// ByCheckout returns the order made from checkoutID. Errors: NotFound.
func (s *Service) ByCheckout(ctx context.Context, checkoutID uuid.UUID) (Order, error) {
	return load(ctx, s.pool, byCheckoutQuery, checkoutID)
}

func byCheckout(ctx context.Context, q postgres.Querier, checkoutID uuid.UUID) (Order, bool, error) {
	o, err := load(ctx, q, byCheckoutQuery, checkoutID)
	if apperr.Is(err, apperr.NotFound) {
		return Order{}, false, nil
	}
	return o, err == nil, err
}

func load(ctx context.Context, q postgres.Querier, query string, arg any) (Order, error) {
	var o Order
	err := q.QueryRow(ctx, query, arg).Scan(&o.ID, &o.CheckoutID, &o.UserID, &o.Status, &o.Amount, &o.Currency, &o.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Order{}, apperr.E(apperr.NotFound, "not_found", "no such order")
	}
	if err != nil {
		return Order{}, fmt.Errorf("order: load: %w", err)
	}
	status, err := payment.ChargeStatus(ctx, q, o.CheckoutID)
	if err != nil {
		return Order{}, err
	}
	o.PaymentStatus = string(status)
	rows, err := q.Query(ctx, itemsQuery, o.ID, o.CreatedAt)
	if err != nil {
		return Order{}, fmt.Errorf("order: items: %w", err)
	}
	o.Items, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Item, error) {
		var it Item
		err := r.Scan(&it.SKU, &it.Name, &it.Quantity, &it.UnitAmount)
		return it, err
	})
	return o, err
}
