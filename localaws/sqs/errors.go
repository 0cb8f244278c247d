package sqs

import (
	"fmt"
	"net/http"
)

// apiError is an SQS error as it goes on the wire: the JSON body carries
// "__type" (com.amazonaws.sqs#<Type>) and "message"; the x-amzn-query-error
// header carries the legacy query-protocol code and fault, which the AWS SDKs
// use as the error's ErrorCode() (the service is awsQueryCompatible).
type apiError struct {
	status    int
	typ       string // shape name: the SDK resolves its typed error from it
	queryCode string // legacy code, e.g. AWS.SimpleQueueService.NonExistentQueue
	sender    bool
	msg       string
}

func (e *apiError) Error() string { return e.typ + ": " + e.msg }

func newErr(status int, typ, queryCode, format string, args ...any) *apiError {
	return &apiError{status: status, typ: typ, queryCode: queryCode, sender: true, msg: fmt.Sprintf(format, args...)}
}

// The error constructors below follow the SQS API reference and the SDK's
// model (shape name, HTTP status, awsQueryError code).

func errQueueDoesNotExist() *apiError {
	return newErr(400, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue",
		"The specified queue does not exist.")
}

func errQueueNameExists(name string) *apiError {
	return newErr(400, "QueueNameExists", "QueueAlreadyExists",
		"A queue already exists with the same name and a different value for attribute(s) of %s", name)
}

func errInvalidParameterValue(format string, args ...any) *apiError {
	return newErr(400, "InvalidParameterValue", "InvalidParameterValue", format, args...)
}

func errMissingParameter(name string) *apiError {
	return newErr(400, "MissingParameter", "MissingParameter",
		"The request must contain the parameter %s.", name)
}

func errInvalidAttributeName(name string) *apiError {
	return newErr(400, "InvalidAttributeName", "InvalidAttributeName", "Unknown Attribute %s.", name)
}

func errInvalidAttributeValue(format string, args ...any) *apiError {
	return newErr(400, "InvalidAttributeValue", "InvalidAttributeValue", format, args...)
}

func errReceiptHandleIsInvalid(h string) *apiError {
	return newErr(404, "ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid",
		"The input receipt handle \"%s\" is not a valid receipt handle.", h)
}

func errMessageNotInflight() *apiError {
	return newErr(400, "MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight",
		"The specified message isn't in flight.")
}

func errEmptyBatch() *apiError {
	return newErr(400, "EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest",
		"There should be at least one entry in the request.")
}

func errTooManyEntries(n int) *apiError {
	return newErr(400, "TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
		"Maximum number of entries per request are 10. You have sent %d.", n)
}

func errBatchIDsNotDistinct(id string) *apiError {
	return newErr(400, "BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
		"Id %s repeated.", id)
}

func errInvalidBatchEntryID() *apiError {
	return newErr(400, "InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId",
		"A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.")
}

func errBatchRequestTooLong(n int) *apiError {
	return newErr(400, "BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong",
		"Batch requests cannot be longer than %d bytes. You have sent %d bytes.", maxBatchBytes, n)
}

func errInvalidMessageContents() *apiError {
	return newErr(400, "InvalidMessageContents", "InvalidMessageContents",
		"Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF")
}

func errPurgeQueueInProgress(name string) *apiError {
	return newErr(400, "PurgeQueueInProgress", "AWS.SimpleQueueService.PurgeQueueInProgress",
		"Only one PurgeQueue operation on %s is allowed every 60 seconds.", name)
}

func errQueueDeletedRecently() *apiError {
	return newErr(400, "QueueDeletedRecently", "AWS.SimpleQueueService.QueueDeletedRecently",
		"You must wait 60 seconds after deleting a queue before you can create another queue with the same name.")
}

func errUnsupportedOperation(format string, args ...any) *apiError {
	return newErr(400, "UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation", format, args...)
}

func errResourceNotFound(format string, args ...any) *apiError {
	return newErr(404, "ResourceNotFoundException", "ResourceNotFoundException", format, args...)
}

func errInvalidAction(action string) *apiError {
	return newErr(400, "InvalidAction", "InvalidAction",
		"The action %s is not valid for this endpoint.", action)
}

func errSerialization(format string, args ...any) *apiError {
	return newErr(400, "SerializationException", "SerializationException", format, args...)
}

func errInternal() *apiError {
	e := newErr(http.StatusInternalServerError, "InternalError", "InternalError",
		"We encountered an internal error. Please try again.")
	e.sender = false
	return e
}
