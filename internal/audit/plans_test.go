package audit_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/internal/audit"
	"github.com/checkout-dev/checkout/internal/partition"
	"github.com/checkout-dev/checkout/internal/partition/plantest"
	"github.com/checkout-dev/checkout/internal/postgres"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m, postgres.Migrate) }

// TestLookupByCheckoutUsesTheIndex runs EXPLAIN ANALYZE on HasKey's query
// against 7 months of audit_log (63,000 rows, 3 per checkout), with a
// custom and a generic plan: a checkout id says nothing of the month, so
// every partition is probed until the row is found, each through its
// checkout_id index (no partition that holds rows is read whole). The
// query also answers.
func TestLookupByCheckoutUsesTheIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	first := partition.MonthOf(time.Now()).AddDate(0, -6, 0)
	if _, err := partition.Ensure(ctx, pool, first, 6); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `
		INSERT INTO audit_log (at, actor, action, checkout_id, detail)
		SELECT $1::timestamptz + (now() - $1::timestamptz) * (g / 21000.0)::float8, 'reconcile', a.action, md5('checkout' || g)::uuid,
		       jsonb_build_object('key', a.action || ':' || g)
		FROM generate_series(0, 20999) g, unnest(ARRAY['reserve', 'charge_succeeded', 'review_requested']) AS a(action)`, first); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `ANALYZE audit_log`); err != nil {
		t.Fatal(err)
	}
	var id uuid.UUID
	var key string
	if err := pool.QueryRow(ctx, `SELECT checkout_id, detail->>'key' FROM audit_log WHERE action = 'review_requested' ORDER BY at LIMIT 1 OFFSET 5000`).
		Scan(&id, &key); err != nil {
		t.Fatal(err)
	}
	parts, err := partition.List(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	rows, months := map[string]int64{}, 0
	for _, p := range parts {
		if p.Table == "audit_log" {
			rows[p.Name] = p.Rows
			if p.Rows >= plantest.Large {
				months++
			}
		}
	}
	if months != 7 {
		t.Fatalf("%d partitions of audit_log hold rows; want 7", months)
	}
	// The usual lookup finds nothing (no review was requested yet): every
	// month is probed. One that finds its row stops at its month.
	for _, lookup := range []struct {
		name, action string
		all          bool
	}{{"absent", "reserve", true}, {"present", "review_requested", false}} {
		for _, generic := range []bool{false, true} {
			c, err := pool.Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			p, text := plantest.Explain(t, c.Conn(), generic, audit.HasKeyQuery, id, lookup.action, key)
			c.Release()
			t.Logf("audit rows of a checkout, %s (generic %v):\n%s", lookup.name, generic, text)
			probed := 0
			for name, scan := range plantest.Scans(t, p, "audit_log", rows) {
				if rows[name] >= plantest.Large {
					probed++
					if !strings.Contains(scan, "checkout_id_idx") {
						t.Errorf("%s read by %s; want its checkout_id index", name, scan)
					}
				}
			}
			if lookup.all && probed != months || probed == 0 {
				t.Errorf("%s: %d of the %d months with rows probed", lookup.name, probed, months)
			}
		}
	}
	for _, tc := range []struct {
		action, key string
		want        bool
	}{{"review_requested", key, true}, {"review_requested", key + "x", false}, {"reserve", key, false}} {
		if got, err := audit.HasKey(ctx, pool, id, tc.action, tc.key); err != nil || got != tc.want {
			t.Errorf("HasKey(%s, %s) = %v, %v; want %v", tc.action, tc.key, got, err, tc.want)
		}
	}
}
