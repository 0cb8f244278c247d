package inventory

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/postgres"
)

// advisoryClass is the first key of the transaction-scoped advisory lock that
// serialises Reserve and Release of one checkout ("inv\x00").
const advisoryClass int32 = 0x696e7600

// run executes fn in a fresh transaction with the store's lock and statement
// timeouts. When lockCheckout is not uuid.Nil the transaction first takes the
// checkout's advisory lock. Serialization failures and deadlocks re-run the
// whole transaction up to TxRetries times; every other error is classified
// (see classify) and returned.
func (s *Store) run(ctx context.Context, op string, lockCheckout uuid.UUID, fn func(pgx.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
			if err := s.setTimeouts(ctx, tx, lockCheckout); err != nil {
				return err
			}
			return fn(tx)
		})
		if err == nil {
			return nil
		}
		if postgres.IsRetryable(err) && attempt <= s.opts.TxRetries && apperr.As(err) == nil {
			s.log.DebugContext(ctx, "inventory: retrying transaction", "op", op, "attempt", attempt, "err", err)
			if werr := sleep(ctx, backoff(attempt, 2*time.Millisecond, 100*time.Millisecond)); werr != nil {
				return classify(op, werr)
			}
			continue
		}
		return classify(op, err)
	}
}

func (s *Store) setTimeouts(ctx context.Context, tx pgx.Tx, lockCheckout uuid.UUID) error {
	lt, st := pgInterval(s.opts.LockTimeout), pgInterval(s.opts.StatementTimeout)
	if lockCheckout == uuid.Nil {
		_, err := tx.Exec(ctx, `SELECT set_config('lock_timeout', $1, true), set_config('statement_timeout', $2, true)`, lt, st)
		return err
	}
	_, err := tx.Exec(ctx, `SELECT set_config('lock_timeout', $1, true), set_config('statement_timeout', $2, true),
		pg_advisory_xact_lock($3, hashtext($4))`, lt, st, advisoryClass, lockCheckout.String())
	return err
}

func pgInterval(d time.Duration) string { return fmt.Sprintf("%dms", max(d.Milliseconds(), 1)) }

// classify turns an error from a transaction into a domain error. Errors that
// already carry a kind are returned unchanged.
func classify(op string, err error) error {
	if err == nil || apperr.As(err) != nil {
		return err
	}
	switch code := sqlState(err); {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &apperr.Error{Kind: apperr.Transient, Code: "canceled", Message: "inventory: " + op + ": canceled", Err: err}
	case postgres.IsRetryable(err):
		return &apperr.Error{Kind: apperr.Transient, Code: "contention", Message: "inventory: " + op + ": too much contention, retry", Err: err}
	case code == "55P03":
		return &apperr.Error{Kind: apperr.Transient, Code: "lock_timeout", Message: "inventory: " + op + ": lock timeout, retry", Err: err}
	case code == "57014":
		return &apperr.Error{Kind: apperr.Transient, Code: "statement_timeout", Message: "inventory: " + op + ": statement timeout, retry", Err: err}
	}
	return apperr.Wrap(apperr.Internal, "internal", err, "inventory: %s failed", op)
}

func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

func constraintOf(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.ConstraintName
	}
	return ""
}

// backoff returns a "full jitter" delay for the given attempt (1-based):
// uniform in (0, min(ceiling, base*2^(attempt-1))].
func backoff(attempt int, base, ceiling time.Duration) time.Duration {
	d := ceiling
	if shift := attempt - 1; shift < 20 {
		d = min(base<<shift, ceiling)
	}
	return time.Duration(rand.Int64N(int64(d))) + 1
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
