package saga

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/checkout-dev/checkout/internal/strictjson"
	"github.com/checkout-dev/checkout/internal/tracing"
)

// Handler is one step as a Lambda sees it: raw JSON in, raw JSON out. It
// implements aws-lambda-go's lambda.Handler, so a Lambda's main.go passes it
// to lambda.Start, and the local Step Functions executor calls Invoke
// directly: the very same code in both places.
type Handler struct {
	name   Step
	invoke func(ctx context.Context, payload []byte) ([]byte, error)
}

// Name is the step's function name ("reserve-stock", ...).
func (h Handler) Name() Step { return h.name }

// Invoke runs the step on payload. Errors are the typed errors of this
// package, so their type names are the state machine's error names.
func (h Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return h.invoke(ctx, payload)
}

// Step names a saga step by its function's name: the folder under
// functions/ (and the template's CodeUri).
type Step string

// The steps.
const (
	FnReserveStock  Step = "reserve-stock"
	FnChargePayment Step = "charge-payment"
	FnCreateOrder   Step = "create-order"
	FnReleaseStock  Step = "release-stock"
	FnRefundPayment Step = "refund-payment"
	FnMarkOutcome   Step = "mark-outcome"
	// FnAwaitAuthentication is the Lambda of the state that waits for the
	// customer's 3-D Secure (invoked with a task token).
	FnAwaitAuthentication Step = "await-authentication"
	FnCapturePayment      Step = "capture-payment"
)

// Handlers returns every step's handler by function name.
func (s *Steps) Handlers() map[Step]Handler {
	return map[Step]Handler{
		FnReserveStock:  handle(s, FnReserveStock, s.ReserveStock),
		FnChargePayment: handle(s, FnChargePayment, s.ChargePayment),
		FnCreateOrder:   handle(s, FnCreateOrder, s.CreateOrder),
		FnReleaseStock:  handle(s, FnReleaseStock, s.ReleaseStock),
		FnRefundPayment: handle(s, FnRefundPayment, s.RefundPayment),
		FnMarkOutcome:   handle(s, FnMarkOutcome, s.MarkOutcome),
		FnAwaitAuthentication: handle(s, FnAwaitAuthentication, func(ctx context.Context, in AwaitInput) (AwaitInput, error) {
			st, err := s.AwaitAuthentication(ctx, in)
			return AwaitInput{State: st}, err
		}),
		FnCapturePayment: handle(s, FnCapturePayment, s.CapturePayment),
	}
}

// Handler returns the handler of the named step; it panics on an unknown
// name (a wiring bug caught at start-up).
func (s *Steps) Handler(name Step) Handler {
	h, ok := s.Handlers()[name]
	if !ok {
		panic("saga: no step named " + string(name))
	}
	return h
}

func handle[T any](s *Steps, name Step, fn func(context.Context, T) (T, error)) Handler {
	return Handler{name: name, invoke: func(ctx context.Context, payload []byte) (out []byte, err error) {
		ctx, span, checkoutID := stepSpan(ctx, name, payload)
		start := time.Now()
		defer func() {
			if r := recover(); r != nil {
				err = toStepError(ctx, s.log(), name, fmt.Errorf("panic: %v", r))
			}
			tracing.End(span, err)
			// One line per state transition the saga's Lambdas make, with
			// the ids that join it to the request's line and the trace.
			s.log().InfoContext(ctx, "step", "step", string(name), "checkout_id", checkoutID,
				"trace_id", span.SpanContext().TraceID().String(), "duration_ms", time.Since(start).Milliseconds(),
				"error", ErrorName(err))
		}()
		var in T
		if err := strictjson.Decode(payload, &in); err != nil {
			return nil, toStepError(ctx, s.log(), name, err)
		}
		res, err := fn(ctx, in)
		if err != nil {
			return nil, toStepError(ctx, s.log(), name, err)
		}
		return json.Marshal(res)
	}}
}

// stepSpan starts the step's span: a child of the state's span (the local
// Step Functions) or of the Lambda's X-Ray header, else of the checkout's
// traceparent in the input.
func stepSpan(ctx context.Context, name Step, payload []byte) (context.Context, trace.Span, string) {
	var in struct {
		CheckoutID  string `json:"checkout_id"`
		Traceparent string `json:"traceparent"`
		State       *struct {
			CheckoutID  string `json:"checkout_id"`
			Traceparent string `json:"traceparent"`
		} `json:"state"`
	}
	_ = json.Unmarshal(payload, &in) // a bad payload is the step's to refuse
	if in.State != nil {
		in.CheckoutID, in.Traceparent = in.State.CheckoutID, in.State.Traceparent
	}
	ctx = tracing.ParentFromLambda(ctx, in.Traceparent)
	ctx, span := tracing.Start(ctx, "step:"+string(name), "step "+string(name), tracing.AttrCheckoutID.String(in.CheckoutID))
	return ctx, span, in.CheckoutID
}

// ErrorName is the state machine's name of a step's error ("" for none):
// its Go type name, as aws-lambda-go reports it as errorType.
func ErrorName(err error) string {
	if err == nil {
		return ""
	}
	t := reflect.TypeOf(err)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
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
