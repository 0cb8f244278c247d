// Package apperr gives every domain error a kind. The kind decides what an
// edge does with it: the API maps it to an HTTP status and a snake_case code,
// the Lambda edge maps it to the error type Step Functions matches in Retry
// and Catch, and internal errors are logged in full but shown as
// "internal error".
package apperr

import (
	"errors"
	"fmt"
)

// Kind classifies an error by what the caller should do about it.
type Kind uint8

// Kinds, from the caller's point of view.
const (
	Internal       Kind = iota // a bug or an unexpected failure: log it, show "internal error"
	Invalid                    // bad input: fix the request; nothing was changed
	NotFound                   // no such thing (or not yours)
	Conflict                   // the request contradicts an earlier one (idempotency key reused)
	OutOfStock                 // not enough units available
	Declined                   // the payment method was declined: do not retry
	RequiresAction             // the payment needs the customer (3-D Secure)
	Transient                  // a passing failure (network, 5xx, 429, lock timeout): retry
	Unavailable                // the payment gateway is down or throttling: retry later
	UnknownOutcome             // a request was sent and its outcome is unknown: resolve, never redo
	Expired                    // the reservation expired before it was committed
	State                      // the operation is not allowed in the current state
	Pending                    // the gateway has not decided yet (a payment still processing): ask again later
)

var kindNames = map[Kind]string{
	Internal: "internal", Invalid: "invalid", NotFound: "not_found", Conflict: "conflict",
	OutOfStock: "out_of_stock", Declined: "declined", RequiresAction: "requires_action",
	Transient: "transient", Unavailable: "unavailable", UnknownOutcome: "unknown_outcome",
	Expired: "expired", State: "state", Pending: "pending",
}

func (k Kind) String() string { return kindNames[k] }

// Error is a domain error. Code is the stable snake_case failure code shown
// to API clients (for example "out_of_stock", "payment_declined"); Field names
// the offending input field for Invalid errors; Message is safe to show.
type Error struct {
	Kind    Kind
	Code    string
	Field   string
	Message string
	Details map[string]any
	Err     error // the underlying cause; logged, never shown
}

func (e *Error) Error() string {
	msg := e.Message
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	if e.Err != nil {
		return msg + ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// E builds an error of kind with a message formatted from format and args.
func E(kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// InvalidField reports bad input in the named field (JSON path style:
// "items[2].quantity").
func InvalidField(field, format string, args ...any) *Error {
	return &Error{Kind: Invalid, Code: "invalid_request", Field: field, Message: fmt.Sprintf(format, args...)}
}

// Wrap gives err a kind unless it already carries one.
func Wrap(kind Kind, code string, err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	var ae *Error
	if errors.As(err, &ae) {
		return err
	}
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// KindOf returns the kind of err: Internal for errors without one.
func KindOf(err error) Kind {
	var ae *Error
	if errors.As(err, &ae) {
		return ae.Kind
	}
	return Internal
}

// As returns err's *Error, or nil.
func As(err error) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	return nil
}

// Is reports whether err has the given kind.
func Is(err error, kind Kind) bool { return err != nil && KindOf(err) == kind }
