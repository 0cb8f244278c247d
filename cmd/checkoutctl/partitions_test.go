package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/checkout-dev/checkout/internal/partition"
)

func TestPartitionsListAndArchive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, pool := auditDB(t)
	current := partition.MonthOf(time.Now())

	r := ctl(ctx, "", dsn, nil, "partitions")
	mustCode(t, r, 0)
	if !strings.Contains(r.stdout, "orders_"+current.Format("2006_01")) || !strings.Contains(r.stdout, "months ahead: 3") {
		t.Errorf("partitions:\n%s", r.stdout)
	}
	var list struct {
		Partitions  []partition.Partition `json:"partitions"`
		MonthsAhead int                   `json:"months_ahead"`
	}
	r = ctl(ctx, "", dsn, nil, "--json", "partitions")
	mustCode(t, r, 0)
	r.json(t, &list)
	if list.MonthsAhead != 3 || len(list.Partitions) != 4*len(partition.Tables) {
		t.Errorf("partitions --json: %d months ahead, %d partitions; want 3 and %d", list.MonthsAhead, len(list.Partitions), 4*len(partition.Tables))
	}

	// Two old months of audit_log, one row each.
	old := current.AddDate(0, -20, 0)
	if _, err := partition.Ensure(ctx, pool, old, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO audit_log (at, actor, action) VALUES ($1, 't', 'old'), ($2, 't', 'old')`,
		old.Add(time.Hour), old.AddDate(0, 1, 0).Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	want := []string{"audit_log_" + old.Format("2006_01"), "audit_log_" + old.AddDate(0, 1, 0).Format("2006_01")}

	r = ctl(ctx, "", dsn, nil, "partitions", "detach-audit")
	mustCode(t, r, 0)
	if !strings.Contains(r.stdout, "would archive") || !strings.Contains(r.stdout, want[0]) || !strings.Contains(r.stdout, want[1]) {
		t.Errorf("dry run:\n%s", r.stdout)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'old'`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("after the dry run %d old rows online (%v); want 2", n, err)
	}

	mustCode(t, ctl(ctx, "", dsn, nil, "partitions", "detach-audit", "--keep-months", "2", "--apply"), 2)

	r = ctl(ctx, "", dsn, nil, "partitions", "detach-audit", "--apply")
	mustCode(t, r, 0)
	if !strings.Contains(r.stdout, "archived into schema archive") || !strings.Contains(r.stdout, want[1]) {
		t.Errorf("--apply:\n%s", r.stdout)
	}
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM audit_log WHERE action = 'old')
		+ 10 * (SELECT count(*) FROM audit_log WHERE action = 'audit_log_archived' AND actor = 'checkoutctl:tester')`).Scan(&n); err != nil || n != 20 {
		t.Errorf("after --apply: %d (%v); want no old row online and 2 audit rows of the archiving (20)", n, err)
	}
	r = ctl(ctx, "", dsn, nil, "partitions", "detach-audit", "--apply")
	mustCode(t, r, 0)
	if !strings.Contains(r.stdout, "nothing to archive") {
		t.Errorf("second --apply:\n%s", r.stdout)
	}
}

func TestOrdersOfAUser(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, pool := auditDB(t)
	// Two orders of alice (a month apart) and one of bob, each named by its checkout.
	if _, err := pool.Exec(ctx, `
		INSERT INTO products (sku, name, amount, currency) VALUES ('TEE-1', 'T-shirt', 1999, 'USD');
		CREATE TEMP TABLE o AS SELECT gen_random_uuid() AS checkout_id, k.id, uuid_v7_time(k.id) AS at, u AS user_id
		    FROM (VALUES ('alice', interval '0'), ('alice', interval '1 month'), ('bob', interval '0')) v(u, d),
		         LATERAL uuid_v7(now() + d) AS k(id);
		INSERT INTO checkouts (id, user_id, idempotency_key, request_fingerprint, status, amount, currency, payment_method, order_id, order_created_at)
		    SELECT checkout_id, user_id, checkout_id::text, '\x00', 'completed', 1999, 'USD', 'pm_card_visa', id, at FROM o;
		INSERT INTO orders (id, created_at, checkout_id, user_id, amount, currency) SELECT id, at, checkout_id, user_id, 1999, 'USD' FROM o`); err != nil {
		t.Fatal(err)
	}
	var newest, older string
	if err := pool.QueryRow(ctx, `SELECT (SELECT id::text FROM orders WHERE user_id = 'alice' ORDER BY created_at DESC LIMIT 1),
		(SELECT id::text FROM orders WHERE user_id = 'alice' ORDER BY created_at LIMIT 1)`).Scan(&newest, &older); err != nil {
		t.Fatal(err)
	}
	r := ctl(ctx, "", dsn, nil, "orders", "alice")
	mustCode(t, r, 0)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], newest) || !strings.HasPrefix(lines[2], older) || !strings.Contains(lines[1], "1999 USD") {
		t.Errorf("orders alice:\n%s", r.stdout)
	}
	var js struct {
		Orders []struct {
			ID string `json:"order_id"`
		} `json:"orders"`
	}
	r = ctl(ctx, "", dsn, nil, "--json", "orders", "alice", "--limit", "1")
	mustCode(t, r, 0)
	r.json(t, &js)
	if len(js.Orders) != 1 || js.Orders[0].ID != newest {
		t.Errorf("orders --json --limit 1: %s", r.stdout)
	}
	// The next page: after the newest, the older one.
	r = ctl(ctx, "", dsn, nil, "orders", "alice", "--limit", "1")
	mustCode(t, r, 0)
	if !strings.Contains(r.stdout, "--after "+newest) {
		t.Errorf("orders --limit 1 names no next page:\n%s", r.stdout)
	}
	r = ctl(ctx, "", dsn, nil, "--json", "orders", "alice", "--limit", "1", "--after", newest)
	mustCode(t, r, 0)
	r.json(t, &js)
	if len(js.Orders) != 1 || js.Orders[0].ID != older {
		t.Errorf("orders --after the newest: %s; want the older one", r.stdout)
	}
	mustCode(t, ctl(ctx, "", dsn, nil, "orders", "alice", "--after", "not-an-id"), 2)
	r = ctl(ctx, "", dsn, nil, "orders", "nobody")
	mustCode(t, r, 0)
	if !strings.Contains(r.stdout, "no orders for nobody") {
		t.Errorf("orders nobody:\n%s", r.stdout)
	}
	mustCode(t, ctl(ctx, "", dsn, nil, "orders", "alice", "--limit", "0"), 2)
	mustCode(t, ctl(ctx, "", dsn, nil, "orders"), 2)
}
