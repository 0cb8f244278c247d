package tracing

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// xrayIDs makes trace ids X-Ray accepts: the first 4 bytes are the start
// time in Unix seconds, the other 12 random (X-Ray rejects a trace whose
// embedded time is more than 30 days old).
type xrayIDs struct{}

// XRayIDs returns the id generator of X-Ray-compatible trace ids.
func XRayIDs() sdktrace.IDGenerator { return xrayIDs{} }

func (xrayIDs) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	var t trace.TraceID
	binary.BigEndian.PutUint32(t[:4], uint32(time.Now().Unix()))
	_, _ = crand.Read(t[4:])
	return t, xrayIDs{}.NewSpanID(ctx, t)
}

func (xrayIDs) NewSpanID(context.Context, trace.TraceID) trace.SpanID {
	var s trace.SpanID
	_, _ = crand.Read(s[:])
	return s
}
