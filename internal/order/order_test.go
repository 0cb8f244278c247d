package order_test

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/app"
	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/checkout"
	"github.com/checkout-dev/checkout/internal/inventory"
	"github.com/checkout-dev/checkout/internal/order"
	"github.com/checkout-dev/checkout/internal/payment"
	"github.com/checkout-dev/checkout/internal/postgres"
	"github.com/checkout-dev/checkout/internal/saga"
	"github.com/checkout-dev/checkout/internal/stripefake"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m, postgres.Migrate) }

// shop is a database with the product TEE-1, the core wired to the Stripe
// fake (through stripe-go).
type shop struct {
	pool *pgxpool.Pool
	core *app.Core
}

func newShop(t *testing.T) *shop {
	t.Helper()
	fake := stripefake.StartTest(t)
	s := &shop{pool: pgtest.NewPool(t)}
	gw := payment.NewStripe(payment.StripeConfig{SecretKey: stripefake.TestAPIKey, URL: fake.URL, Timeout: 2 * time.Second})
	s.core = app.NewCore(s.pool, gw, app.Config{Strategy: inventory.Conditional, ReservationTTL: time.Minute}, nil)
	if _, err := s.pool.Exec(context.Background(), `
		INSERT INTO products (sku, name, amount, currency) VALUES ('TEE-1', 'T-shirt', 1999, 'USD');
		INSERT INTO inventory (sku, on_hand) VALUES ('TEE-1', 1000)`); err != nil {
		t.Fatal(err)
	}
	return s
}

// paid runs a checkout of user's up to its authorized charge, through the
// saga's own steps.
func (s *shop) paid(t *testing.T, user string) uuid.UUID {
	t.Helper()
	ctx := context.Background()
	c, _, err := s.core.Checkouts.CreateOrGet(ctx, user, uuid.NewString(),
		checkout.Request{Items: []checkout.Item{{SKU: "TEE-1", Quantity: 2}}, Currency: "USD", PaymentMethod: "pm_card_visa"})
	if err != nil {
		t.Fatal(err)
	}
	st := saga.StateFor(c)
	if st, err = s.core.Steps.ReserveStock(ctx, st); err != nil {
		t.Fatal(err)
	}
	if _, err = s.core.Steps.ChargePayment(ctx, st); err != nil {
		t.Fatal(err)
	}
	return c.ID
}

// The order's id is a UUIDv7 carrying its created_at, its row lives in the
// partition of its month, and its checkout names it.
func TestCreateStoresTheOrderInItsMonth(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newShop(t)
	co := s.paid(t, "ann")
	o, created, err := s.core.Orders.Create(ctx, co)
	if err != nil || !created {
		t.Fatalf("Create: %+v %v %v", o, created, err)
	}
	if o.ID.Version() != 7 {
		t.Errorf("order id %s is version %d; want 7", o.ID, o.ID.Version())
	}
	if ms := int64(binary.BigEndian.Uint64(o.ID[:8]) >> 16); ms != o.CreatedAt.UnixMilli() || o.CreatedAt.Nanosecond()%int(time.Millisecond) != 0 {
		t.Errorf("id time %d ms, created_at %v; want the same millisecond", ms, o.CreatedAt)
	}
	var part, itemPart string
	if err := s.pool.QueryRow(ctx, `SELECT o.tableoid::regclass::text, i.tableoid::regclass::text FROM orders o
		JOIN order_items i ON i.order_id = o.id AND i.order_created_at = o.created_at WHERE o.id = $1`, o.ID).Scan(&part, &itemPart); err != nil {
		t.Fatal(err)
	}
	month := o.CreatedAt.UTC().Format("2006_01")
	if part != "orders_"+month || itemPart != "order_items_"+month {
		t.Errorf("order in %s, its item in %s; want the partitions of %s", part, itemPart, month)
	}
	c, err := s.core.Checkouts.Get(ctx, co)
	if err != nil || c.OrderID == nil || *c.OrderID != o.ID || c.Status != checkout.StatusCompleted {
		t.Errorf("checkout %+v %v; want completed, naming order %s", c, err, o.ID)
	}
	got, err := s.core.Orders.GetForUser(ctx, o.ID, "ann")
	if err != nil || got.ID != o.ID || got.CheckoutID != co || len(got.Items) != 1 || got.Items[0].Quantity != 2 || got.PaymentStatus != "authorized" {
		t.Errorf("GetForUser: %+v %v", got, err)
	}
	if _, err := s.core.Orders.GetForUser(ctx, o.ID, "bob"); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("another user's order: %v; want NotFound", err)
	}
	if _, err := s.core.Orders.GetForUser(ctx, uuid.Must(uuid.NewV7()), "ann"); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("an unknown id: %v; want NotFound", err)
	}
}

// One order per checkout: a replayed Create returns the same order, racing
// Creates make one, and the database refuses a second order row for a
// checkout whatever its month, and a checkout naming an order that does
// not exist.
func TestOneOrderPerCheckout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newShop(t)

	co := s.paid(t, "ann")
	const racers = 6
	var wg sync.WaitGroup
	ids := make([]uuid.UUID, racers)
	errs := make([]error, racers)
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, _, err := s.core.Orders.Create(ctx, co)
			ids[i], errs[i] = o.ID, err
		}()
	}
	wg.Wait()
	for i := range racers {
		if errs[i] != nil || ids[i] != ids[0] {
			t.Errorf("racer %d: %s %v; want order %s", i, ids[i], errs[i], ids[0])
		}
	}
	again, created, err := s.core.Orders.Create(ctx, co)
	if err != nil || created || again.ID != ids[0] {
		t.Errorf("replay: %s created=%v %v; want %s, not created", again.ID, created, err, ids[0])
	}
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM orders WHERE checkout_id = $1`, co).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d orders for the checkout (%v); want 1", n, err)
	}

	// Past the code: a second row for the same checkout, in this month or
	// in another one's partition, is refused by the foreign key to the
	// checkout that names its one order.
	for _, at := range []string{"now()", "now() + interval '1 month'"} {
		_, err := s.pool.Exec(ctx, `INSERT INTO orders (id, created_at, checkout_id, user_id, amount, currency)
			SELECT k.id, uuid_v7_time(k.id), $1, 'ann', 3998, 'USD' FROM uuid_v7(`+at+`) AS k(id)`, co)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "23503" || pe.ConstraintName != "orders_checkout_fkey" {
			t.Errorf("a second order at %s: %v; want orders_checkout_fkey to refuse it", at, err)
		}
	}
	// Nor can a checkout name an order that does not exist (checked at commit).
	other := s.paid(t, "bob")
	_, err = s.pool.Exec(ctx, `UPDATE checkouts SET order_id = uuid_v7(now()), order_created_at = now() WHERE id = $1`, other)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23503" || pe.ConstraintName != "checkouts_order_fkey" {
		t.Errorf("a checkout naming no order: %v; want checkouts_order_fkey to refuse it", err)
	}
	// And an order's created_at is its id's time.
	_, err = s.pool.Exec(ctx, `INSERT INTO orders (id, created_at, checkout_id, user_id, amount, currency)
		SELECT uuid_v7(now()), now() + interval '1 day', $1, 'bob', 3998, 'USD'`, other)
	if !errors.As(err, &pe) || pe.Code != "23514" || pe.ConstraintName != "orders_created_at_is_id_time" {
		t.Errorf("an order whose created_at is not its id's time: %v; want orders_created_at_is_id_time to refuse it", err)
	}
}

// A user's orders, newest first, a page at a time; no one else's.
func TestListForUser(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newShop(t)
	var want []uuid.UUID
	for range 5 {
		o, _, err := s.core.Orders.Create(ctx, s.paid(t, "ann"))
		if err != nil {
			t.Fatal(err)
		}
		want = append([]uuid.UUID{o.ID}, want...)
	}
	if _, _, err := s.core.Orders.Create(ctx, s.paid(t, "bob")); err != nil {
		t.Fatal(err)
	}
	var got []uuid.UUID
	cur := order.Cursor{}
	for page := 0; ; page++ {
		list, err := s.core.Orders.ListForUser(ctx, "ann", cur, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) == 0 {
			break
		}
		if page > 3 {
			t.Fatal("the pages do not end")
		}
		for _, o := range list {
			if o.Amount != 3998 || o.Currency != "USD" || o.Status != order.StatusConfirmed {
				t.Errorf("summary %+v", o)
			}
			got = append(got, o.ID)
		}
		cur = order.Next(list)
	}
	if len(got) != len(want) {
		t.Fatalf("listed %v; want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("listed %v; want %v (newest first)", got, want)
		}
	}
	for _, limit := range []int{0, order.MaxPage + 1} {
		if _, err := s.core.Orders.ListForUser(ctx, "ann", order.Cursor{}, limit); !apperr.Is(err, apperr.Invalid) {
			t.Errorf("limit %d: %v; want Invalid", limit, err)
		}
	}
}
