package pgtest

import (
	"context"
	"testing"
)

func TestMain(m *testing.M) { Main(m) }

func TestNewDBIsFreshAndMigrated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := NewPool(t), NewPool(t)
	if _, err := a.Exec(ctx, `INSERT INTO products (sku, name, amount, currency) VALUES ('A-1', 'a', 100, 'USD')`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := b.QueryRow(ctx, `SELECT count(*) FROM products`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("second database sees %d products from the first; want 0", n)
	}
	if err := a.QueryRow(ctx, `SELECT count(*) FROM products`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("first database: n=%d err=%v, want 1 product", n, err)
	}
}

func TestCheckConstraintsForbidOversell(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := NewPool(t)
	if _, err := p.Exec(ctx, `INSERT INTO products (sku, name, amount, currency) VALUES ('A-1', 'a', 100, 'USD');
		INSERT INTO inventory (sku, on_hand) VALUES ('A-1', 2)`); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`UPDATE inventory SET reserved = 3`,
		`UPDATE inventory SET on_hand = -1`,
		`UPDATE inventory SET reserved = -1`,
	} {
		if _, err := p.Exec(ctx, stmt); err == nil {
			t.Errorf("%s: accepted; want a check violation", stmt)
		}
	}
	if _, err := p.Exec(ctx, `INSERT INTO audit_log (actor, action) VALUES ('t', 'x')`); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Exec(ctx, `DELETE FROM audit_log`); err == nil {
		t.Error("audit_log row deleted; want append-only refusal")
	}
}
