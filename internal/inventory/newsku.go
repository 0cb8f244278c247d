package inventory

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// CreateRowTx gives a new catalog SKU its inventory row, holding 0 units,
// inside the catalog's transaction (tx). Idempotent.
func CreateRowTx(ctx context.Context, tx pgx.Tx, sku string) error {
	if _, err := tx.Exec(ctx, `INSERT INTO inventory (sku, on_hand) VALUES ($1, 0) ON CONFLICT (sku) DO NOTHING`, sku); err != nil {
		return fmt.Errorf("inventory: create row %s: %w", sku, err)
	}
	return nil
}
