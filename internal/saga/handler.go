package saga

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/checkout-dev/checkout/internal/apperr"
)

// Handler is one step as a Lambda sees it: raw JSON in, raw JSON out. It
// implements aws-lambda-go's lambda.Handler, so a Lambda's main.go passes it
// to lambda.Start, and the local Step Functions executor calls Invoke
// directly: the very same code in both places.
type Handler struct {
	name   string
	invoke func(ctx context.Context, payload []byte) ([]byte, error)
}

// Name is the step's function name ("reserve-stock", ...).
func (h Handler) Name() string { return h.name }

// Invoke runs the step on payload. Errors are the typed errors of this
// package, so their type names are the state machine's error names.
func (h Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return h.invoke(ctx, payload)
}

// Step function names, as the folders under functions/.
const (
	FnReserveStock  = "reserve-stock"
	FnChargePayment = "charge-payment"
	FnCreateOrder   = "create-order"
	FnReleaseStock  = "release-stock"
	FnRefundPayment = "refund-payment"
	FnMarkOutcome   = "mark-outcome"
)

// Handlers returns every step's handler by function name.
func (s *Steps) Handlers() map[string]Handler {
	return map[string]Handler{
		FnReserveStock:  handle(s, FnReserveStock, s.ReserveStock),
		FnChargePayment: handle(s, FnChargePayment, s.ChargePayment),
		FnCreateOrder:   handle(s, FnCreateOrder, s.CreateOrder),
		FnReleaseStock:  handle(s, FnReleaseStock, s.ReleaseStock),
		FnRefundPayment: handle(s, FnRefundPayment, s.RefundPayment),
		FnMarkOutcome:   handle(s, FnMarkOutcome, s.MarkOutcome),
	}
}

// Handler returns the handler of the named step; it panics on an unknown
// name (a wiring bug caught at start-up).
func (s *Steps) Handler(name string) Handler {
	h, ok := s.Handlers()[name]
	if !ok {
		panic("saga: no step named " + name)
	}
	return h
}

func handle[T any](s *Steps, name string, fn func(context.Context, T) (T, error)) Handler {
	return Handler{name: name, invoke: func(ctx context.Context, payload []byte) (out []byte, err error) {
		defer func() {
			if r := recover(); r != nil {
				err = toStepError(ctx, s.log(), name, fmt.Errorf("panic: %v", r))
			}
		}()
		var in T
		if err := decodeStrict(payload, &in); err != nil {
			return nil, toStepError(ctx, s.log(), name, err)
		}
		res, err := fn(ctx, in)
		if err != nil {
			return nil, toStepError(ctx, s.log(), name, err)
		}
		return json.Marshal(res)
	}}
}

// decodeStrict decodes one JSON value, rejecting unknown fields, trailing
// data and type mismatches with an Invalid error naming the field.
func decodeStrict(payload []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return apperr.InvalidField("body", "must hold one JSON object and nothing after it")
	}
	return nil
}

func decodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			field = "body"
		}
		return apperr.InvalidField(field, "must be a JSON %s", jsonKind(typeErr.Type.Kind().String()))
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return apperr.InvalidField("body", "is not valid JSON")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return apperr.InvalidField(strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), "is not a known field")
	}
	return apperr.InvalidField("body", "cannot be decoded: %v", err)
}

func jsonKind(goKind string) string {
	switch goKind {
	case "int", "int64", "int32", "uint", "float64":
		return "number"
	case "slice", "array":
		return "array"
	case "struct", "map", "ptr":
		return "object"
	}
	return goKind
}

// causeMessage extracts the human message from a caught error's Cause: a
// Lambda's cause is the JSON {"errorMessage","errorType"}; others are text.
func causeMessage(e *StepError) string {
	var lambdaErr struct {
		ErrorMessage string `json:"errorMessage"`
	}
	if json.Unmarshal([]byte(e.Cause), &lambdaErr) == nil && lambdaErr.ErrorMessage != "" {
		return lambdaErr.ErrorMessage
	}
	if e.Cause != "" {
		return e.Cause
	}
	return e.Error
}
