package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/internal/local/devtrace"
)

func TestTraceWaterfall(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, pool := auditDB(t)
	if _, err := pool.Exec(ctx, devtrace.Schema); err != nil {
		t.Fatal(err)
	}
	id := uuid.New()
	const traceID = "6751a3c0b1b2c3d4e5f60718293a4b5c"
	if _, err := pool.Exec(ctx, `INSERT INTO checkouts (id, user_id, idempotency_key, request_fingerprint, amount, currency, payment_method, traceparent)
		VALUES ($1, 'alice', 'k1', '\x00', 2500, 'USD', 'pm_card_visa', $2)`, id, "00-"+traceID+"-00f067aa0ba902b7-01"); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 4, 5, 0, 0, 0, time.UTC)
	spans := []struct {
		id, parent, name, service, status string
		from, to                          time.Duration
	}{
		{"00f067aa0ba902b7", "", "POST /v1/checkouts", "api", "ok", 0, 40 * time.Millisecond},
		{"1111111111111111", "00f067aa0ba902b7", "state ReserveStock", "sfn", "ok", 30 * time.Millisecond, 60 * time.Millisecond},
		{"2222222222222222", "1111111111111111", "step reserve-stock", "step:reserve-stock", "ok", 31 * time.Millisecond, 59 * time.Millisecond},
		{"3333333333333333", "00f067aa0ba902b7", "state ChargePayment", "sfn", "error", 60 * time.Millisecond, 100 * time.Millisecond},
	}
	for _, s := range spans {
		if _, err := pool.Exec(ctx, `INSERT INTO devtrace.spans (trace_id, span_id, parent_id, name, service, start_time, end_time, status, status_message)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, traceID, s.id, s.parent, s.name, s.service, t0.Add(s.from), t0.Add(s.to), s.status,
			map[bool]string{true: "PaymentDeclined"}[s.status == "error"]); err != nil {
			t.Fatal(err)
		}
	}

	r := ctl(ctx, "", dsn, nil, "trace", id.String(), "--width", "20")
	mustCode(t, r, 0)
	t.Logf("checkoutctl trace:\n%s", r.stdout)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if !strings.Contains(lines[0], traceID) || !strings.Contains(lines[0], "4 spans") || !strings.Contains(lines[0], "100.0ms") {
		t.Errorf("header %q", lines[0])
	}
	body := lines[2:]
	want := []string{"POST /v1/checkouts", "  state ReserveStock", "    step reserve-stock", "  state ChargePayment"}
	if len(body) != len(want) {
		t.Fatalf("%d span lines, want %d:\n%s", len(body), len(want), r.stdout)
	}
	for i, w := range want {
		if !strings.Contains(body[i], w) {
			t.Errorf("line %d %q: want %q (depth-first, children in start order)", i, body[i], w)
		}
	}
	// Bars on one 20-character scale of the 100 ms trace: the root covers
	// the first 8 cells, ChargePayment the last 8.
	if !strings.Contains(body[0], "|████████            |") || !strings.Contains(body[3], "|            ████████|") {
		t.Errorf("bars:\n%s", r.stdout)
	}
	if !strings.HasPrefix(body[3], "✗") || !strings.Contains(body[3], "PaymentDeclined") || strings.HasPrefix(body[0], "✗") {
		t.Errorf("the error span is not marked:\n%s", r.stdout)
	}
	if !strings.Contains(body[1], "+30.0ms") || !strings.Contains(body[1], "30.0ms") {
		t.Errorf("offset/duration of ReserveStock: %q", body[1])
	}

	var js struct {
		TraceID string          `json:"trace_id"`
		Spans   []devtrace.Span `json:"spans"`
	}
	r = ctl(ctx, "", dsn, nil, "--json", "trace", id.String())
	mustCode(t, r, 0)
	r.json(t, &js)
	if js.TraceID != traceID || len(js.Spans) != 4 || js.Spans[0].Name != "POST /v1/checkouts" {
		t.Errorf("json: %+v", js)
	}

	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"trace", "not-a-uuid"}, 2, "is not a checkout id"},
		{[]string{"trace"}, 2, "needs a checkout id"},
		{[]string{"trace", id.String(), "--width", "3"}, 2, "--width"},
		{[]string{"trace", uuid.NewString()}, 1, "has no trace"},
	} {
		r := ctl(ctx, "", dsn, nil, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", tc.args, r.code, r.stderr, tc.code, tc.msg)
		}
	}
}
