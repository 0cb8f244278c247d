// Package tracing is the OpenTelemetry wiring of every function and of the
// local stack: one trace per checkout, from the API request that created it
// through every state of the saga, the Stripe calls and the post-order
// consumers.
//
// How the context travels:
//
//   - API → saga: the checkout row keeps the W3C traceparent of the request
//     that created it (checkouts.traceparent); the saga's input carries it
//     ("traceparent"), so every start of the execution has the same input.
//   - state → step: the local Step Functions starts a span per Task state
//     and calls the step with it in the context; on AWS, Step Functions'
//     X-Ray tracing passes the trace header to the Lambda. A step with
//     neither uses the input's traceparent.
//   - saga → SQS → consumers: Step Functions adds the AWSTraceHeader system
//     attribute to the messages it sends (the local one does the same); a
//     consumer continues the trace from it.
//
// Spans never carry card data: Stripe spans name the call, its idempotency
// key and its outcome.
package tracing

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Name is the instrumentation scope of the product's spans.
const Name = "github.com/checkout-dev/checkout"

// Attribute keys the product sets.
const (
	AttrCheckoutID     = attribute.Key("checkout.id")
	AttrService        = attribute.Key("checkout.service") // api, step:reserve-stock, sfn, stripe, consumer:shipping …
	AttrIdempotencyKey = attribute.Key("checkout.idempotency_key")
	AttrOutcome        = attribute.Key("checkout.outcome")
)

var propagator = propagation.TraceContext{}

// Tracer is the product's tracer on the global provider (a no-op until
// [Setup] or [Use] installs one).
func Tracer() trace.Tracer { return otel.Tracer(Name) }

// Start starts a span named name as a child of ctx's span, with the service
// attribute set.
func Start(ctx context.Context, service, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return Tracer().Start(ctx, name, trace.WithAttributes(append(attrs, AttrService.String(service))...))
}

// StartSQL starts the span of a database transaction of note ("sql NAME",
// service postgres).
func StartSQL(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return Start(ctx, "postgres", "sql "+name, append(attrs, attribute.String("db.system", "postgresql"))...)
}

// End ends span, marking it as an error when err is not nil.
func End(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// Use installs the provider tp as the global one (the local stack passes
// one with its own exporter). Propagation needs no global: this package
// injects and extracts with its own propagator.
func Use(tp trace.TracerProvider) {
	otel.SetTracerProvider(tp)
}

// Setup installs, for a Lambda, a provider that exports to the OTLP/HTTP
// endpoint of OTEL_EXPORTER_OTLP_ENDPOINT (the ADOT Lambda layer's
// collector on localhost:4318, which forwards to X-Ray) with service.name
// service. Without that variable it installs nothing (spans are no-ops). A
// Lambda calls [Flush] before each invocation returns (the process may be
// frozen right after); nothing shuts the provider down (the runtime kills
// the process).
func Setup(ctx context.Context, service string) error {
	if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		return nil
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attribute.String("service.name", service)))
	if err != nil {
		return err
	}
	// IDs X-Ray accepts: the first 32 bits of a trace id are its start time.
	Use(sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res), sdktrace.WithIDGenerator(XRayIDs())))
	return nil
}

// Flush exports the spans ended so far (a Lambda calls it before returning,
// since the process may be frozen right after).
func Flush(ctx context.Context) {
	if f, ok := otel.GetTracerProvider().(interface{ ForceFlush(context.Context) error }); ok {
		_ = f.ForceFlush(ctx)
	}
}

// Traceparent is the W3C traceparent of ctx's span, "" without one.
func Traceparent(ctx context.Context) string {
	c := propagation.MapCarrier{}
	propagator.Inject(ctx, c)
	return c["traceparent"]
}

// WithTraceparent returns ctx carrying the remote span of traceparent tp as
// the parent of spans started from it (ctx unchanged when tp is invalid).
func WithTraceparent(ctx context.Context, tp string) context.Context {
	if tp == "" {
		return ctx
	}
	return propagator.Extract(ctx, propagation.MapCarrier{"traceparent": tp})
}

// TraceID returns the trace id (32 hex) of a traceparent, "" when invalid.
func TraceID(tp string) string {
	sc := trace.SpanContextFromContext(WithTraceparent(context.Background(), tp))
	if !sc.IsValid() {
		return ""
	}
	return sc.TraceID().String()
}

var xrayRoot = regexp.MustCompile(`^1-([0-9a-f]{8})-([0-9a-f]{24})$`)

// WithXRayHeader returns ctx carrying the remote span of an X-Ray trace
// header (AWSTraceHeader, Lambda's _X_AMZN_TRACE_ID) as the parent of spans
// started from it; ctx unchanged when the header has no valid Root and
// Parent.
func WithXRayHeader(ctx context.Context, h string) context.Context {
	var root, parent string
	sampled := true
	for _, part := range strings.Split(h, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Root":
			root = v
		case "Parent":
			parent = v
		case "Sampled":
			sampled = v != "0"
		}
	}
	m := xrayRoot.FindStringSubmatch(root)
	if m == nil || len(parent) != 16 {
		return ctx
	}
	flags := "00"
	if sampled {
		flags = "01"
	}
	return WithTraceparent(ctx, "00-"+m[1]+m[2]+"-"+parent+"-"+flags)
}

// ParentFromLambda returns ctx with a parent span for a Lambda's work: ctx's
// own span if it has one (the local Step Functions passes its state's span),
// else the X-Ray header aws-lambda-go puts in the context, else traceparent
// tp (from the input).
func ParentFromLambda(ctx context.Context, tp string) context.Context {
	if trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	if h, ok := ctx.Value("x-amzn-trace-id").(string); ok && h != "" { //nolint:staticcheck // aws-lambda-go's own key
		if c := WithXRayHeader(ctx, h); trace.SpanContextFromContext(c).IsValid() {
			return c
		}
	}
	return WithTraceparent(ctx, tp)
}
