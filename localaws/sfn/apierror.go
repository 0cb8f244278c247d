package sfn

import (
	"errors"
	"fmt"
)

// APIError is an error in the Step Functions API's shape: Code is the AWS
// error code (e.g. ExecutionDoesNotExist), Status the HTTP status.
type APIError struct {
	Code    string
	Message string
	Status  int
}

func (e *APIError) Error() string { return e.Code + ": " + e.Message }

func apiErr(code, format string, args ...any) *APIError {
	return &APIError{Code: code, Message: fmt.Sprintf(format, args...), Status: 400}
}

// Error codes of the Step Functions API that this package returns.
const (
	CodeStateMachineDoesNotExist = "StateMachineDoesNotExist"
	CodeStateMachineExists       = "StateMachineAlreadyExists"
	CodeExecutionDoesNotExist    = "ExecutionDoesNotExist"
	CodeExecutionAlreadyExists   = "ExecutionAlreadyExists"
	CodeInvalidName              = "InvalidName"
	CodeInvalidArn               = "InvalidArn"
	CodeInvalidDefinition        = "InvalidDefinition"
	CodeInvalidExecutionInput    = "InvalidExecutionInput"
	CodeInvalidOutput            = "InvalidOutput"
	CodeTaskDoesNotExist         = "TaskDoesNotExist"
	CodeTaskTimedOut             = "TaskTimedOut"
	CodeInvalidToken             = "InvalidToken"
	CodeValidation               = "ValidationException"
	CodeThrottling               = "ThrottlingException"
)

// IsCode reports whether err is an *APIError with the given code.
func IsCode(err error, code string) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Code == code
}
