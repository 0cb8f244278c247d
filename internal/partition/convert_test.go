package partition_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/checkout-dev/checkout/internal/app"
	"github.com/checkout-dev/checkout/internal/audit"
	"github.com/checkout-dev/checkout/internal/checkout"
	"github.com/checkout-dev/checkout/internal/inventory"
	"github.com/checkout-dev/checkout/internal/order"
	"github.com/checkout-dev/checkout/internal/partition"
	"github.com/checkout-dev/checkout/internal/payment"
	"github.com/checkout-dev/checkout/internal/saga"
	"github.com/checkout-dev/checkout/internal/stripefake"
	"github.com/checkout-dev/checkout/localaws/pgtest"
	"github.com/checkout-dev/checkout/migrations"
)

// schemaAt15 returns a pool and goose provider on a schema of its own (in a
// fresh database) migrated up to version 16, the last before partitioning.
func schemaAt15(t *testing.T) (*pgxpool.Pool, *goose.Provider) {
	t.Helper()
	ctx := context.Background()
	base := pgtest.NewDB(t)
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, `CREATE SCHEMA conv`); err != nil {
		t.Fatal(err)
	}
	cfg, err := pgxpool.ParseConfig(base)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = "conv"
	db := stdlib.OpenDB(*cfg.ConnConfig)
	t.Cleanup(func() { db.Close() })
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 16); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool, p
}

// history writes, at version 16 and as its code did, 6 past months of
// completed checkouts of 3 users: each with its succeeded charge, its
// order (a random id), 2 items and its audit rows.
func history(t *testing.T, pool *pgxpool.Pool, first time.Time) {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE h ON COMMIT DROP AS
		SELECT gen_random_uuid() AS checkout_id, gen_random_uuid() AS order_id, 'user-' || (g % 3) AS user_id,
		       $1::timestamptz + (g / 4) * interval '1 month' + (g % 4) * interval '6 days 5 hours' AS at
		FROM generate_series(0, 23) g`, first); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO products (sku, name, amount, currency) VALUES ('TEE-1', 'T-shirt', 1999, 'USD'), ('MUG-1', 'Mug', 999, 'USD');
		INSERT INTO inventory (sku, on_hand) VALUES ('TEE-1', 1000), ('MUG-1', 1000);
		INSERT INTO checkouts (id, user_id, idempotency_key, request_fingerprint, status, amount, currency, payment_method, created_at, updated_at, completed_at)
		SELECT checkout_id, user_id, checkout_id::text, '\x00', 'completed', 2998, 'USD', 'pm_card_visa', at - interval '1 minute', at, at FROM h;
		INSERT INTO payment_transactions (checkout_id, kind, idempotency_key, amount, currency, status, created_at)
		SELECT checkout_id, 'charge', 'checkout-' || checkout_id || '-charge-create', 2998, 'USD', 'succeeded', at FROM h;
		INSERT INTO orders (id, checkout_id, user_id, amount, currency, payment_id, created_at, updated_at)
		SELECT h.order_id, h.checkout_id, h.user_id, 2998, 'USD', p.id, h.at, h.at FROM h JOIN payment_transactions p ON p.checkout_id = h.checkout_id;
		INSERT INTO order_items (order_id, sku, name, quantity, unit_amount)
		SELECT order_id, 'TEE-1', 'T-shirt', 1, 1999 FROM h UNION ALL SELECT order_id, 'MUG-1', 'Mug', 1, 999 FROM h;
		INSERT INTO audit_log (at, actor, action, checkout_id, sku, quantity, detail)
		SELECT at - interval '1 minute', 'inventory', 'reserve', checkout_id, 'TEE-1', 1, '{"strategy": "conditional"}' FROM h;
		INSERT INTO audit_log (at, actor, action, checkout_id, amount, currency, detail)
		SELECT at, 'order', 'order_created', checkout_id, 2998, 'USD', jsonb_build_object('order_id', order_id) FROM h`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

// digest is a checksum of the rows written before the conversion (orders
// with random ids, audit rows up to an id), in the columns version 16 has.
type digest struct{ orders, items, audit string }

func digests(t *testing.T, pool *pgxpool.Pool, auditUpTo int64) digest {
	t.Helper()
	var d digest
	if err := pool.QueryRow(context.Background(), `SELECT
		(SELECT md5(string_agg(concat_ws('|', id, checkout_id, user_id, status, amount, currency, payment_id, created_at, updated_at), ',' ORDER BY id)) FROM orders WHERE substr(id::text, 15, 1) = '4'),
		(SELECT md5(string_agg(concat_ws('|', order_id, sku, name, quantity, unit_amount), ',' ORDER BY order_id, sku)) FROM order_items WHERE substr(order_id::text, 15, 1) = '4'),
		(SELECT md5(string_agg(concat_ws('|', id, at, actor, action, checkout_id, sku, quantity, amount, currency, detail), ',' ORDER BY id)) FROM audit_log WHERE id <= $1)`,
		auditUpTo).Scan(&d.orders, &d.items, &d.audit); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestMigrationConvertsExistingRows: a database at version 16 with 6
// months of orders, items and audit rows, and a checkout in flight (its
// stock reserved and its charge authorized through the product's code),
// migrated to 17. Every row survives, in the partition of its month; the
// checkouts name their orders; the product works on the converted tables
// (the checkout in flight gets its order, a new checkout runs the whole
// way and replays, lookups by id, checkout and user, audit writes); a
// second order for a checkout is refused; and the Down migration gives
// the rows back as they were.
func TestMigrationConvertsExistingRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, goo := schemaAt15(t)
	first := partition.MonthOf(time.Now()).AddDate(0, -6, 0)
	history(t, pool, first)

	// The checkout in flight, through the code of the day: stock reserved by
	// the inventory (its audit row), an authorized charge, an admin's audit row.
	inflight := uuid.New()
	if _, err := pool.Exec(ctx, `INSERT INTO checkouts (id, user_id, idempotency_key, request_fingerprint, status, amount, currency, payment_method)
		VALUES ($1, 'user-0', 'inflight', '\x00', 'processing', 1999, 'USD', 'pm_card_visa')`, inflight); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO checkout_items (checkout_id, sku, quantity, unit_amount) VALUES ($1, 'TEE-1', 1, 1999)`, inflight); err != nil {
		t.Fatal(err)
	}
	inv := inventory.New(pool, inventory.Options{})
	if _, err := inv.Reserve(ctx, inflight, []inventory.Line{{SKU: "TEE-1", Quantity: 1}}, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO payment_transactions (checkout_id, kind, idempotency_key, amount, currency, status, provider_payment_id)
		VALUES ($1, 'charge', $2, 1999, 'USD', 'authorized', 'pi_inflight')`, inflight, "checkout-"+inflight.String()+"-charge-create"); err != nil {
		t.Fatal(err)
	}
	if err := audit.Write(ctx, pool, audit.Entry{Actor: "admin:ann", Action: "product_updated", SKU: "MUG-1"}); err != nil {
		t.Fatal(err)
	}
	var maxAudit int64
	if err := pool.QueryRow(ctx, `SELECT max(id) FROM audit_log`).Scan(&maxAudit); err != nil || maxAudit != 50 {
		t.Fatalf("%d audit rows at version 16 (%v); want 50", maxAudit, err)
	}
	before := digests(t, pool, maxAudit)

	if _, err := goo.UpTo(ctx, 17); err != nil {
		t.Fatalf("migrate to 17: %v", err)
	}

	// Every row, in the partition of its month, unchanged.
	if after := digests(t, pool, maxAudit); after != before {
		t.Errorf("rows changed: %+v; want %+v", after, before)
	}
	var misplaced, orders, items, audits int
	if err := pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM orders WHERE tableoid::regclass::text <> 'orders_' || to_char(created_at AT TIME ZONE 'UTC', 'YYYY_MM'))
		+ (SELECT count(*) FROM order_items WHERE tableoid::regclass::text <> 'order_items_' || to_char(order_created_at AT TIME ZONE 'UTC', 'YYYY_MM'))
		+ (SELECT count(*) FROM audit_log WHERE tableoid::regclass::text <> 'audit_log_' || to_char(at AT TIME ZONE 'UTC', 'YYYY_MM'))
		+ (SELECT count(*) FROM order_items i JOIN orders o ON o.id = i.order_id WHERE i.order_created_at <> o.created_at),
		(SELECT count(*) FROM orders), (SELECT count(*) FROM order_items), (SELECT count(*) FROM audit_log)`).
		Scan(&misplaced, &orders, &items, &audits); err != nil {
		t.Fatal(err)
	}
	if misplaced != 0 || orders != 24 || items != 48 || audits != 50 {
		t.Errorf("%d rows misplaced; %d orders, %d items, %d audit rows; want 0 misplaced, 24, 48, 50", misplaced, orders, items, audits)
	}
	parts, err := partition.List(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if got := partition.Ahead(parts, time.Now()); got != 3 {
		t.Errorf("%d months ahead after the migration; want 3", got)
	}
	for i := range 6 {
		for _, table := range partition.Tables {
			name := table + "_" + first.AddDate(0, i, 0).Format("2006_01")
			if !has(parts, partition.Partition{Table: table, Name: name, From: first.AddDate(0, i, 0), To: first.AddDate(0, i+1, 0)}) {
				t.Errorf("no partition %s", name)
			}
		}
	}
	var unnamed int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM checkouts c JOIN orders o ON o.checkout_id = c.id
		WHERE c.order_id IS DISTINCT FROM o.id OR c.order_created_at IS DISTINCT FROM o.created_at`).Scan(&unnamed); err != nil || unnamed != 0 {
		t.Errorf("%d checkouts do not name their order (%v)", unnamed, err)
	}

	// The product on the converted tables.
	fake := stripefake.StartTest(t)
	gw := payment.NewStripe(payment.StripeConfig{SecretKey: stripefake.TestAPIKey, URL: fake.URL, Timeout: 2 * time.Second})
	core := app.NewCore(pool, gw, app.Config{Strategy: inventory.Conditional, ReservationTTL: time.Minute}, nil)

	o, created, err := core.Orders.Create(ctx, inflight)
	if err != nil || !created || o.ID.Version() != 7 || o.UserID != "user-0" || len(o.Items) != 1 {
		t.Fatalf("the order of the checkout in flight: %+v %v %v", o, created, err)
	}
	c, _, err := core.Checkouts.CreateOrGet(ctx, "user-1", "after", checkout.Request{
		Items: []checkout.Item{{SKU: "MUG-1", Quantity: 3}}, Currency: "USD", PaymentMethod: "pm_card_visa"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := core.Steps.ReserveStock(ctx, saga.StateFor(c))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := core.Steps.ChargePayment(ctx, st); err != nil {
		t.Fatal(err)
	}
	fresh, created, err := core.Orders.Create(ctx, c.ID)
	if err != nil || !created {
		t.Fatalf("a new checkout's order: %+v %v %v", fresh, created, err)
	}
	if again, created, err := core.Orders.Create(ctx, c.ID); err != nil || created || again.ID != fresh.ID {
		t.Errorf("replay: %s %v %v; want %s, not created", again.ID, created, err, fresh.ID)
	}

	var legacy struct {
		id, checkoutID uuid.UUID
	}
	if err := pool.QueryRow(ctx, `SELECT id, checkout_id FROM orders WHERE user_id = 'user-2' ORDER BY created_at LIMIT 1`).Scan(&legacy.id, &legacy.checkoutID); err != nil {
		t.Fatal(err)
	}
	if got, err := core.Orders.GetForUser(ctx, legacy.id, "user-2"); err != nil || got.CheckoutID != legacy.checkoutID || len(got.Items) != 2 || got.PaymentStatus != "succeeded" {
		t.Errorf("a legacy order by id: %+v %v", got, err)
	}
	if got, err := core.Orders.ByCheckout(ctx, legacy.checkoutID); err != nil || got.ID != legacy.id {
		t.Errorf("a legacy order by checkout: %+v %v", got, err)
	}
	if got, err := core.Checkouts.Get(ctx, legacy.checkoutID); err != nil || got.OrderID == nil || *got.OrderID != legacy.id {
		t.Errorf("a legacy checkout: %+v %v; want it to name order %s", got, err, legacy.id)
	}
	list, err := core.Orders.ListForUser(ctx, "user-1", order.Cursor{}, order.MaxPage)
	if err != nil || len(list) != 9 || list[0].ID != fresh.ID {
		t.Errorf("user-1's orders: %d (%v), first %v; want 9, the new one first", len(list), err, list)
	}
	for i := 1; i < len(list); i++ {
		if list[i].CreatedAt.After(list[i-1].CreatedAt) {
			t.Errorf("user-1's orders out of order at %d: %v after %v", i, list[i].CreatedAt, list[i-1].CreatedAt)
		}
	}

	// A second order for a legacy checkout, in any month: refused.
	_, err = pool.Exec(ctx, `INSERT INTO orders (id, created_at, checkout_id, user_id, amount, currency)
		SELECT k.id, uuid_v7_time(k.id), $1, 'user-2', 2998, 'USD' FROM uuid_v7(now()) AS k(id)`, legacy.checkoutID)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.ConstraintName != "orders_checkout_fkey" {
		t.Errorf("a second order for a legacy checkout: %v; want orders_checkout_fkey to refuse it", err)
	}

	// Audit rows keep coming, their ids after the old ones.
	if err := audit.Write(ctx, pool, audit.Entry{Actor: "test", Action: "after_conversion"}); err != nil {
		t.Fatal(err)
	}
	var newID int64
	if err := pool.QueryRow(ctx, `SELECT id FROM audit_log WHERE action = 'after_conversion'`).Scan(&newID); err != nil || newID <= maxAudit {
		t.Errorf("the first audit row after the conversion has id %d (%v); want above %d", newID, err, maxAudit)
	}

	// Down: plain tables again, every row as it was, the new orders too.
	if _, err := goo.DownTo(ctx, 16); err != nil {
		t.Fatalf("migrate down to 16: %v", err)
	}
	if after := digests(t, pool, maxAudit); after != before {
		t.Errorf("rows after the Down migration: %+v; want %+v", after, before)
	}
	var kind string
	if err := pool.QueryRow(ctx, `SELECT relkind::text FROM pg_class WHERE oid = 'orders'::regclass`).Scan(&kind); err != nil || kind != "r" {
		t.Errorf("orders is of kind %q after Down (%v); want a plain table", kind, err)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM orders`).Scan(&orders); err != nil || orders != 26 {
		t.Errorf("%d orders after Down (%v); want 26", orders, err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO orders (id, checkout_id, user_id, amount, currency) VALUES (gen_random_uuid(), $1, 'user-2', 1, 'USD')`,
		legacy.checkoutID); !errors.As(err, &pe) || pe.ConstraintName != "orders_checkout_id_key" {
		t.Errorf("a second order after Down: %v; want orders_checkout_id_key to refuse it", err)
	}
	// And up again.
	if _, err := goo.UpTo(ctx, 17); err != nil {
		t.Fatalf("migrate to 17 again: %v", err)
	}
	if got, err := core.Orders.GetForUser(ctx, fresh.ID, "user-1"); err != nil || got.ID != fresh.ID {
		t.Errorf("the new order after Down and Up: %+v %v", got, err)
	}
}
