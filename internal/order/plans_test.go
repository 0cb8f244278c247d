package order_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/order"
	"github.com/checkout-dev/checkout/internal/partition"
	"github.com/checkout-dev/checkout/internal/partition/plantest"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

// seed gives the database 7 months of orders (the current one and the 6
// before it, 30,000 orders of 500 users, 1 item each), 1,000 of them in
// the oldest month with random (version 4) ids as orders made before
// migration 00017 have; it returns an order of each kind.
func seed(t *testing.T, pool *pgxpool.Pool) (v7, legacy struct {
	ID, CheckoutID uuid.UUID
	CreatedAt      time.Time
	UserID         string
}) {
	t.Helper()
	ctx := context.Background()
	first := partition.MonthOf(time.Now()).AddDate(0, -6, 0)
	if _, err := partition.Ensure(ctx, pool, first, 6); err != nil {
		t.Fatal(err)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	for _, q := range []string{
		`INSERT INTO products (sku, name, amount, currency) VALUES ('TEE-1', 'T-shirt', 1999, 'USD')`,
		`CREATE TEMP TABLE seed ON COMMIT DROP AS
		 SELECT checkout_id, order_id, coalesce(uuid_v7_time(order_id), t) AS created_at, user_id FROM (
		     SELECT gen_random_uuid() AS checkout_id, CASE WHEN g < 1000 THEN gen_random_uuid() ELSE uuid_v7(t) END AS order_id,
		            t, 'user-' || (g % 500) AS user_id
		     FROM generate_series(0, 29999) g,
		          LATERAL (SELECT CASE WHEN g < 1000 THEN $1::timestamptz + (g % 28) * interval '1 day'
		                          ELSE $1::timestamptz + (now() - $1::timestamptz) * (g / 30000.0)::float8 END AS t) x
		     OFFSET 0) s`,
		`INSERT INTO checkouts (id, user_id, idempotency_key, request_fingerprint, amount, currency, payment_method, status, created_at, order_id, order_created_at)
		 SELECT checkout_id, user_id, checkout_id::text, '\x00', 1999, 'USD', 'pm_card_visa', 'completed', created_at, order_id, created_at FROM seed`,
		`INSERT INTO orders (id, created_at, checkout_id, user_id, amount, currency) SELECT order_id, created_at, checkout_id, user_id, 1999, 'USD' FROM seed`,
		`INSERT INTO order_items (order_id, order_created_at, sku, name, quantity, unit_amount) SELECT order_id, created_at, 'TEE-1', 'T-shirt', 1, 1999 FROM seed`,
	} {
		var args []any
		if strings.Contains(q, "$1") {
			args = append(args, first)
		}
		if _, err := tx.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := tx.QueryRow(ctx, `SELECT order_id, checkout_id, created_at, user_id FROM seed
		WHERE uuid_v7_time(order_id) < now() - interval '45 days' ORDER BY created_at DESC LIMIT 1`).
		Scan(&v7.ID, &v7.CheckoutID, &v7.CreatedAt, &v7.UserID); err != nil {
		t.Fatal(err)
	}
	if err := tx.QueryRow(ctx, `SELECT order_id, checkout_id, created_at, user_id FROM seed WHERE uuid_v7_time(order_id) IS NULL LIMIT 1`).
		Scan(&legacy.ID, &legacy.CheckoutID, &legacy.CreatedAt, &legacy.UserID); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `ANALYZE checkouts, orders, order_items`); err != nil {
		t.Fatal(err)
	}
	return v7, legacy
}

// TestLookupsReadOnePartition runs EXPLAIN ANALYZE on the order package's
// own lookups against 7 months of partitions holding 30,000 orders, with
// the custom plans PostgreSQL makes for the first executions of a
// statement and with the generic plan a cached statement may get later:
// every partition that holds rows is read through an index, a lookup by a
// UUIDv7 id, by checkout or of an order's items reads one partition (the
// others pruned at plan time, at executor start-up, or never executed), a
// legacy id probes every partition's primary key, and a user's newest
// orders stop at the partitions that fill the page.
func TestLookupsReadOnePartition(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	v7, legacy := seed(t, pool)
	parts, err := partition.List(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]int64{}
	nOrders := 0
	for _, p := range parts {
		rows[p.Name] = p.Rows
		if p.Table == "orders" {
			nOrders++
		}
	}
	month := v7.CreatedAt.UTC().Format("2006_01")

	for _, mode := range []string{"custom", "generic"} {
		t.Run(mode, func(t *testing.T) {
			c, err := pool.Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Release()
			conn := c.Conn()
			generic := mode == "generic"

			one := func(name string, table, want string, query string, args ...any) {
				t.Helper()
				p, text := plantest.Explain(t, conn, generic, query, args...)
				t.Logf("%s (%s):\n%s", name, mode, text)
				ran := plantest.Scans(t, p, table, rows)
				if len(ran) != 1 || !strings.HasPrefix(ran[want], "Index") {
					t.Errorf("%s read %v; want an index scan of %s alone", name, ran, want)
				}
			}
			one("by id", "orders", "orders_"+month, order.ByIDQuery, v7.ID)
			one("by checkout", "orders", "orders_"+month, order.ByCheckoutQuery, v7.CheckoutID)
			one("items", "order_items", "order_items_"+month, order.ItemsQuery, v7.ID, v7.CreatedAt)

			p, text := plantest.Explain(t, conn, generic, order.ByIDQuery, legacy.ID)
			t.Logf("by a legacy id (%s):\n%s", mode, text)
			if ran := plantest.Scans(t, p, "orders", rows); len(ran) != nOrders {
				t.Errorf("by a legacy id read %v (%d pruned); want every one of the %d partitions probed", ran, p.Removed(), nOrders)
			}

			p, text = plantest.Explain(t, conn, generic, order.ListForUserQuery, v7.UserID, "infinity", uuid.Max, 20)
			t.Logf("a user's newest 20 (%s):\n%s", mode, text)
			ran := plantest.Scans(t, p, "orders", rows)
			withRows := 0
			for name := range ran {
				if rows[name] >= plantest.Large {
					withRows++
				}
				if !strings.Contains(ran[name], "orders_user_idx") && !strings.Contains(ran[name], "user_id_created_at_id_idx") && rows[name] >= plantest.Large {
					t.Errorf("%s read with %s; want orders_user_idx's", name, ran[name])
				}
			}
			if withRows == 0 || withRows >= 7 {
				t.Errorf("a user's newest 20 read %d of the 7 months with orders (%v); want the newest few only", withRows, ran)
			}
		})
	}
}
