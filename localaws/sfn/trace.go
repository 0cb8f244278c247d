package sfn

import (
	"context"
	"encoding/json"
	"fmt"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/checkout-dev/checkout/localaws/asl"
)

// Tracing, as Step Functions does with X-Ray tracing active: a span per
// Task state (its name, attempt and resource), a child of the trace the
// execution belongs to, passed to the Lambda handler in its context, and
// the AWSTraceHeader system attribute on the messages sqs:sendMessage sends.
// The execution's trace is its input's "traceparent" field (W3C), since the
// local executor keeps no StartExecution trace header. Spans go to the
// global OpenTelemetry provider: nothing is recorded unless the embedding
// process installed one.

const tracerName = "github.com/checkout-dev/checkout/localaws/sfn"

// executionTrace returns the traceparent of an execution's input ("" if none).
func executionTrace(input json.RawMessage) string {
	var in struct {
		Traceparent string `json:"traceparent"`
	}
	_ = json.Unmarshal(input, &in)
	return in.Traceparent
}

// stateSpan starts the span of one Task state attempt.
func stateSpan(ctx context.Context, traceparent string, req asl.TaskRequest) (context.Context, trace.Span) {
	if traceparent != "" && !trace.SpanContextFromContext(ctx).IsValid() {
		ctx = propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent})
	}
	return otel.Tracer(tracerName).Start(ctx, "state "+req.StateName,
		trace.WithAttributes(attribute.String("checkout.service", "sfn"), attribute.String("sfn.state", req.StateName),
			attribute.Int("sfn.attempt", req.Attempt), attribute.String("sfn.resource", req.Resource),
			attribute.String("sfn.execution", req.ExecutionID)))
}

func endStateSpan(span trace.Span, err error) {
	if err != nil {
		if te, ok := err.(*asl.TaskError); ok {
			span.SetStatus(codes.Error, te.ErrorName)
		} else {
			span.SetStatus(codes.Error, err.Error())
		}
	}
	span.End()
}

// xrayHeader renders ctx's span as an AWSTraceHeader value ("" without one).
func xrayHeader(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return ""
	}
	id := sc.TraceID().String()
	sampled := 0
	if sc.IsSampled() {
		sampled = 1
	}
	return fmt.Sprintf("Root=1-%s-%s;Parent=%s;Sampled=%d", id[:8], id[8:], sc.SpanID().String(), sampled)
}
