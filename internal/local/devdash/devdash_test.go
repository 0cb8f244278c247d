package devdash_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/local/devdash"
	"github.com/checkout-dev/checkout/internal/local/devtrace"
	"github.com/checkout-dev/checkout/internal/metrics"
	"github.com/checkout-dev/checkout/internal/postgres"
	"github.com/checkout-dev/checkout/localaws"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m, postgres.Migrate, localaws.Migrate) }

// spansDDL is the tracing's table (the stack creates it; these tests,
// without a stack, make it themselves).
const spansDDL = devtrace.Schema

func TestRecorderKeepsTheWindowAndABoundedRing(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	rec := devdash.NewRecorder(devdash.RecorderOptions{Window: time.Minute, Max: 3, Now: func() time.Time { return now }})
	ctx := context.Background()
	for i := range 5 {
		rec.Record(ctx, metrics.Entry{Metrics: []metrics.Metric{{Name: metrics.ApiLatency, Value: float64(i)}},
			Properties: map[string]any{"status": 200 + i, "route": "GET /v1/health"}})
		now = now.Add(time.Second)
	}
	got := rec.Points(metrics.ApiLatency, time.Time{})
	if len(got) != 3 || got[0].Value != 2 || got[2].Value != 4 || got[2].Status != 204 || got[2].Route != "GET /v1/health" {
		t.Fatalf("points %+v; want the last 3 (2, 3, 4)", got)
	}
	if n := len(rec.Points(devdash.RequestsSeries, time.Time{})); n != 3 {
		t.Fatalf("%d request points; want 3", n)
	}
	now = now.Add(58 * time.Second) // 12:01:03: the point of value 2 (12:00:02) leaves the window
	if got := rec.Points(metrics.ApiLatency, time.Time{}); len(got) != 2 || got[0].Value != 3 {
		t.Fatalf("after a minute: %+v; want 3, 4", got)
	}
	if p, ok := rec.Last(metrics.ApiLatency); !ok || p.Value != 4 {
		t.Fatalf("last %+v %v; want 4", p, ok)
	}
	now = now.Add(time.Hour)
	if _, ok := rec.Last(metrics.ApiLatency); ok {
		t.Fatal("a point older than the window is still the last")
	}
	// Tee records on every recorder and skips nil ones.
	other := devdash.NewRecorder(devdash.RecorderOptions{Now: func() time.Time { return now }})
	devdash.Tee{nil, metrics.Nop{}, other}.Record(ctx, metrics.Entry{Metrics: []metrics.Metric{metrics.CountOf(metrics.ApiServerErrors, 1)}})
	if n := len(other.Points(metrics.ApiServerErrors, time.Time{})); n != 1 {
		t.Fatalf("tee: %d points; want 1", n)
	}
}

func TestPercentile(t *testing.T) {
	t.Parallel()
	v := []float64{}
	for i := 100; i >= 1; i-- {
		v = append(v, float64(i))
	}
	for p, want := range map[float64]float64{50: 50, 95: 95, 99: 99, 100: 100, 0: 1} {
		if got := devdash.Percentile(v, p); got != want {
			t.Errorf("p%v = %v; want %v", p, got, want)
		}
	}
}

type fixture struct {
	t    *testing.T
	pool *pgxpool.Pool
	rec  *devdash.Recorder
	srv  *httptest.Server
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, pool: pgtest.NewPool(t), rec: devdash.NewRecorder(devdash.RecorderOptions{})}
	h := devdash.New(devdash.Options{Pool: f.pool, Recorder: f.rec,
		Queues: []devdash.Queue{{LogicalID: "ShippingQueue", Name: "checkout-shipping"}}})
	f.srv = httptest.NewServer(h)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) get(path string, out any) (int, string) {
	f.t.Helper()
	return f.do("GET", path, out)
}

func (f *fixture) do(method, path string, out any) (int, string) {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			f.t.Fatalf("%s %s: %v\n%s", method, path, err, b)
		}
	}
	return resp.StatusCode, string(b)
}

func (f *fixture) exec(sql string, args ...any) {
	f.t.Helper()
	if _, err := f.pool.Exec(context.Background(), sql, args...); err != nil {
		f.t.Fatalf("%s: %v", sql, err)
	}
}

// checkout inserts a checkout in status with a charge in chargeStatus
// ("" for none).
func (f *fixture) checkout(status, chargeStatus string, amount int) uuid.UUID {
	f.t.Helper()
	id := uuid.New()
	var code any
	if status == "failed" || status == "needs_review" {
		code = "payment_declined"
	}
	f.exec(`INSERT INTO checkouts (id, user_id, idempotency_key, request_fingerprint, amount, currency, payment_method, status, failure_code)
		VALUES ($1, 'u', $2, '\x00', $3, 'USD', 'pm_card_visa', $4, $5)`, id, id.String(), amount, status, code)
	if chargeStatus != "" {
		f.exec(`INSERT INTO payment_transactions (checkout_id, kind, idempotency_key, amount, currency, status)
			VALUES ($1, 'charge', $2, $3, 'USD', $4)`, id, "checkout-"+id.String(), amount, chargeStatus)
	}
	return id
}

type errorBody struct {
	Error struct{ Code, Message string }
}

func TestMetricsFromTheDatabaseAndTheRecorder(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for range 3 {
		f.checkout("completed", "succeeded", 2500)
	}
	f.checkout("failed", "failed", 1200)
	f.checkout("failed", "", 1200) // out of stock: no charge
	f.checkout("processing", "processing", 700)
	f.exec(`INSERT INTO payment_breakers (name, state, consecutive_failures, opened_at) VALUES ('stripe', 'open', 5, now())`)
	ctx := context.Background()
	for i := 1; i <= 100; i++ {
		f.rec.Record(ctx, metrics.Entry{Metrics: []metrics.Metric{{Name: metrics.ApiLatency, Value: float64(i), Unit: metrics.Milliseconds}},
			Properties: map[string]any{"route": "POST /v1/checkouts", "status": 202}})
	}
	f.rec.Record(ctx, metrics.Entry{Metrics: []metrics.Metric{{Name: metrics.ApiLatency, Value: 1}}, Properties: map[string]any{"status": 404}})
	f.rec.Record(ctx, metrics.Entry{Metrics: []metrics.Metric{metrics.CountOf(metrics.ApiServerErrors, 1)}, Properties: map[string]any{"status": 503}})

	var m devdash.Metrics
	if code, body := f.get("/_dev/api/metrics", &m); code != 200 {
		t.Fatalf("metrics: %d %s", code, body)
	}
	if r := m.OrderSuccess; r.Rate == nil || r.Successes != 3 || r.Outcomes != 5 || *r.Rate != 0.6 {
		t.Errorf("order success %+v; want 3 of 5", r)
	}
	if r := m.PaymentSuccessAll; r.Rate == nil || r.Successes != 3 || r.Outcomes != 4 || *r.Rate != 0.75 {
		t.Errorf("payment success %+v; want 3 of 4", r)
	}
	if m.Checkouts["completed"] != 3 || m.Checkouts["failed"] != 2 || m.Checkouts["processing"] != 1 {
		t.Errorf("checkouts by status %v", m.Checkouts)
	}
	a := m.API
	if a.Requests != 102 || a.LatencyCount != 101 || a.ServerErrors != 1 || a.ErrorsByCode["404"] != 1 || a.ErrorsByCode["503"] != 1 || len(a.ErrorsByCode) != 2 {
		t.Errorf("api figures %+v", a)
	}
	if a.P50 == nil || *a.P50 != 50 || *a.P95 != 95 || *a.P99 != 99 {
		t.Errorf("latency p50 %v p95 %v p99 %v; want 50, 95, 99", a.P50, a.P95, a.P99)
	}
	if len(m.Breakers) != 1 || m.Breakers[0].State != "open" || m.Breakers[0].ConsecutiveFailures != 5 || m.Breakers[0].OpenedAt == nil {
		t.Errorf("breakers %+v", m.Breakers)
	}
	if len(m.Queues) != 1 || m.Queues[0].Error == "" || m.Queues[0].Messages != nil {
		t.Errorf("queues without SQS %+v; want the queue with an error", m.Queues)
	}
	if m.InventoryDiscrepancy != nil || m.CircuitBreakerOpen != nil || m.ExecutionThrottled != 0 {
		t.Errorf("discrepancy %v breaker metric %v throttled %v; want none recorded", m.InventoryDiscrepancy, m.CircuitBreakerOpen, m.ExecutionThrottled)
	}
	s := m.Series
	if len(s.T) != 60 || len(s.Created) != 60 || len(s.P99) != 60 || s.StepSeconds != 5 {
		t.Fatalf("series: %d buckets of %v s", len(s.T), s.StepSeconds)
	}
	var created float64
	for _, v := range s.Created {
		created += v * s.StepSeconds
	}
	if created != 6 || s.P99[len(s.P99)-1] == nil {
		t.Errorf("series: %v checkouts created, last p99 %v; want 6 and a value", created, s.P99[len(s.P99)-1])
	}

	f.rec.Record(ctx, metrics.Entry{Metrics: []metrics.Metric{{Name: metrics.InventoryDiscrepancy, Value: 2}}})
	if f.get("/_dev/api/metrics", &m); m.InventoryDiscrepancy == nil || *m.InventoryDiscrepancy != 2 {
		t.Errorf("discrepancy %v; want 2", m.InventoryDiscrepancy)
	}

	for range 3 {
		f.rec.Record(ctx, metrics.Entry{Metrics: []metrics.Metric{metrics.CountOf(devdash.ExecutionThrottled, 1)}})
	}
	if f.get("/_dev/api/metrics", &m); m.ExecutionThrottled != 3 {
		t.Errorf("ExecutionThrottled %v; want the sum of its points, 3", m.ExecutionThrottled)
	}
}

func TestRecentCheckouts(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var ids []uuid.UUID
	for i := range 55 {
		ids = append(ids, f.checkout("completed", "succeeded", 100+i))
		f.exec(`UPDATE checkouts SET created_at = now() - make_interval(secs => $2) WHERE id = $1`, ids[i], 100-i)
	}
	var got struct{ Checkouts []devdash.CheckoutRow }
	if code, body := f.get("/_dev/api/checkouts", &got); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	if len(got.Checkouts) != 50 || got.Checkouts[0].ID != ids[54].String() || got.Checkouts[0].Amount != 154 ||
		got.Checkouts[0].Currency != "USD" || got.Checkouts[0].Status != "completed" || got.Checkouts[0].CreatedAt.IsZero() {
		t.Fatalf("recent checkouts: %d, first %+v", len(got.Checkouts), got.Checkouts[0])
	}
	if f.get("/_dev/api/checkouts?limit=2", &got); len(got.Checkouts) != 2 {
		t.Fatalf("limit=2: %d", len(got.Checkouts))
	}
}

func TestTrace(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.checkout("completed", "succeeded", 2500)

	// No tracing in this database: an empty trace, not an error.
	var tr devdash.Trace
	if code, body := f.get("/_dev/api/checkouts/"+id.String()+"/trace", &tr); code != 200 || tr.Available || len(tr.Spans) != 0 || tr.CheckoutID != id.String() {
		t.Fatalf("without devtrace.spans: %d %s", code, body)
	}

	f.exec(spansDDL)
	if f.get("/_dev/api/checkouts/"+id.String()+"/trace", &tr); !tr.Available || len(tr.Spans) != 0 {
		t.Fatalf("no spans yet: %+v", tr)
	}
	t0 := time.Now().Add(-time.Minute).UTC()
	span := func(trace, sid, parent, name string, from, to time.Duration, status string, checkout any) {
		f.exec(`INSERT INTO devtrace.spans (trace_id, span_id, parent_id, name, service, start_time, end_time, status, status_message, checkout_id)
			VALUES ($1, $2, $3, $4, 'api', $5, $6, $7, CASE WHEN $7 = 'error' THEN 'boom' ELSE '' END, $8)`,
			trace, sid, parent, name, t0.Add(from), t0.Add(to), status, checkout)
	}
	trace := strings.Repeat("a", 32)
	span(trace, "0000000000000001", "", "POST /v1/checkouts", 0, 100*time.Millisecond, "ok", id)
	span(trace, "0000000000000003", "0000000000000001", "charge", 40*time.Millisecond, 90*time.Millisecond, "error", nil)
	span(trace, "0000000000000002", "0000000000000001", "reserve", 10*time.Millisecond, 30*time.Millisecond, "ok", nil)
	span(trace, "0000000000000004", "0000000000000002", "sql", 12*time.Millisecond, 20*time.Millisecond, "ok", nil)
	span(strings.Repeat("b", 32), "0000000000000009", "", "another checkout", 0, time.Second, "ok", uuid.New())

	if code, body := f.get("/_dev/api/checkouts/"+id.String()+"/trace", &tr); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var got []string
	for _, s := range tr.Spans {
		got = append(got, strings.Repeat(">", s.Depth)+s.Name)
	}
	if want := "POST /v1/checkouts,>reserve,>>sql,>charge"; strings.Join(got, ",") != want {
		t.Fatalf("spans %v; want %s", got, want)
	}
	charge := tr.Spans[3]
	if charge.OffsetMs != 40 || charge.DurationMs != 50 || charge.Status != "error" || charge.StatusMessage != "boom" || tr.DurationMs != 100 {
		t.Fatalf("charge span %+v, trace %v ms", charge, tr.DurationMs)
	}
}

func TestBadInputIsA4xxJSONError(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cases := []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/_dev/api/checkouts/not-a-uuid/trace", 400, "invalid_checkout_id"},
		{"GET", "/_dev/api/checkouts/%27%3B%20DROP%20TABLE%20checkouts/trace", 400, "invalid_checkout_id"},
		{"GET", "/_dev/api/checkouts//trace", 400, "invalid_checkout_id"},
		{"GET", "/_dev/api/checkouts/" + uuid.NewString() + "/x/trace", 400, "invalid_checkout_id"},
		{"GET", "/_dev/api/checkouts?limit=abc", 400, "invalid_limit"},
		{"GET", "/_dev/api/checkouts?limit=0", 400, "invalid_limit"},
		{"GET", "/_dev/api/checkouts?limit=100000", 400, "invalid_limit"},
		{"GET", "/_dev/api/nope", 404, "not_found"},
		{"GET", "/_dev/static/index.html", 404, "not_found"},
		{"POST", "/_dev/api/metrics", 405, "method_not_allowed"},
		{"DELETE", "/_dev/api/checkouts", 405, "method_not_allowed"},
	}
	for _, c := range cases {
		var e errorBody
		code, body := f.do(c.method, c.path, &e)
		if code != c.status || e.Error.Code != c.code || e.Error.Message == "" {
			t.Errorf("%s %s: %d %s; want %d %s", c.method, c.path, code, body, c.status, c.code)
		}
	}
	// A well-formed id of no checkout has no spans.
	var tr devdash.Trace
	if code, _ := f.get("/_dev/api/checkouts/"+uuid.NewString()+"/trace", &tr); code != 200 || len(tr.Spans) != 0 {
		t.Errorf("unknown checkout: %d %+v", code, tr)
	}
}

func TestPageAndStaticFiles(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for path, want := range map[string]string{
		"/_dev/":                         `<script src="static/app.js">`,
		"/_dev/static/app.js":            "api/metrics",
		"/_dev/static/uPlot.iife.min.js": "uPlot (v1.6.32)",
		"/_dev/static/uPlot.min.css":     ".uplot",
		"/_dev/static/uPlot.LICENSE":     "MIT License",
	} {
		code, body := f.get(path, nil)
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("GET %s: %d, %d bytes; want 200 with %q", path, code, len(body), want)
		}
	}
	resp, err := http.Get(f.srv.URL + "/_dev")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.Path != "/_dev/" {
		t.Errorf("/_dev ends at %s; want a redirect to /_dev/", resp.Request.URL.Path)
	}
}
