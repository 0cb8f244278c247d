package devtrace

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
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
	rows, err := pool.Query(ctx, `SELECT trace_id, span_id, parent_id, name, service, start_time, end_time, status,
		status_message, attributes FROM devtrace.spans WHERE trace_id = $1 ORDER BY start_time, end_time DESC`, traceID)
	if err != nil {
		if isUndefinedTable(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("devtrace: read trace %s: %w", traceID, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Span, error) {
		var s Span
		var attrs []byte
		err := r.Scan(&s.TraceID, &s.SpanID, &s.ParentID, &s.Name, &s.Service, &s.Start, &s.End, &s.Status, &s.StatusMessage, &attrs)
		if err == nil && len(attrs) > 0 {
			err = json.Unmarshal(attrs, &s.Attributes)
		}
		return s, err
	})
}

// CheckoutTrace returns the trace id of a checkout: the one recorded on its
// row (checkouts.traceparent), else the one of any span that names it.
func CheckoutTrace(ctx context.Context, pool *pgxpool.Pool, checkoutID uuid.UUID) (string, error) {
	var tp *string
	err := pool.QueryRow(ctx, `SELECT traceparent FROM checkouts WHERE id = $1`, checkoutID).Scan(&tp)
	if err != nil && err != pgx.ErrNoRows {
		return "", fmt.Errorf("devtrace: read checkout %s: %w", checkoutID, err)
	}
	if tp != nil && len(*tp) == 55 {
		return (*tp)[3:35], nil
	}
	var id string
	err = pool.QueryRow(ctx, `SELECT trace_id FROM devtrace.spans WHERE checkout_id = $1 ORDER BY start_time LIMIT 1`, checkoutID).Scan(&id)
	if err == pgx.ErrNoRows || isUndefinedTable(err) {
		return "", nil
	}
	return id, err
}

func isUndefinedTable(err error) bool {
	return err != nil && (sqlState(err) == "42P01" || sqlState(err) == "3F000")
}

func sqlState(err error) string {
	var pe interface{ SQLState() string }
	if errors.As(err, &pe) {
		return pe.SQLState()
	}
	return ""
}
