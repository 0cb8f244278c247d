package asl

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"time"
)

// TaskRunner executes Task states. It is provided by the embedder.
//
// RunTask must honour ctx: the interpreter cancels it when TimeoutSeconds
// elapses (context.Cause(ctx) is then ErrTaskTimedOut) and when the
// embedder's context ends. To fail the task with a specific error name,
// return a *TaskError; any other error becomes States.TaskFailed with the
// error text as Cause.
type TaskRunner interface {
	RunTask(ctx context.Context, req TaskRequest) (json.RawMessage, error)
}

// TaskRunnerFunc adapts a function to TaskRunner.
type TaskRunnerFunc func(ctx context.Context, req TaskRequest) (json.RawMessage, error)

// RunTask calls f.
func (f TaskRunnerFunc) RunTask(ctx context.Context, req TaskRequest) (json.RawMessage, error) {
	return f(ctx, req)
}

// TaskRequest is what a Task state asks the TaskRunner to do.
type TaskRequest struct {
	Resource         string          // the Resource field as written
	Input            json.RawMessage // the effective input (after InputPath and Parameters)
	TaskToken        string          // set when Resource ends in .waitForTaskToken
	StateName        string
	Attempt          int // 0 for the first try, then 1, 2... for retries
	TimeoutSeconds   int // 0 when none
	HeartbeatSeconds int // 0 when none
	ExecutionID      string
}

// Clock is the interpreter's source of time. After must deliver on the
// channel once d has elapsed on this clock.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// RealClock is the wall clock.
var RealClock Clock = realClock{}

// ExecutionInfo feeds the context object ($$.Execution, $$.StateMachine).
type ExecutionInfo struct {
	ID               string // execution ARN
	Name             string
	Input            json.RawMessage
	StartTime        time.Time
	RoleArn          string
	StateMachineID   string
	StateMachineName string
}

// Env is everything a step needs besides the definition and the cursor.
type Env struct {
	Runner    TaskRunner
	Clock     Clock          // nil: RealClock
	Random    func() float64 // in [0,1) for jitter and MathRandom; nil: math/rand/v2
	Execution ExecutionInfo
	Region    string // reported in TaskScheduled events
	// TaskToken derives the task token for a task attempt from a key that
	// is unique within the execution and stable across re-runs of the same
	// step. nil: hex SHA-256 of execution ID and key.
	TaskToken func(key string) string
	// Transition, when set, is called before each state transition that
	// Step Functions counts against the account's StateTransition quota:
	// every state entered and every retry attempt of a Task, Parallel or
	// Map state, in branches and iterations too. It may block (the local
	// Step Functions waits there for a token of its bucket) and must
	// return when ctx ends; an error ends the step as a context error
	// does: Step returns it and the cursor stays valid to re-run.
	Transition func(ctx context.Context) error

	scope string         // branch/iteration prefix for token keys
	outer map[string]any // variables of the enclosing scopes (read-only)
	vars  map[string]any // the variables visible to the current step
}

func (e *Env) now() time.Time {
	if e.Clock == nil {
		return time.Now().UTC()
	}
	return e.Clock.Now().UTC()
}

// transition takes the quota's token for the step of c, when the step
// enters a state or starts a retry attempt (see Env.Transition).
func (e *Env) transition(ctx context.Context, c Cursor) error {
	if e.Transition == nil {
		return nil
	}
	// A retried state is re-entered with its phase reset and RetryCount
	// raised (stepper.fail); every other step of an entered state (a
	// scheduled task's run, a Wait's end) is not a transition.
	if !c.Entered || (c.Phase == "" && c.RetryCount > 0) {
		return e.Transition(ctx)
	}
	return nil
}

func (e *Env) clock() Clock {
	if e.Clock == nil {
		return RealClock
	}
	return e.Clock
}

func (e *Env) random() float64 {
	if e.Random == nil {
		return rand.Float64()
	}
	return e.Random()
}

func (e *Env) token(key string) string {
	key = e.scope + key
	if e.TaskToken != nil {
		return e.TaskToken(key)
	}
	h := sha256.Sum256([]byte(e.Execution.ID + "\x00" + key))
	return hex.EncodeToString(h[:])
}

func (e *Env) child(scope string) *Env {
	c := *e
	c.scope = e.scope + scope + "/"
	return &c
}

// Event is one history event, named and shaped as in the AWS Step Functions
// GetExecutionHistory API: Type is the AWS event type (TaskStateEntered,
// TaskScheduled, ...) and Details the object that goes under DetailsKey().
type Event struct {
	Type      string          `json:"type"`
	Timestamp time.Time       `json:"timestamp"`
	Details   json.RawMessage `json:"details,omitempty"`
}

// DetailsKey is the HistoryEvent field that carries Details, e.g.
// "stateEnteredEventDetails" or "taskFailedEventDetails"; "" when the event
// type has no details.
func (e Event) DetailsKey() string {
	return DetailsKey(e.Type)
}

// DetailsKey maps an AWS history event type to its details field name.
func DetailsKey(typ string) string {
	switch {
	case len(typ) > 12 && typ[len(typ)-12:] == "StateEntered":
		return "stateEnteredEventDetails"
	case len(typ) > 11 && typ[len(typ)-11:] == "StateExited":
		return "stateExitedEventDetails"
	}
	switch typ {
	case "ParallelStateStarted", "ParallelStateSucceeded", "ParallelStateFailed", "ParallelStateAborted",
		"MapStateSucceeded", "MapStateFailed", "MapStateAborted", "WaitStateAborted":
		return ""
	}
	if typ == "" {
		return ""
	}
	return string(typ[0]+'a'-'A') + typ[1:] + "EventDetails"
}

func event(t time.Time, typ string, details any) Event {
	ev := Event{Type: typ, Timestamp: t}
	if details != nil {
		ev.Details = mustEncode(details)
	}
	return ev
}

// Cursor is the complete, JSON-serialisable position of an execution (or of
// a Parallel branch). Status is "" while running, then SUCCEEDED or FAILED.
type Cursor struct {
	State      string          `json:"state,omitempty"`
	Input      json.RawMessage `json:"input,omitempty"` // the state's raw input
	Phase      string          `json:"phase,omitempty"` // "" (enter), "run" (task scheduled), "wait"
	Entered    bool            `json:"entered,omitempty"`
	EnteredAt  time.Time       `json:"enteredAt"`
	Seq        int64           `json:"seq"`                // states entered so far, 1-based
	Attempts   []int           `json:"attempts,omitempty"` // retries done per Retrier in this state visit
	RetryCount int             `json:"retryCount,omitempty"`
	ResumeAt   *time.Time      `json:"resumeAt,omitempty"` // do not step before this time
	TaskInput  json.RawMessage `json:"taskInput,omitempty"`
	TaskToken  string          `json:"taskToken,omitempty"`
	Timeout    int             `json:"timeout,omitempty"`   // seconds, resolved when scheduled
	Heartbeat  int             `json:"heartbeat,omitempty"` // seconds, resolved when scheduled
	Vars       json.RawMessage `json:"vars,omitempty"`      // this scope's workflow variables (an object)

	Status string          `json:"status,omitempty"`
	Output json.RawMessage `json:"output,omitempty"`
	Error  string          `json:"error,omitempty"`
	Cause  string          `json:"cause,omitempty"`
}

// Done reports whether the cursor is terminal.
func (c Cursor) Done() bool { return c.Status != "" }

// Status values of a terminal cursor.
const (
	StatusSucceeded = "SUCCEEDED"
	StatusFailed    = "FAILED"
)
