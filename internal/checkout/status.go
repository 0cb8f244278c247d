package checkout

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/postgres"
)

// CompleteTx marks checkout id completed inside tx (the order transaction).
// Idempotent. Errors: apperr State when the checkout already ended otherwise.
func CompleteTx(ctx context.Context, tx pgx.Tx, id uuid.UUID) error {
	return finishTx(ctx, tx, id, StatusCompleted, "", "")
}

// Finish records the final status of checkout id with its failure code and
// message (empty for completed). Idempotent: finishing again with the same
// status is a no-op. A final status is never overwritten by another, except
// that needs_review may replace failed (a compensation that failed after the
// checkout was marked is still a case for a person); needs_review for a
// completed checkout (its order exists, but a step after it failed) leaves
// it completed — the order is the buyer's truth, the review is the
// manual-review queue's.
//
// Errors: apperr Invalid for a status that is not final or a failed status
// without a code; NotFound; State when the checkout already ended otherwise.
func (s *Store) Finish(ctx context.Context, id uuid.UUID, status, code, message string) error {
	if !IsFinal(status) {
		return apperr.InvalidField("status", "%q is not a final status (completed, failed, needs_review)", status)
	}
	if (status == StatusCompleted) != (code == "") {
		return apperr.InvalidField("failure_code", "is required for %s and forbidden for completed", status)
	}
	return postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		return finishTx(ctx, tx, id, status, code, message)
	})
}

func finishTx(ctx context.Context, tx pgx.Tx, id uuid.UUID, status, code, message string) error {
	var current string
	err := tx.QueryRow(ctx, `SELECT status FROM checkouts WHERE id = $1 FOR UPDATE`, id).Scan(&current)
	if err == pgx.ErrNoRows {
		return apperr.E(apperr.NotFound, "not_found", "no checkout %s", id)
	}
	if err != nil {
		return fmt.Errorf("checkout: finish: %w", err)
	}
	switch {
	case current == status, current == StatusCompleted && status == StatusNeedsReview:
		return nil
	case IsFinal(current) && !(current == StatusFailed && status == StatusNeedsReview):
		return apperr.E(apperr.State, "checkout_already_final", "checkout %s is already %s; cannot mark it %s", id, current, status)
	}
	var codeArg, msgArg any
	if code != "" {
		codeArg, msgArg = code, message
	}
	_, err = tx.Exec(ctx, `UPDATE checkouts SET status = $2, failure_code = $3, failure_message = $4, updated_at = now(), completed_at = now() WHERE id = $1`,
		id, status, codeArg, msgArg)
	if err != nil {
		return fmt.Errorf("checkout: finish: %w", err)
	}
	return nil
}

// MarkProcessing moves checkout id from pending to processing. Idempotent.
func (s *Store) MarkProcessing(ctx context.Context, id uuid.UUID) error {
	_, err := s.pool.Exec(ctx, `UPDATE checkouts SET status = 'processing', updated_at = now() WHERE id = $1 AND status = 'pending'`, id)
	if err != nil {
		return fmt.Errorf("checkout: mark processing: %w", err)
	}
	return nil
}

// BeginCompensationTx claims checkout id for compensation inside tx: it
// locks the checkout's row and marks it as being compensated, after which
// no order can be created for it (see order.Create). Call it in the same
// transaction that verified no order exists, so that an order and a
// refund can never both happen. Idempotent.
//
// Errors: apperr NotFound.
func BeginCompensationTx(ctx context.Context, tx pgx.Tx, id uuid.UUID) error {
	tag, err := tx.Exec(ctx, `UPDATE checkouts SET compensation_started_at = coalesce(compensation_started_at, now()), updated_at = now()
		WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("checkout: begin compensation: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return apperr.E(apperr.NotFound, "not_found", "no checkout %s", id)
	}
	return nil
}
