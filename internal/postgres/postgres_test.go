package postgres_test

import (
	"context"
	"testing"

	"github.com/checkout-dev/checkout/internal/postgres"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m, postgres.Migrate) }

func TestCheckConstraintsForbidOversell(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := pgtest.NewPool(t)
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
