package app

import (
	"context"
	"log/slog"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/checkout-dev/checkout/internal/tracing"
)

// SetupTracing installs the function's tracer (tracing.Setup: OTLP to the
// ADOT Lambda layer's collector when OTEL_EXPORTER_OTLP_ENDPOINT is set,
// no-op spans otherwise). A failure is logged: tracing is never a reason
// not to serve.
func SetupTracing(function string, log *slog.Logger) {
	if err := tracing.Setup(context.Background(), function); err != nil {
		log.Error("tracing", "err", err)
	}
}

// StartTraced is lambda.Start for a handler whose spans are flushed before
// every invocation returns (the runtime may freeze the process right
// after). handler is anything lambda.Start takes.
func StartTraced(handler any) {
	h, ok := handler.(lambda.Handler)
	if !ok {
		h = lambda.NewHandler(handler)
	}
	lambda.Start(flushing{h})
}

type flushing struct{ next lambda.Handler }

func (f flushing) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	out, err := f.next.Invoke(ctx, payload)
	tracing.Flush(ctx)
	return out, err
}
