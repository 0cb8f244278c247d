package devtrace

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/postgres"
	"github.com/checkout-dev/checkout/internal/tracing"
)

// Span is one stored span.
type Span struct {
	TraceID       string         `json:"trace_id"`
	SpanID        string         `json:"span_id"`
	ParentID      string         `json:"parent_id,omitempty"`
	Name          string         `json:"name"`
	Service       string         `json:"service"`
	Start         time.Time      `json:"start"`
	End           time.Time      `json:"end"`
	Status        string         `json:"status"`
	StatusMessage string         `json:"status_message,omitempty"`
	Attributes    map[string]any `json:"attributes,omitempty"`
}

// Duration is End − Start.
func (s Span) Duration() time.Duration { return s.End.Sub(s.Start) }

// Trace returns the spans of traceID ordered by start; none when the trace
// is unknown (or the schema does not exist yet).
func Trace(ctx context.Context, pool *pgxpool.Pool, traceID string) ([]Span, error) {
	spans, _, err := query(ctx, pool, `WHERE trace_id = $1`, traceID)
	return spans, err
}

// ByCheckout returns the spans of every trace that names checkoutID (its
// own, and those of the requests that polled it), ordered by start.
// available is false when the span table does not exist (no tracing here).
func ByCheckout(ctx context.Context, pool *pgxpool.Pool, checkoutID uuid.UUID) (spans []Span, available bool, err error) {
	return query(ctx, pool, `WHERE trace_id IN (SELECT trace_id FROM devtrace.spans WHERE checkout_id = $1)`, checkoutID)
}

func query(ctx context.Context, pool *pgxpool.Pool, where string, arg any) ([]Span, bool, error) {
	rows, err := pool.Query(ctx, `SELECT trace_id, span_id, parent_id, name, service, start_time, end_time, status,
		status_message, attributes FROM devtrace.spans `+where+` ORDER BY start_time, span_id`, arg)
	if err != nil {
		if postgres.IsUndefinedTable(err) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("devtrace: read spans: %w", err)
	}
	spans, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Span, error) {
		var s Span
		var attrs []byte
		err := r.Scan(&s.TraceID, &s.SpanID, &s.ParentID, &s.Name, &s.Service, &s.Start, &s.End, &s.Status, &s.StatusMessage, &attrs)
		if err == nil && len(attrs) > 0 {
			err = json.Unmarshal(attrs, &s.Attributes)
		}
		return s, err
	})
	if err != nil {
		return nil, false, fmt.Errorf("devtrace: read spans: %w", err)
	}
	return spans, true, nil
}

// CheckoutTrace returns the trace id of a checkout: the one recorded on its
// row (checkouts.traceparent), else the one of any span that names it.
func CheckoutTrace(ctx context.Context, pool *pgxpool.Pool, checkoutID uuid.UUID) (string, error) {
	var tp *string
	err := pool.QueryRow(ctx, `SELECT traceparent FROM checkouts WHERE id = $1`, checkoutID).Scan(&tp)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("devtrace: read checkout %s: %w", checkoutID, err)
	}
	if tp != nil {
		if id := tracing.TraceID(*tp); id != "" {
			return id, nil
		}
	}
	var id string
	err = pool.QueryRow(ctx, `SELECT trace_id FROM devtrace.spans WHERE checkout_id = $1 ORDER BY start_time LIMIT 1`, checkoutID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) || postgres.IsUndefinedTable(err) {
		return "", nil
	}
	return id, err
}

// Node is a span placed in its trace's tree.
type Node struct {
	Span
	Depth int // 0 for a root, its parent's depth + 1 otherwise
}

// Tree orders spans as a waterfall draws them: each root in start order,
// each span's children right after it, in start order. A span whose parent
// is not among spans (or is itself) is a root; spans reachable only
// through a cycle of bad data are listed as roots at the end.
func Tree(spans []Span) []Node {
	key := func(trace, span string) string { return trace + "/" + span }
	present := make(map[string]bool, len(spans))
	for _, s := range spans {
		present[key(s.TraceID, s.SpanID)] = true
	}
	order := make([]int, len(spans))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return spans[a].Start.Compare(spans[b].Start) })
	children := map[string][]int{}
	var roots []int
	for _, i := range order {
		s := spans[i]
		if s.ParentID == "" || s.ParentID == s.SpanID || !present[key(s.TraceID, s.ParentID)] {
			roots = append(roots, i)
			continue
		}
		children[key(s.TraceID, s.ParentID)] = append(children[key(s.TraceID, s.ParentID)], i)
	}
	out := make([]Node, 0, len(spans))
	seen := make([]bool, len(spans))
	var walk func(i, depth int)
	walk = func(i, depth int) {
		if seen[i] {
			return
		}
		seen[i] = true
		out = append(out, Node{Span: spans[i], Depth: depth})
		for _, c := range children[key(spans[i].TraceID, spans[i].SpanID)] {
			walk(c, depth+1)
		}
	}
	for _, i := range roots {
		walk(i, 0)
	}
	for _, i := range order {
		walk(i, 0)
	}
	return out
}
