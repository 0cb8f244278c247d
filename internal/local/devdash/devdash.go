// Package devdash is the local dashboard of `make dev`: one HTML page and a
// small script, served by the local stack at /_dev/ on the API's address,
// that shows the design's metrics live (order and payment success rates
// from the database, the API's latency percentiles and errors by code from
// an in-memory [Recorder], queue and DLQ depths from the local SQS, the
// payment circuit breakers, the inventory discrepancy, the Step Functions
// state transitions throttled), plots of
// checkouts/s and latency, the recent checkouts and, for a checkout, its
// trace as a timeline (spans from the devtrace.spans table, when the
// tracing is there).
//
// It is a development tool: only the local stack serves it, the template
// never deploys it, and no Lambda links it (internal/lambdatest forbids
// every package under internal/local in a Lambda).
//
// The page has no build step. Its charts use uPlot (static/uPlot.iife.min.js,
// v1.6.32 from `npm pack uplot@1`, MIT, static/uPlot.LICENSE): 51 KB
// minified with no dependencies, made for time series (which is all we
// plot), drawing on a canvas, maintained; Chart.js 4 would be four times
// the size for features we do not use.
package devdash

import (
	"context"
	"embed"
	"encoding/json"
	"io/fs"
	"log/slog"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/local/devtrace"
	"github.com/checkout-dev/checkout/internal/metrics"
)

// Prefix is where the local stack mounts the dashboard.
const Prefix = "/_dev/"

//go:embed static
var staticFiles embed.FS

// Queue is one queue of the template, asked for its depth.
type Queue struct {
	LogicalID string
	Name      string
	URL       string
	DLQ       bool // some queue's redrive policy sends here
}

// QueueAttributes is the part of the SQS client the dashboard uses.
type QueueAttributes interface {
	GetQueueAttributes(ctx context.Context, in *awssqs.GetQueueAttributesInput, opts ...func(*awssqs.Options)) (*awssqs.GetQueueAttributesOutput, error)
}

// Options are the dashboard's data sources. Pool is required; the others
// may be nil (their figures then show as absent).
type Options struct {
	Pool     *pgxpool.Pool
	SQS      QueueAttributes
	Queues   []Queue
	Recorder *Recorder
	// Window is the span of the live figures and the plots; default 5
	// minutes (capped at the recorder's window).
	Window time.Duration
	// Step is the plots' resolution; default 5 s.
	Step time.Duration
	Now  func() time.Time
	Log  *slog.Logger
}

// Handler serves the dashboard. Mount it at Prefix.
type Handler struct {
	o      Options
	static http.Handler
}

// New returns the dashboard's handler.
func New(o Options) *Handler {
	if o.Window <= 0 {
		o.Window = 5 * time.Minute
	}
	if o.Recorder != nil && o.Window > o.Recorder.Window() {
		o.Window = o.Recorder.Window()
	}
	if o.Step <= 0 {
		o.Step = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	sub, _ := fs.Sub(staticFiles, "static")
	return &Handler{o: o, static: http.StripPrefix(Prefix+"static/", http.FileServer(http.FS(sub)))}
}

// apiError is the body of every error answer: {"error":{"code","message"}}.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	var e apiError
	e.Error.Code, e.Error.Message = code, message
	writeJSON(w, status, e)
}

// ServeHTTP routes: the page, its static files, and the JSON API.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if path == strings.TrimSuffix(Prefix, "/") {
		http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
		return
	}
	if !strings.HasPrefix(path, Prefix) {
		writeError(w, http.StatusNotFound, "not_found", "no such page")
		return
	}
	rest := strings.TrimPrefix(path, Prefix)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "the dashboard only answers GET")
		return
	}
	switch {
	case rest == "" || rest == "index.html":
		b, err := staticFiles.ReadFile("static/index.html")
		if err != nil {
			writeError(w, http.StatusInternalServerError, "internal", err.Error())
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(b)
	case strings.HasPrefix(rest, "static/"):
		if rest == "static/index.html" || strings.HasSuffix(rest, "/") {
			writeError(w, http.StatusNotFound, "not_found", "no such file")
			return
		}
		h.static.ServeHTTP(w, r)
	case rest == "api/metrics":
		h.serveMetrics(w, r)
	case rest == "api/checkouts":
		h.serveCheckouts(w, r)
	case strings.HasPrefix(rest, "api/checkouts/") && strings.HasSuffix(rest, "/trace"):
		id := strings.TrimSuffix(strings.TrimPrefix(rest, "api/checkouts/"), "/trace")
		h.serveTrace(w, r, id)
	default:
		writeError(w, http.StatusNotFound, "not_found", "no such dashboard route: "+path)
	}
}

// fail answers a data source's error as a 500 and logs it.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	if r.Context().Err() != nil {
		return // the page went away
	}
	h.o.Log.Error("dashboard", "what", what, "err", err)
	writeError(w, http.StatusInternalServerError, "internal", what+": "+err.Error())
}

// Rate is a success rate: Successes over Outcomes (the ones that ended),
// nil when nothing ended.
type Rate struct {
	Outcomes  int      `json:"outcomes"`
	Successes int      `json:"successes"`
	Rate      *float64 `json:"rate"`
}

func rate(ok, outcomes int) Rate {
	r := Rate{Outcomes: outcomes, Successes: ok}
	if outcomes > 0 {
		v := float64(ok) / float64(outcomes)
		r.Rate = &v
	}
	return r
}

// Metrics is the body of GET /_dev/api/metrics.
type Metrics struct {
	Now           time.Time `json:"now"`
	WindowSeconds float64   `json:"window_seconds"`
	// Checkouts by status (all of them), and the success rates: orders
	// (completed over completed, failed and needs_review) and payments
	// (charges authorized, captured or later refunded over those and the
	// charges declined or voided), each over the window and over all time.
	Checkouts          map[string]int `json:"checkouts"`
	OrderSuccess       Rate           `json:"order_success"`
	OrderSuccessAll    Rate           `json:"order_success_all"`
	PaymentSuccess     Rate           `json:"payment_success"`
	PaymentSuccessAll  Rate           `json:"payment_success_all"`
	API                APIFigures     `json:"api"`
	Queues             []QueueDepth   `json:"queues"`
	Breakers           []Breaker      `json:"breakers"`
	CircuitBreakerOpen *float64       `json:"circuit_breaker_open"` // the metric's last value, nil if never recorded
	// InventoryDiscrepancy is the metric's last value in the window, nil
	// when it was not recorded.
	InventoryDiscrepancy *float64 `json:"inventory_discrepancy"`
	// ExecutionThrottled is the sum of the metric over the window: the
	// state transitions that waited for the StateTransition bucket.
	ExecutionThrottled float64 `json:"execution_throttled"`
	Series             Series  `json:"series"`
}

// APIFigures are the API's figures over the window, from the recorder.
type APIFigures struct {
	Requests     int            `json:"requests"`
	LatencyCount int            `json:"latency_count"`
	P50          *float64       `json:"p50_ms"`
	P95          *float64       `json:"p95_ms"`
	P99          *float64       `json:"p99_ms"`
	ServerErrors int            `json:"server_errors"`
	ErrorsByCode map[string]int `json:"errors_by_code"` // status ≥ 400 → answers
}

// QueueDepth is a queue's ApproximateNumberOfMessages (visible) and
// ApproximateNumberOfMessagesNotVisible (in flight).
type QueueDepth struct {
	LogicalID string `json:"logical_id"`
	Name      string `json:"name"`
	DLQ       bool   `json:"dlq"`
	Messages  *int   `json:"messages"`
	InFlight  *int   `json:"in_flight"`
	Error     string `json:"error,omitempty"`
}

// Breaker is a row of payment_breakers.
type Breaker struct {
	Name                string     `json:"name"`
	State               string     `json:"state"`
	ConsecutiveFailures int        `json:"consecutive_failures"`
	OpenedAt            *time.Time `json:"opened_at"`
	UpdatedAt           time.Time  `json:"updated_at"`
}

// Series are the plots' data: T is each bucket's start (Unix seconds),
// the rates are per second over the bucket, the latencies are the
// percentiles of the bucket's ApiLatency points (nil for an empty bucket).
type Series struct {
	StepSeconds float64    `json:"step_seconds"`
	T           []int64    `json:"t"`
	Created     []float64  `json:"created_per_s"`
	Completed   []float64  `json:"completed_per_s"`
	Failed      []float64  `json:"failed_per_s"`
	P50         []*float64 `json:"p50_ms"`
	P95         []*float64 `json:"p95_ms"`
	P99         []*float64 `json:"p99_ms"`
}

func (h *Handler) serveMetrics(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	now := h.o.Now()
	since := now.Add(-h.o.Window)
	m := Metrics{Now: now, WindowSeconds: h.o.Window.Seconds(), Checkouts: map[string]int{}, Queues: []QueueDepth{}, Breakers: []Breaker{}}

	// Orders.
	rows, err := h.o.Pool.Query(ctx, `SELECT status, count(*), count(*) FILTER (WHERE updated_at >= $1) FROM checkouts GROUP BY status`, since)
	if err != nil {
		h.fail(w, r, "checkouts", err)
		return
	}
	var okAll, endedAll, okWin, endedWin int
	for rows.Next() {
		var status string
		var all, win int
		if err := rows.Scan(&status, &all, &win); err != nil {
			rows.Close()
			h.fail(w, r, "checkouts", err)
			return
		}
		m.Checkouts[status] = all
		switch status {
		case "completed":
			okAll, okWin = okAll+all, okWin+win
			endedAll, endedWin = endedAll+all, endedWin+win
		case "failed", "needs_review":
			endedAll, endedWin = endedAll+all, endedWin+win
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		h.fail(w, r, "checkouts", err)
		return
	}
	m.OrderSuccess, m.OrderSuccessAll = rate(okWin, endedWin), rate(okAll, endedAll)

	// Payments: the ledger's charge rows that reached an outcome.
	var pOkAll, pEndAll, pOkWin, pEndWin int
	err = h.o.Pool.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE status IN ('authorized', 'succeeded', 'refunded')),
		       count(*) FILTER (WHERE status IN ('authorized', 'succeeded', 'refunded', 'failed', 'canceled')),
		       count(*) FILTER (WHERE status IN ('authorized', 'succeeded', 'refunded') AND updated_at >= $1),
		       count(*) FILTER (WHERE status IN ('authorized', 'succeeded', 'refunded', 'failed', 'canceled') AND updated_at >= $1)
		  FROM payment_transactions WHERE kind = 'charge'`, since).Scan(&pOkAll, &pEndAll, &pOkWin, &pEndWin)
	if err != nil {
		h.fail(w, r, "payment_transactions", err)
		return
	}
	m.PaymentSuccess, m.PaymentSuccessAll = rate(pOkWin, pEndWin), rate(pOkAll, pEndAll)

	// Circuit breakers.
	brows, err := h.o.Pool.Query(ctx, `SELECT name, state, consecutive_failures, opened_at, updated_at FROM payment_breakers ORDER BY name`)
	if err != nil {
		h.fail(w, r, "payment_breakers", err)
		return
	}
	for brows.Next() {
		var b Breaker
		if err := brows.Scan(&b.Name, &b.State, &b.ConsecutiveFailures, &b.OpenedAt, &b.UpdatedAt); err != nil {
			brows.Close()
			h.fail(w, r, "payment_breakers", err)
			return
		}
		m.Breakers = append(m.Breakers, b)
	}
	brows.Close()
	if err := brows.Err(); err != nil {
		h.fail(w, r, "payment_breakers", err)
		return
	}

	m.Queues = h.queueDepths(ctx)
	m.API = h.apiFigures(since)
	if rec := h.o.Recorder; rec != nil {
		if p, ok := rec.Last(metrics.CircuitBreakerOpen); ok {
			m.CircuitBreakerOpen = &p.Value
		}
		if p, ok := rec.Last(metrics.InventoryDiscrepancy); ok {
			m.InventoryDiscrepancy = &p.Value
		}
		for _, p := range rec.Points(ExecutionThrottled, since) {
			m.ExecutionThrottled += p.Value
		}
	}
	if m.Series, err = h.series(ctx, now); err != nil {
		h.fail(w, r, "series", err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

func (h *Handler) queueDepths(ctx context.Context) []QueueDepth {
	out := make([]QueueDepth, 0, len(h.o.Queues))
	for _, q := range h.o.Queues {
		d := QueueDepth{LogicalID: q.LogicalID, Name: q.Name, DLQ: q.DLQ}
		if h.o.SQS == nil || q.URL == "" {
			d.Error = "no SQS"
			out = append(out, d)
			continue
		}
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		got, err := h.o.SQS.GetQueueAttributes(qctx, &awssqs.GetQueueAttributesInput{QueueUrl: aws.String(q.URL),
			AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages,
				types.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
		cancel()
		if err != nil {
			d.Error = err.Error()
		} else {
			d.Messages = attrInt(got.Attributes, string(types.QueueAttributeNameApproximateNumberOfMessages))
			d.InFlight = attrInt(got.Attributes, string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible))
		}
		out = append(out, d)
	}
	return out
}

func attrInt(attrs map[string]string, name string) *int {
	n, err := strconv.Atoi(attrs[name])
	if err != nil {
		return nil
	}
	return &n
}

func (h *Handler) apiFigures(since time.Time) APIFigures {
	f := APIFigures{ErrorsByCode: map[string]int{}}
	rec := h.o.Recorder
	if rec == nil {
		return f
	}
	for _, p := range rec.Points(RequestsSeries, since) {
		f.Requests++
		if p.Status >= 400 {
			f.ErrorsByCode[strconv.Itoa(p.Status)]++
		}
	}
	for _, p := range rec.Points(metrics.ApiServerErrors, since) {
		f.ServerErrors += int(p.Value)
	}
	lat := values(rec.Points(metrics.ApiLatency, since))
	f.LatencyCount = len(lat)
	f.P50, f.P95, f.P99 = percentiles(lat)
	return f
}

func values(pts []Point) []float64 {
	v := make([]float64, len(pts))
	for i, p := range pts {
		v[i] = p.Value
	}
	return v
}

// percentiles are p50, p95 and p99 of v (nil for none); v is sorted.
func percentiles(v []float64) (p50, p95, p99 *float64) {
	if len(v) == 0 {
		return nil, nil, nil
	}
	sort.Float64s(v)
	at := func(p float64) *float64 {
		x := Percentile(v, p)
		x = math.Round(x*1000) / 1000
		return &x
	}
	return at(50), at(95), at(99)
}

// series buckets the window by Step: checkouts created, completed and
// failed per second (from the database) and the API's latency
// percentiles (from the recorder).
func (h *Handler) series(ctx context.Context, now time.Time) (Series, error) {
	step := h.o.Step
	n := int(h.o.Window / step)
	end := now.Truncate(step).Add(step) // the current, partial bucket is the last
	start := end.Add(-time.Duration(n) * step)
	s := Series{StepSeconds: step.Seconds(), T: make([]int64, n), Created: make([]float64, n), Completed: make([]float64, n),
		Failed: make([]float64, n), P50: make([]*float64, n), P95: make([]*float64, n), P99: make([]*float64, n)}
	for i := range n {
		s.T[i] = start.Add(time.Duration(i) * step).Unix()
	}
	bucket := func(t time.Time) int {
		if t.Before(start) || !t.Before(end) {
			return -1
		}
		return int(t.Sub(start) / step)
	}
	rows, err := h.o.Pool.Query(ctx, `
		SELECT created_at, status, COALESCE(completed_at, updated_at) FROM checkouts
		 WHERE created_at >= $1 OR updated_at >= $1`, start)
	if err != nil {
		return s, err
	}
	defer rows.Close()
	for rows.Next() {
		var created, ended time.Time
		var status string
		if err := rows.Scan(&created, &status, &ended); err != nil {
			return s, err
		}
		if i := bucket(created); i >= 0 {
			s.Created[i]++
		}
		if i := bucket(ended); i >= 0 {
			switch status {
			case "completed":
				s.Completed[i]++
			case "failed", "needs_review":
				s.Failed[i]++
			}
		}
	}
	if err := rows.Err(); err != nil {
		return s, err
	}
	for i := range n {
		s.Created[i] /= step.Seconds()
		s.Completed[i] /= step.Seconds()
		s.Failed[i] /= step.Seconds()
	}
	if rec := h.o.Recorder; rec != nil {
		per := make([][]float64, n)
		for _, p := range rec.Points(metrics.ApiLatency, start) {
			if i := bucket(p.At); i >= 0 {
				per[i] = append(per[i], p.Value)
			}
		}
		for i, v := range per {
			s.P50[i], s.P95[i], s.P99[i] = percentiles(v)
		}
	}
	return s, nil
}

// CheckoutRow is one row of GET /_dev/api/checkouts.
type CheckoutRow struct {
	ID          string    `json:"id"`
	Status      string    `json:"status"`
	Amount      int64     `json:"amount"`
	Currency    string    `json:"currency"`
	CreatedAt   time.Time `json:"created_at"`
	FailureCode string    `json:"failure_code,omitempty"`
}

func (h *Handler) serveCheckouts(w http.ResponseWriter, r *http.Request) {
	limit := 50
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			writeError(w, http.StatusBadRequest, "invalid_limit", "limit must be a whole number from 1 to 500")
			return
		}
		limit = n
	}
	rows, err := h.o.Pool.Query(r.Context(), `
		SELECT id, status, amount, currency, created_at, COALESCE(failure_code, '')
		  FROM checkouts ORDER BY created_at DESC, id LIMIT $1`, limit)
	if err != nil {
		h.fail(w, r, "checkouts", err)
		return
	}
	out := []CheckoutRow{}
	for rows.Next() {
		var c CheckoutRow
		var id uuid.UUID
		if err := rows.Scan(&id, &c.Status, &c.Amount, &c.Currency, &c.CreatedAt, &c.FailureCode); err != nil {
			rows.Close()
			h.fail(w, r, "checkouts", err)
			return
		}
		c.ID = id.String()
		out = append(out, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		h.fail(w, r, "checkouts", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"checkouts": out})
}

// Span is one stored span with its start relative to the trace's first
// span and its depth in the tree.
type Span struct {
	devtrace.Span
	OffsetMs   float64 `json:"offset_ms"`
	DurationMs float64 `json:"duration_ms"`
	Depth      int     `json:"depth"` // 0 for a root; a parent's depth + 1
}

// Trace is the body of GET /_dev/api/checkouts/{id}/trace. Available is
// false when there is no devtrace.spans table (the tracing is not wired).
type Trace struct {
	CheckoutID string  `json:"checkout_id"`
	Available  bool    `json:"available"`
	Spans      []Span  `json:"spans"`
	DurationMs float64 `json:"duration_ms"`
}

// serveTrace answers a checkout's spans in the order the timeline draws
// them (devtrace.Tree: each root by start, each span's children right
// after it).
func (h *Handler) serveTrace(w http.ResponseWriter, r *http.Request, raw string) {
	id, err := uuid.Parse(raw)
	if err != nil || strings.Contains(raw, "/") {
		writeError(w, http.StatusBadRequest, "invalid_checkout_id", "the checkout id must be a UUID")
		return
	}
	spans, available, err := devtrace.ByCheckout(r.Context(), h.o.Pool, id)
	if err != nil {
		h.fail(w, r, "devtrace.spans", err)
		return
	}
	tr := Trace{CheckoutID: id.String(), Available: available, Spans: []Span{}}
	if len(spans) == 0 {
		writeJSON(w, http.StatusOK, tr)
		return
	}
	t0 := spans[0].Start
	for _, s := range spans {
		if s.Start.Before(t0) {
			t0 = s.Start
		}
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	for _, n := range devtrace.Tree(spans) {
		s := Span{Span: n.Span, OffsetMs: ms(n.Start.Sub(t0)), DurationMs: math.Max(0, ms(n.Duration())), Depth: n.Depth}
		tr.Spans = append(tr.Spans, s)
		tr.DurationMs = math.Max(tr.DurationMs, s.OffsetMs+s.DurationMs)
	}
	writeJSON(w, http.StatusOK, tr)
}
