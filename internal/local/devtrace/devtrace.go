// Package devtrace keeps the local stack's traces in its PostgreSQL (schema
// devtrace), where `checkoutctl trace` and the dashboard read them. It is
// the local stand-in for X-Ray: never linked by a Lambda.
//
// Retention is bounded: spans older than [Retention] are deleted as new ones
// arrive (at most once a minute).
package devtrace

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/checkout-dev/checkout/internal/tracing"
)

// Retention is how long spans are kept.
const Retention = 24 * time.Hour

// Schema creates the span table (idempotent).
const Schema = `
CREATE SCHEMA IF NOT EXISTS devtrace;
CREATE TABLE IF NOT EXISTS devtrace.spans (
    trace_id       text NOT NULL,
    span_id        text NOT NULL,
    parent_id      text NOT NULL DEFAULT '',
    name           text NOT NULL,
    service        text NOT NULL,
    start_time     timestamptz NOT NULL,
    end_time       timestamptz NOT NULL,
    status         text NOT NULL DEFAULT 'ok',
    status_message text NOT NULL DEFAULT '',
    attributes     jsonb NOT NULL DEFAULT '{}',
    checkout_id    uuid,
    PRIMARY KEY (trace_id, span_id)
);
CREATE INDEX IF NOT EXISTS spans_checkout ON devtrace.spans (checkout_id) WHERE checkout_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS spans_start ON devtrace.spans (start_time);`

// Exporter writes ended spans to devtrace.spans. It implements
// sdktrace.SpanExporter; use it behind a batch span processor.
type Exporter struct {
	pool *pgxpool.Pool

	mu        sync.Mutex
	lastPrune time.Time
}

// NewExporter creates the schema on pool and returns the exporter.
func NewExporter(ctx context.Context, pool *pgxpool.Pool) (*Exporter, error) {
	if _, err := pool.Exec(ctx, Schema); err != nil {
		return nil, fmt.Errorf("devtrace: create schema: %w", err)
	}
	return &Exporter{pool: pool}, nil
}

// The process's provider: one global OpenTelemetry provider, whose spans go
// to every registered exporter (a test process may run several stacks at
// once; each database then also holds the others' spans, under their own
// trace ids, which no query mixes up).
var global struct {
	once      sync.Once
	provider  *sdktrace.TracerProvider
	mu        sync.Mutex
	exporters map[*Exporter]bool
}

type fanOut struct{}

func (fanOut) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	global.mu.Lock()
	var es []*Exporter
	for e := range global.exporters {
		es = append(es, e)
	}
	global.mu.Unlock()
	var first error
	for _, e := range es {
		if err := e.ExportSpans(ctx, spans); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (fanOut) Shutdown(context.Context) error { return nil }

// Register installs the process's tracer provider (once: batches of up to
// 500 ms, every span sampled) and sends its spans to e until the returned
// function is called, which first flushes the spans ended so far.
func Register(e *Exporter) (unregister func()) {
	global.once.Do(func() {
		global.exporters = map[*Exporter]bool{}
		global.provider = sdktrace.NewTracerProvider(
			sdktrace.WithBatcher(fanOut{}, sdktrace.WithBatchTimeout(500*time.Millisecond)),
			sdktrace.WithIDGenerator(tracing.XRayIDs()))
		tracing.Use(global.provider)
	})
	global.mu.Lock()
	global.exporters[e] = true
	global.mu.Unlock()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = global.provider.ForceFlush(ctx)
		global.mu.Lock()
		delete(global.exporters, e)
		global.mu.Unlock()
	}
}

// ExportSpans implements sdktrace.SpanExporter.
func (e *Exporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if len(spans) == 0 {
		return nil
	}
	n := len(spans)
	traceIDs, spanIDs, parents, names, services := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	starts, ends := make([]time.Time, n), make([]time.Time, n)
	statuses, messages, attributes := make([]string, n), make([]string, n), make([]string, n)
	checkouts := make([]*uuid.UUID, n)
	for i, s := range spans {
		attrs := map[string]any{}
		services[i] = s.InstrumentationScope().Name
		for _, kv := range s.Attributes() {
			switch kv.Key {
			case tracing.AttrService:
				services[i] = kv.Value.AsString()
				continue
			case tracing.AttrCheckoutID:
				if id, err := uuid.Parse(kv.Value.AsString()); err == nil {
					checkouts[i] = &id
				}
			}
			attrs[string(kv.Key)] = value(kv.Value)
		}
		js, _ := json.Marshal(attrs)
		attributes[i] = string(js)
		statuses[i] = "ok"
		if s.Status().Code == codes.Error {
			statuses[i] = "error"
		}
		if s.Parent().IsValid() {
			parents[i] = s.Parent().SpanID().String()
		}
		traceIDs[i], spanIDs[i], names[i] = s.SpanContext().TraceID().String(), s.SpanContext().SpanID().String(), s.Name()
		starts[i], ends[i], messages[i] = s.StartTime(), s.EndTime(), s.Status().Description
	}
	// One statement per batch of spans, committed without waiting for the
	// WAL flush: a crash may lose the last moment of local traces, never
	// anything of the product's.
	b := &pgx.Batch{}
	b.Queue(`SELECT set_config('synchronous_commit', 'off', true)`)
	b.Queue(`INSERT INTO devtrace.spans (trace_id, span_id, parent_id, name, service, start_time, end_time,
			status, status_message, attributes, checkout_id)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[],
			$8::text[], $9::text[], $10::jsonb[], $11::uuid[])
		ON CONFLICT DO NOTHING`,
		traceIDs, spanIDs, parents, names, services, starts, ends, statuses, messages, attributes, checkouts)
	e.mu.Lock()
	prune := time.Since(e.lastPrune) > time.Minute
	if prune {
		e.lastPrune = time.Now()
	}
	e.mu.Unlock()
	if prune {
		b.Queue(`DELETE FROM devtrace.spans WHERE start_time < $1`, time.Now().Add(-Retention))
	}
	// One round trip: a batch is one pipeline with one Sync, so one implicit
	// transaction, to which set_config(…, true) applies.
	if err := e.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("devtrace: export %d spans: %w", len(spans), err)
	}
	return nil
}

// Shutdown implements sdktrace.SpanExporter (the pool is the caller's).
func (e *Exporter) Shutdown(context.Context) error { return nil }

func value(v attribute.Value) any {
	switch v.Type() {
	case attribute.BOOL:
		return v.AsBool()
	case attribute.INT64:
		return v.AsInt64()
	case attribute.FLOAT64:
		return v.AsFloat64()
	}
	return v.String()
}
