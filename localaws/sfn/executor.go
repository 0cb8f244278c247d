package sfn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/localaws/asl"
	"github.com/checkout-dev/checkout/localaws/internal/bookkeeping"
)

// Handler is a Go implementation of a Lambda function: it gets the JSON
// payload and returns the JSON result. A returned error fails the task with
// the error's type name as ASL error (see RegisterFunction).
type Handler func(ctx context.Context, payload json.RawMessage) (json.RawMessage, error)

// Transition is reported to Options.OnTransition after every persisted step
// that left a state or ended the execution.
type Transition struct {
	ExecutionARN string
	From         string // the state left
	To           string // the state entered; "" when the execution ended
	Status       string // execution status after the step
	Error        string // set when Status is FAILED, TIMED_OUT or ABORTED
	At           time.Time
}

// Options configure an Executor. Zero values get defaults.
type Options struct {
	Region    string    // default us-east-1
	AccountID string    // default 123456789012
	Clock     asl.Clock // default the wall clock
	Random    func() float64
	Logger    *slog.Logger // default slog.Default()

	// SQSEndpoint is the base URL SQS calls go to (e.g. the local SQS or
	// moto_server). SQSClient, when set, is used instead.
	SQSEndpoint string
	SQSClient   *sqs.Client

	// OnTransition, when set, is called (synchronously, from the execution's
	// goroutine) after every persisted transition.
	OnTransition func(Transition)

	// TokenPollInterval is how often a parked waitForTaskToken task checks
	// the database for an answer given to another process (answers given
	// to this Executor wake it at once). Default 1s.
	TokenPollInterval time.Duration

	// DurableBookkeeping commits the executor's progress (cursors and
	// history) with the pool's own synchronous_commit. By default it is
	// committed with synchronous_commit off (see package
	// localaws/internal/bookkeeping for what a PostgreSQL crash can then
	// lose: the last steps, which re-run); StartExecution and SendTask*
	// stay synchronous either way.
	DurableBookkeeping bool

	// APIQuotas throttle API actions like the account's quotas (see
	// APIQuota). nil means DefaultAPIQuotas; an empty map throttles
	// nothing.
	APIQuotas map[string]APIQuota

	// TransitionQuota throttles the state transitions of STANDARD
	// executions like the account's StateTransition quota (see
	// TransitionQuota): nil means DefaultTransitionQuota, a zero quota
	// throttles nothing. Express executions are not charged: their quotas
	// are others.
	TransitionQuota *TransitionQuota

	// OnThrottle, when set, is called (synchronously, from the execution's
	// goroutine, before it waits) for every state transition that finds
	// the StateTransition bucket empty: one data point of the
	// ExecutionThrottled metric (see Executor.ExecutionThrottled).
	OnThrottle func(stateMachineARN string)
}

// Executor runs durable executions. Create with New, register state
// machines and functions, then Start.
type Executor struct {
	pool   *pgxpool.Pool
	bk     *pgxpool.Pool // bookkeeping: pool, or its synchronous_commit-off twin
	ownsBK bool
	opts   Options
	log    *slog.Logger
	defs   sync.Map // definition text → *asl.Definition

	quotas      *quotas
	transitions *transitionBucket

	mu       sync.Mutex
	funcs    map[string]Handler
	running  map[string]context.CancelCauseFunc
	waiters  map[string]chan struct{}
	ctx      context.Context
	cancel   context.CancelFunc
	started  bool
	closed   bool
	wg       sync.WaitGroup
	sqsOnce  sync.Once
	sqs      *sqs.Client
	sqsError error
}

// New returns an Executor on pool. It starts nothing; call Start.
func New(pool *pgxpool.Pool, opts Options) *Executor {
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.AccountID == "" {
		opts.AccountID = "123456789012"
	}
	if opts.Clock == nil {
		opts.Clock = asl.RealClock
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.TokenPollInterval <= 0 {
		opts.TokenPollInterval = time.Second
	}
	if opts.APIQuotas == nil {
		opts.APIQuotas = DefaultAPIQuotas()
	}
	tq := DefaultTransitionQuota()
	if opts.TransitionQuota != nil {
		tq = *opts.TransitionQuota
	}
	e := &Executor{pool: pool, bk: pool, opts: opts, log: opts.Logger, quotas: newQuotas(opts.APIQuotas, time.Now),
		funcs: map[string]Handler{}, running: map[string]context.CancelCauseFunc{},
		waiters: map[string]chan struct{}{}}
	e.transitions = newTransitionBucket(tq, opts.Clock, opts.OnThrottle)
	if !opts.DurableBookkeeping {
		e.bk, e.ownsBK = bookkeeping.Open(pool, 16)
	}
	return e
}

// parse returns the parsed definition, parsing each distinct text once
// (a parsed Definition is read-only while it runs).
func (e *Executor) parse(definition string) (*asl.Definition, error) {
	if d, ok := e.defs.Load(definition); ok {
		return d.(*asl.Definition), nil
	}
	d, err := asl.Parse([]byte(definition))
	if err != nil {
		return nil, err
	}
	e.defs.Store(definition, d)
	return d, nil
}

func (e *Executor) now() time.Time { return e.opts.Clock.Now().UTC().Truncate(time.Microsecond) }

// RegisterFunction makes a Go handler callable as the Lambda function named
// by arnOrName (a name or any Lambda ARN form; the function name is the
// key, so region, account and qualifiers are ignored when calling).
//
// Error mapping (like aws-lambda-go): a handler error fails the task with
// the error's dynamic type name as ASL error name (pointer types give the
// element's name, e.g. *errors.errorString → "errorString") and Cause
// {"errorMessage": err.Error(), "errorType": name}; a handler panic fails it
// with Lambda.Unknown and never crashes the executor.
func (e *Executor) RegisterFunction(arnOrName string, h Handler) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.funcs[functionName(arnOrName)] = h
}

// RegisterStateMachine creates the state machine or replaces its definition
// (running executions keep the definition they started with). It returns
// the ARN. Invalid definitions fail with InvalidDefinition.
func (e *Executor) RegisterStateMachine(ctx context.Context, name string, definition []byte) (string, error) {
	if !validName(name) {
		return "", apiErr(CodeInvalidName, "Invalid Name: '%s'", name)
	}
	if _, err := asl.Parse(definition); err != nil {
		return "", apiErr(CodeInvalidDefinition, "Invalid State Machine Definition: '%v'", err)
	}
	arn := e.stateMachineARN(name)
	now := e.now()
	_, err := e.pool.Exec(ctx, `
		INSERT INTO localaws.sfn_state_machines (arn, name, definition, role_arn, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $5)
		ON CONFLICT (arn) DO UPDATE SET definition = EXCLUDED.definition, updated_at = EXCLUDED.updated_at`,
		arn, name, string(definition), e.defaultRole(), now)
	if err != nil {
		return "", fmt.Errorf("sfn: register state machine %s: %w", name, err)
	}
	return arn, nil
}

func (e *Executor) defaultRole() string {
	return fmt.Sprintf("arn:aws:iam::%s:role/local-stepfunctions", e.opts.AccountID)
}

// Start resumes every RUNNING execution and runs new ones until Close or
// until ctx ends. It may be called once.
func (e *Executor) Start(ctx context.Context) error {
	e.mu.Lock()
	if e.started || e.closed {
		e.mu.Unlock()
		return errors.New("sfn: executor already started or closed")
	}
	e.started = true
	e.ctx, e.cancel = context.WithCancel(ctx)
	e.mu.Unlock()
	rows, err := e.pool.Query(ctx, `SELECT arn FROM localaws.sfn_executions WHERE status = 'RUNNING' ORDER BY start_date`)
	if err != nil {
		return fmt.Errorf("sfn: list running executions: %w", err)
	}
	arns, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("sfn: list running executions: %w", err)
	}
	for _, a := range arns {
		e.log.Info("sfn: resuming execution", "execution", a)
		e.launch(a)
	}
	return nil
}

// Close stops running executions (their state stays RUNNING in the database
// and resumes on the next Start) and waits for their goroutines.
func (e *Executor) Close() {
	e.mu.Lock()
	e.closed = true
	cancel := e.cancel
	e.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	e.wg.Wait()
	e.mu.Lock()
	owns := e.ownsBK
	e.ownsBK = false
	e.mu.Unlock()
	if owns {
		e.bk.Close()
	}
}

// launch starts the goroutine of one execution unless it already runs.
func (e *Executor) launch(arn string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.started || e.closed {
		return
	}
	if _, ok := e.running[arn]; ok {
		return
	}
	ctx, cancel := context.WithCancelCause(e.ctx)
	e.running[arn] = cancel
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer func() {
			e.mu.Lock()
			delete(e.running, arn)
			e.mu.Unlock()
			cancel(nil)
		}()
		e.runExecution(ctx, arn)
	}()
}
