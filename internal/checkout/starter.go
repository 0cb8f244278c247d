package checkout

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/apperr"
)

// Executions starts the checkout saga (execution.SFN on Step Functions).
type Executions interface {
	// Start starts an execution named name with input and returns its ARN.
	// Idempotent: starting the same name with the same input again returns
	// the same ARN without a second execution.
	Start(ctx context.Context, name string, input []byte) (executionARN string, err error)
}

// Availability says how many units of each SKU are available now, without
// locking (inventory.Store.Available).
type Availability interface {
	Available(ctx context.Context, skus []string) (map[string]int, error)
}

// Deferrer queues the start of a checkout for later (startqueue.SQS: a
// queue a starter function drains at the rate Step Functions allows).
type Deferrer interface {
	Defer(ctx context.Context, checkoutID uuid.UUID) error
}

// CodeStartThrottled is the apperr code an Executions answers when Step
// Functions refused the start for its quota (execution.CodeStartThrottled).
const CodeStartThrottled = "start_throttled"

// ErrNotStarted marks a checkout that was recorded but whose execution
// could not be started (or recorded): it stays pending and the next Start
// tries again. The API answers it 503 with Retry-After.
var ErrNotStarted = errors.New("the checkout could not be started")

// Starter starts the saga of a recorded checkout, once. It is the one place
// that decides whether a pending checkout runs or fails at once on the
// sold-out fast path. All fields are required.
type Starter struct {
	Pool       *pgxpool.Pool
	Checkouts  *Store
	Stock      Availability
	Executions Executions
	// Input renders the saga's input for a checkout (saga.Input).
	Input func(Checkout) ([]byte, error)
	// Deferred, when set, takes the starts Step Functions throttles: the
	// checkout stays pending (the buyer gets 202) and its start is queued,
	// so no buyer gets an error for the account's StartExecution quota.
	// Nil: a throttled start is ErrNotStarted (503, retry).
	Deferred Deferrer

	// holders bounds the concurrent lock holders (see Start).
	holders chan struct{}
}

// NewStarter returns a Starter; see its fields.
func NewStarter(pool *pgxpool.Pool, checkouts *Store, stock Availability, exec Executions, input func(Checkout) ([]byte, error)) *Starter {
	// Each lock holder needs one more connection at a time; bounding the
	// holders to half the pool means they can never starve each other.
	n := max(1, int(pool.Config().MaxConns)/2)
	return &Starter{Pool: pool, Checkouts: checkouts, Stock: stock, Executions: exec, Input: input, holders: make(chan struct{}, n)}
}

// startLockClass namespaces the advisory locks Start takes.
const startLockClass = 0x43484b54 // "CHKT"

// Start makes sure a pending checkout has its execution, or ends it failed
// with out_of_stock when the stock available now cannot serve it (the
// saga's reservation stays the authority: stock that looks available here
// may be gone when it reserves). Concurrent calls for one checkout are
// serialised by a PostgreSQL advisory lock and re-read the checkout under
// it, so exactly one decides; a checkout that is final, already has an
// execution or is past pending is returned as it is.
//
// When Step Functions throttles the start and Deferred is set, the start is
// queued and the checkout returned pending without an execution (no
// error). Errors wrap ErrNotStarted when the execution could not be
// started or recorded (the checkout stays pending; calling again is safe).
func (s *Starter) Start(ctx context.Context, co Checkout) (Checkout, error) {
	if co.Status != StatusPending || co.ExecutionID != "" {
		return co, nil
	}
	select {
	case s.holders <- struct{}{}:
		defer func() { <-s.holders }()
	case <-ctx.Done():
		return co, fmt.Errorf("%w: %w", ErrNotStarted, ctx.Err())
	}
	conn, err := s.Pool.Acquire(ctx)
	if err != nil {
		return co, fmt.Errorf("%w: acquire connection: %w", ErrNotStarted, err)
	}
	defer conn.Release()
	objID := int32(binary.BigEndian.Uint32(co.ID[:4]) ^ binary.BigEndian.Uint32(co.ID[12:]))
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1, $2)`, int32(startLockClass), objID); err != nil {
		return co, fmt.Errorf("%w: lock: %w", ErrNotStarted, err)
	}
	defer func() {
		// On failure the session ends with the broken connection and the
		// lock goes with it.
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1, $2)`, int32(startLockClass), objID)
	}()
	if co, err = s.Checkouts.Get(ctx, co.ID); err != nil {
		return co, err
	}
	if co.Status != StatusPending || co.ExecutionID != "" {
		return co, nil
	}
	short, err := s.shortage(ctx, co)
	if err != nil {
		return co, err
	}
	if short != "" {
		if err := s.Checkouts.Finish(ctx, co.ID, Failed("out_of_stock", short)); err != nil {
			return co, err
		}
		return s.Checkouts.Get(ctx, co.ID)
	}
	input, err := s.Input(co)
	if err != nil {
		return co, fmt.Errorf("checkout: saga input: %w", err)
	}
	arn, err := s.Executions.Start(ctx, co.ID.String(), input)
	if ae := apperr.As(err); ae != nil && ae.Code == CodeStartThrottled && s.Deferred != nil {
		if derr := s.Deferred.Defer(ctx, co.ID); derr != nil {
			return co, fmt.Errorf("%w: throttled (%w) and could not be queued: %w", ErrNotStarted, err, derr)
		}
		return co, nil // pending, without an execution yet: the start queue starts it
	}
	if err != nil {
		return co, fmt.Errorf("%w: %w", ErrNotStarted, err)
	}
	if err := s.Checkouts.SetExecution(ctx, co.ID, arn); err != nil {
		return co, fmt.Errorf("%w: %w", ErrNotStarted, err)
	}
	co.ExecutionID = arn
	return co, nil
}

// shortage returns why co cannot be served from the stock available now
// ("" when every line can be): one lock-free read for all lines.
func (s *Starter) shortage(ctx context.Context, co Checkout) (string, error) {
	skus := make([]string, len(co.Items))
	for i, it := range co.Items {
		skus[i] = it.SKU
	}
	avail, err := s.Stock.Available(ctx, skus)
	if err != nil {
		return "", err
	}
	for _, it := range co.Items {
		if a := avail[it.SKU]; a < it.Quantity {
			return fmt.Sprintf("%s is out of stock: %d requested, %d available", it.SKU, it.Quantity, max(a, 0)), nil
		}
	}
	return "", nil
}
