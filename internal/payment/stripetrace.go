package payment

import (
	"fmt"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/checkout-dev/checkout/internal/tracing"
)

// tracedTransport starts a span per Stripe call: the method and path (ids
// of intents and refunds, never card data), the Idempotency-Key, the HTTP
// status and an outcome ("ok", "declined" for 402, "error"). Request and
// response bodies are never recorded.
type tracedTransport struct{ next http.RoundTripper }

func (t tracedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, span := tracing.Tracer().Start(req.Context(), "stripe "+req.Method+" "+req.URL.Path,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(tracing.AttrService.String("stripe"), attribute.String("http.request.method", req.Method),
			attribute.String("url.path", req.URL.Path)))
	if k := req.Header.Get("Idempotency-Key"); k != "" {
		span.SetAttributes(tracing.AttrIdempotencyKey.String(k))
	}
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	switch {
	case err != nil:
		span.SetAttributes(tracing.AttrOutcome.String("error"))
		span.SetStatus(codes.Error, err.Error())
	default:
		span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
		outcome := "ok"
		switch {
		case resp.StatusCode == http.StatusPaymentRequired:
			outcome = "declined"
		case resp.StatusCode >= 400:
			outcome = "error"
			span.SetStatus(codes.Error, fmt.Sprintf("HTTP %d", resp.StatusCode))
		}
		span.SetAttributes(tracing.AttrOutcome.String(outcome))
	}
	span.End()
	return resp, err
}
