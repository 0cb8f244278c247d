package checkout

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/postgres"
)

// Status is a checkout's status, as the API shows it.
type Status string

// Statuses of a checkout. Completed, Failed and NeedsReview are final.
const (
	StatusPending        Status = "pending"         // recorded; its saga not started yet
	StatusProcessing     Status = "processing"      // the saga reserved the stock and works on it
	StatusRequiresAction Status = "requires_action" // the customer must authenticate the payment
	StatusCompleted      Status = "completed"       // the order exists
	StatusFailed         Status = "failed"          // ended without an order; everything undone
	StatusNeedsReview    Status = "needs_review"    // a compensation failed: a person finishes it
)

// Final reports whether s can no longer change (completed, failed,
// needs_review; but see transitions for needs_review after failed).
func (s Status) Final() bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusNeedsReview
}

// Settled reports whether nothing can change a checkout in status s any
// more: no move leaves it (completed, needs_review; a failed checkout may
// still become needs_review). A read replica's answer is trusted for
// settled checkouts only (WaitFrom).
func (s Status) Settled() bool {
	next, known := transitions[s]
	return known && len(next) == 0
}

// IsFinal reports whether status is final (Status.Final).
func IsFinal(status Status) bool { return status.Final() }

// transitions lists where a checkout may go from each status: the only
// place that says it. A failed checkout may still become needs_review (a
// compensation or a refund failed after it was marked); nothing leaves
// completed or needs_review. (needs_review asked of a completed checkout is
// a no-op, see Finish.)
var transitions = map[Status][]Status{
	StatusPending:        {StatusProcessing, StatusFailed, StatusNeedsReview},
	StatusProcessing:     {StatusRequiresAction, StatusCompleted, StatusFailed, StatusNeedsReview},
	StatusRequiresAction: {StatusProcessing, StatusCompleted, StatusFailed, StatusNeedsReview},
	StatusFailed:         {StatusNeedsReview},
	StatusCompleted:      {},
	StatusNeedsReview:    {},
}

// CanMove reports whether a checkout may move from one status to another.
func CanMove(from, to Status) bool { return slices.Contains(transitions[from], to) }

// Outcome is how a checkout ended: completed, or failed/needs_review with
// the code and message the API shows.
type Outcome struct {
	Status  Status
	Code    string // snake_case failure code; empty for completed
	Message string
}

// Failed is the Outcome of a checkout that failed with code.
func Failed(code, message string) Outcome {
	return Outcome{Status: StatusFailed, Code: code, Message: message}
}

// NeedsReview is the Outcome of a checkout a person must finish.
func NeedsReview(code, message string) Outcome {
	return Outcome{Status: StatusNeedsReview, Code: code, Message: message}
}

// CompleteTx marks checkout id completed inside tx (the order
// transaction, which holds the checkout's row lock: LockForOrderTx) and
// names its order, in one statement: it returns the order's key, a UUIDv7
// from the database's clock and that time (created_at, the order's
// partition key). The caller then inserts the order's row under that key
// in tx: its foreign key names this checkout's order, so a checkout has at
// most one order (migration 00017), and the checkout's own foreign key to
// the order is checked at commit.
//
// Errors: apperr NotFound; State when the checkout already names an order
// (checkout_has_order) or cannot move to completed (checkout_already_final).
func CompleteTx(ctx context.Context, tx pgx.Tx, id uuid.UUID) (orderID uuid.UUID, orderCreatedAt time.Time, err error) {
	err = tx.QueryRow(ctx, `UPDATE checkouts c SET status = $2, failure_code = NULL, failure_message = NULL,
			updated_at = now(), completed_at = now(), order_id = k.id, order_created_at = uuid_v7_time(k.id)
		FROM uuid_v7(now()) AS k(id)
		WHERE c.id = $1 AND c.order_id IS NULL AND c.status = ANY($3)
		RETURNING c.order_id, c.order_created_at`, id, StatusCompleted, movesTo(StatusCompleted)).Scan(&orderID, &orderCreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, time.Time{}, whyNotCompleted(ctx, tx, id)
	}
	if err != nil {
		return uuid.Nil, time.Time{}, fmt.Errorf("checkout: complete: %w", err)
	}
	return orderID, orderCreatedAt, nil
}

// whyNotCompleted explains why CompleteTx changed nothing.
func whyNotCompleted(ctx context.Context, tx pgx.Tx, id uuid.UUID) error {
	var current Status
	var hasOrder bool
	err := tx.QueryRow(ctx, `SELECT status, order_id IS NOT NULL FROM checkouts WHERE id = $1`, id).Scan(&current, &hasOrder)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return apperr.E(apperr.NotFound, "not_found", "no checkout %s", id)
	case err != nil:
		return fmt.Errorf("checkout: complete: %w", err)
	case hasOrder:
		return apperr.E(apperr.State, "checkout_has_order", "checkout %s already has another order", id)
	}
	return apperr.E(apperr.State, "checkout_already_final", "checkout %s is already %s; cannot mark it %s", id, current, StatusCompleted)
}

// movesTo lists the statuses from which a checkout may move to to.
func movesTo(to Status) []Status {
	var from []Status
	for f, tos := range transitions {
		if slices.Contains(tos, to) {
			from = append(from, f)
		}
	}
	return from
}

// Finish records how checkout id ended. Idempotent: finishing again with
// the same status is a no-op. The moves allowed are those of transitions:
// needs_review may replace failed (a compensation that failed after the
// checkout was marked is still a case for a person); needs_review for a
// completed checkout (its order exists, but a step after it failed) leaves
// it completed — the order is the buyer's truth, the review is the
// manual-review queue's.
//
// Errors: apperr Invalid for a status that is not final or a failed status
// without a code; NotFound; State when the checkout already ended otherwise.
func (s *Store) Finish(ctx context.Context, id uuid.UUID, o Outcome) error {
	if !o.Status.Final() {
		return apperr.InvalidField("status", "%q is not a final status (completed, failed, needs_review)", o.Status)
	}
	if (o.Status == StatusCompleted) != (o.Code == "") {
		return apperr.InvalidField("failure_code", "is required for %s and forbidden for completed", o.Status)
	}
	return postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		return finishTx(ctx, tx, id, o)
	})
}

func finishTx(ctx context.Context, tx pgx.Tx, id uuid.UUID, o Outcome) error {
	status, code, message := o.Status, o.Code, o.Message
	var current Status
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
	case !CanMove(current, status):
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

// MarkProcessing moves checkout id to processing from pending (its stock
// is reserved) or from requires_action (the customer authenticated).
// Idempotent; a checkout in any other status is left as it is.
func (s *Store) MarkProcessing(ctx context.Context, id uuid.UUID) error {
	return s.move(ctx, id, StatusProcessing, StatusPending, StatusRequiresAction)
}

// MarkRequiresAction moves checkout id from processing to requires_action:
// its customer must authenticate the payment. Idempotent.
func (s *Store) MarkRequiresAction(ctx context.Context, id uuid.UUID) error {
	return s.move(ctx, id, StatusRequiresAction, StatusProcessing)
}

// move sets status to on checkout id when it is in one of from (each move
// allowed by transitions).
func (s *Store) move(ctx context.Context, id uuid.UUID, to Status, from ...Status) error {
	for _, f := range from {
		if !CanMove(f, to) {
			return fmt.Errorf("checkout: %s → %s is not an allowed move", f, to)
		}
	}
	if _, err := s.pool.Exec(ctx, `UPDATE checkouts SET status = $2, updated_at = now() WHERE id = $1 AND status = ANY($3)`, id, to, from); err != nil {
		return fmt.Errorf("checkout: mark %s: %w", to, err)
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

// LockForOrderTx locks checkout id's row inside the order's transaction
// (tx) and returns it with its items, for order.Create: under the lock
// neither its status nor its compensation claim can change before tx ends.
//
// Errors: apperr NotFound.
func LockForOrderTx(ctx context.Context, tx pgx.Tx, id uuid.UUID) (Checkout, error) {
	c, err := scanCheckout(tx.QueryRow(ctx, selectCheckout+` WHERE c.id = $1 FOR UPDATE OF c`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Checkout{}, apperr.E(apperr.NotFound, "not_found", "no checkout %s", id)
	}
	if err != nil {
		return Checkout{}, fmt.Errorf("checkout: lock: %w", err)
	}
	return c, nil
}
