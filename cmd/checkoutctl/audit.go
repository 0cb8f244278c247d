package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// audit is one ops_audit row, written before the action (outcome
// "started") and updated as it goes, so a killed command still leaves
// who/what/when and the message ids handled so far.
type audit struct {
	pool *pgxpool.Pool
	ID   int64
}

func bg(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
}

// startAudit inserts the row. Mutating commands call it before changing
// anything and stop when it fails.
func startAudit(ctx context.Context, pool *pgxpool.Pool, actor, action, queue, note string, detail map[string]any) (*audit, error) {
	b := detailJSON(detail)
	var n any
	if note != "" {
		n = note
	}
	a := &audit{pool: pool}
	c, cancel := bg(ctx)
	defer cancel()
	err := pool.QueryRow(c, `INSERT INTO ops_audit (actor, action, queue, outcome, note, detail)
		VALUES ($1, $2, $3, 'started', $4, $5) RETURNING id`, actor, action, queue, n, b).Scan(&a.ID)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return a, nil
}

// addIDs appends message ids to the row.
func (a *audit) addIDs(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	c, cancel := bg(ctx)
	defer cancel()
	_, err := a.pool.Exec(c, `UPDATE ops_audit SET message_ids = message_ids || $2 WHERE id = $1`, a.ID, ids)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// finish records the outcome and merges detail into the row.
func (a *audit) finish(ctx context.Context, outcome string, detail map[string]any) error {
	b := detailJSON(detail)
	c, cancel := bg(ctx)
	defer cancel()
	_, err := a.pool.Exec(c, `UPDATE ops_audit SET outcome = $2, finished_at = now(), detail = detail || $3 WHERE id = $1`,
		a.ID, outcome, b)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// detailJSON is detail as a JSON object ({} for nil).
func detailJSON(detail map[string]any) []byte {
	if detail == nil {
		return []byte("{}")
	}
	b, _ := json.Marshal(detail)
	return b
}
