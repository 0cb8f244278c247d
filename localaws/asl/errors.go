package asl

import (
	"errors"
	"fmt"
)

// Predefined error names (states-language.net, Appendix A, and the AWS
// developer guide "Handling errors in Step Functions workflows").
const (
	ErrAll               = "States.ALL"
	ErrTimeout           = "States.Timeout"
	ErrHeartbeatTimeout  = "States.HeartbeatTimeout"
	ErrTaskFailed        = "States.TaskFailed"
	ErrPermissions       = "States.Permissions"
	ErrRuntime           = "States.Runtime"
	ErrDataLimitExceeded = "States.DataLimitExceeded"
	ErrBranchFailed      = "States.BranchFailed"
	ErrNoChoiceMatched   = "States.NoChoiceMatched"
	ErrIntrinsicFailure  = "States.IntrinsicFailure"
	// ErrExceedToleratedFailureThreshold fails a Map state whose failed
	// iterations exceed ToleratedFailurePercentage or ToleratedFailureCount.
	ErrExceedToleratedFailureThreshold = "States.ExceedToleratedFailureThreshold"
)

// TaskError is a named failure: what a TaskRunner returns to fail a task
// with a specific error name, and what the interpreter uses internally for
// every state failure. (The brief's field "Error" is called ErrorName here
// because a Go type cannot have both a field and a method named Error.)
type TaskError struct {
	ErrorName string
	Cause     string
}

func (e *TaskError) Error() string {
	if e.Cause == "" {
		return e.ErrorName
	}
	return e.ErrorName + ": " + e.Cause
}

// ErrTaskTimedOut is the context cause the interpreter cancels a task's
// context with when TimeoutSeconds elapses (see context.Cause).
var ErrTaskTimedOut = errors.New("asl: task timed out")

// asTaskError maps any error returned by a TaskRunner to a named failure.
// The rule: a *TaskError (anywhere in the chain) keeps its name and cause;
// any other error becomes States.TaskFailed with the error text as cause.
func asTaskError(err error) *TaskError {
	var te *TaskError
	if errors.As(err, &te) {
		return te
	}
	return &TaskError{ErrorName: ErrTaskFailed, Cause: err.Error()}
}

func runtimeErr(format string, args ...any) *TaskError {
	return &TaskError{ErrorName: ErrRuntime, Cause: fmt.Sprintf(format, args...)}
}

// isTerminal reports errors that no Retrier or Catcher handles, not even
// one naming them or States.ALL: the AWS guide says "A States.Runtime error
// isn't retriable, and will always cause the execution to fail. A retry or
// catch on States.ALL won't catch States.Runtime errors", and
// States.DataLimitExceeded is "a terminal error that can't be caught by the
// States.ALL error type".
func isTerminal(name string) bool {
	return name == ErrRuntime || name == ErrDataLimitExceeded
}

// errorMatches reports whether an error name is matched by an ErrorEquals
// list: an exact name, States.ALL (any non-terminal error) or
// States.TaskFailed ("acts as a wildcard that matches any known error name
// except for States.Timeout").
func errorMatches(equals []string, name string) bool {
	if isTerminal(name) {
		return false
	}
	for _, e := range equals {
		switch {
		case e == name, e == ErrAll:
			return true
		case e == ErrTaskFailed && name != ErrTimeout:
			return true
		}
	}
	return false
}
