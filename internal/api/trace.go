package api

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/checkout-dev/checkout/internal/tracing"
)

// requestSpan starts the request's span, the root of a checkout's trace: a
// child of the caller's W3C traceparent header, or of API Gateway's X-Ray
// header (X-Amzn-Trace-Id, when the stage traces), else a new trace.
func requestSpan(ctx context.Context, req events.APIGatewayProxyRequest) (context.Context, trace.Span) {
	if tp, ok := Header(req, "traceparent"); ok {
		ctx = tracing.WithTraceparent(ctx, tp)
	} else if h, ok := Header(req, "X-Amzn-Trace-Id"); ok {
		ctx = tracing.WithXRayHeader(ctx, h)
	}
	return tracing.Tracer().Start(ctx, "HTTP "+req.HTTPMethod, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(tracing.AttrService.String("api"), attribute.String("http.request.method", req.HTTPMethod)))
}

// endRequestSpan names the span after its route and ends it; 5xx answers
// are errors.
func endRequestSpan(span trace.Span, route string, status int, checkoutID string) {
	if route != "" {
		span.SetName(route)
		span.SetAttributes(attribute.String("http.route", route))
	}
	span.SetAttributes(attribute.Int("http.response.status_code", status))
	if checkoutID != "" {
		span.SetAttributes(tracing.AttrCheckoutID.String(checkoutID))
	}
	if status >= 500 {
		span.SetStatus(codes.Error, "server error")
	}
	span.End()
}
