package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/checkout-dev/checkout/internal/backoff"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/auth"
	"github.com/checkout-dev/checkout/internal/local/stack"
	"github.com/checkout-dev/checkout/localaws/pgtest"
	"github.com/checkout-dev/checkout/localaws/sfn"
)

// AWS list prices used for the cost estimate (us-east-1). They were copied
// from the public pricing pages named beside them as known when this was
// written (2026-11-26; this machine has no internet, so they were not
// re-checked that day): check them before quoting the estimate.
const (
	// https://aws.amazon.com/lambda/pricing/ — Arm, first 7.5 billion GB-s per month.
	lambdaArmPerGBSecond = 0.0000133334
	// https://aws.amazon.com/lambda/pricing/ — requests.
	lambdaPerMillionRequests = 0.20
	// https://aws.amazon.com/step-functions/pricing/ — Standard workflows, per state transition.
	sfnPerTransition = 0.000025
	// https://aws.amazon.com/sqs/pricing/ — standard queues, per request after the free tier.
	sqsPerMillionRequests = 0.40
	// template.yaml: Globals MemorySize (the saga step functions).
	lambdaMemoryMB = 256
)

// E2EConfig is one end-to-end load run against a running stack.
type E2EConfig struct {
	URL, APIKey, JWTSecret string
	Concurrency            []int
	Duration               time.Duration
	Runs                   int
	DatabaseURL            string // the stack's database: commit and transition counts
	Out                    string
	StartStack             bool // start the local stack in process first (startStack), stop it afterwards
	NoTracing              bool // with StartStack: OpenTelemetry off, to measure what tracing costs
	// Buckets splits the benchmark SKU's stock over that many
	// inventory_buckets (PUT /v1/admin/inventory with "buckets", the way the
	// README says to prepare a hot SKU); 0 or 1 leaves it in one row, which
	// every checkout then locks twice (reserve and order commit).
	Buckets int

	stack     *stack.Stack            // set by startStack
	sfnQuotas map[string]sfn.APIQuota // the local Step Functions' quotas (nil: AWS's defaults)
	// sfnTransitionQuota is its StateTransition bucket (nil: AWS's default).
	sfnTransitionQuota *sfn.TransitionQuota
}

// E2EResult is one concurrency of the e2e load (medians over runs).
type E2EResult struct {
	Clients          int     `json:"clients"`
	Checkouts        int     `json:"checkouts"`
	Completed        int     `json:"completed"`
	Failed           int     `json:"failed"`
	Errors           int     `json:"errors"`
	PerSec           float64 `json:"checkouts_per_sec"`
	P50ms            float64 `json:"p50_ms"`
	P95ms            float64 `json:"p95_ms"`
	P99ms            float64 `json:"p99_ms"`
	CommitsPerCO     float64 `json:"db_commits_per_checkout"`
	TransitionsPerCO float64 `json:"state_transitions_per_checkout"`
	TaskSecPerCO     float64 `json:"task_seconds_per_checkout"`
	TasksPerCO       float64 `json:"tasks_per_checkout"`
	SQSMsgsPerCO     float64 `json:"sqs_messages_per_checkout"`
	USDPerMillion    float64 `json:"usd_per_million_checkouts"`
}

func runE2E(ctx context.Context, cfg E2EConfig, stdout io.Writer) error {
	if cfg.StartStack {
		stop, err := startStack(ctx, &cfg, stdout)
		if err != nil {
			return err
		}
		defer stop()
	}
	if cfg.APIKey == "" || cfg.JWTSecret == "" {
		return errors.New("e2e: -api-key and -jwt-secret are required (or -start-stack)")
	}
	var pool *pgxpool.Pool
	if cfg.DatabaseURL != "" {
		p, err := pgxpool.New(ctx, cfg.DatabaseURL)
		if err != nil {
			return err
		}
		defer p.Close()
		pool = p
	}
	// Keep a connection per client: the default transport keeps 2 idle
	// connections per host, so most requests of a 32-client load would open
	// (and leave in TIME_WAIT) a new TCP connection.
	maxClients := 0
	for _, c := range cfg.Concurrency {
		maxClients = max(maxClients, c)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = maxClients
	transport.MaxIdleConns = maxClients
	cl := &client{base: cfg.URL, key: cfg.APIKey, http: &http.Client{Timeout: 30 * time.Second, Transport: transport}}
	admin, err := auth.Mint([]byte(cfg.JWTSecret), auth.MintOptions{Subject: "bench-admin", Admin: true, TTL: time.Hour})
	if err != nil {
		return err
	}
	sku := "E2E-" + uuid.NewString()[:8]
	if err := cl.do(ctx, "PUT", "/v1/admin/products/"+sku, admin, "", map[string]any{"name": "bench", "amount": 1999, "currency": "USD"}, nil); err != nil {
		return fmt.Errorf("e2e: create product: %w", err)
	}
	stock := map[string]any{"quantity": 1_000_000}
	if cfg.Buckets > 1 {
		stock["buckets"] = cfg.Buckets
	}
	if err := cl.do(ctx, "PUT", "/v1/admin/inventory/"+sku, admin, "", stock, nil); err != nil {
		return fmt.Errorf("e2e: stock product: %w", err)
	}
	var results []E2EResult
	for _, c := range cfg.Concurrency {
		var runs []E2EResult
		for range cfg.Runs {
			r, err := e2eLoad(ctx, cl, pool, cfg, sku, c)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "e2e c=%d: %.1f checkouts/s, p50 %.0f ms, p99 %.0f ms, %d completed, %d failed, %d errors\n",
				c, r.PerSec, r.P50ms, r.P99ms, r.Completed, r.Failed, r.Errors)
			runs = append(runs, r)
		}
		results = append(results, medianE2E(runs))
	}
	md := e2eMarkdown(cfg, results)
	fmt.Fprint(stdout, "\n"+md)
	return writeReport(cfg.Out, "e2e", map[string]any{"when": time.Now().UTC(), "config": cfg, "results": results}, md)
}

type client struct {
	base, key string
	http      *http.Client
}

func (c *client) do(ctx context.Context, method, path, jwt, idem string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("x-api-key", c.key)
	req.Header.Set("Content-Type", "application/json")
	if jwt != "" {
		req.Header.Set("Authorization", "Bearer "+jwt)
	}
	if idem != "" {
		req.Header.Set("Idempotency-Key", idem)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

type counters struct{ commits, transitions, tasks, sqs int64 }

// readCounters reads PostgreSQL's commit count and, from the local AWS
// emulator's own tables (schema localaws), the state transitions, task runs
// and SQS messages so far.
func readCounters(ctx context.Context, pool *pgxpool.Pool) (counters, float64, error) {
	var c counters
	if pool == nil {
		return c, 0, nil
	}
	if _, err := pool.Exec(ctx, `SELECT pg_stat_clear_snapshot()`); err != nil {
		return c, 0, err
	}
	err := pool.QueryRow(ctx, `SELECT (SELECT sum(xact_commit) FROM pg_stat_database),
		(SELECT count(*) FROM localaws.sfn_history_events WHERE type LIKE '%StateEntered'),
		(SELECT count(*) FROM localaws.sfn_history_events WHERE type IN ('TaskSucceeded', 'TaskFailed')),
		(SELECT last_value FROM localaws.sqs_messages_id_seq)`).Scan(&c.commits, &c.transitions, &c.tasks, &c.sqs)
	return c, 0, err
}

// taskSeconds sums the durations (TaskStarted to TaskSucceeded/TaskFailed) of
// the tasks that ended after since.
func taskSeconds(ctx context.Context, pool *pgxpool.Pool, since time.Time) (float64, error) {
	var s float64
	err := pool.QueryRow(ctx, `SELECT coalesce(sum(extract(epoch FROM e.ts - p.ts)), 0)
		FROM localaws.sfn_history_events e JOIN localaws.sfn_history_events p ON p.execution_arn = e.execution_arn AND p.id = e.previous_event_id
		WHERE e.type IN ('TaskSucceeded', 'TaskFailed') AND e.ts >= $1`, since).Scan(&s)
	return s, err
}

func e2eLoad(ctx context.Context, cl *client, pool *pgxpool.Pool, cfg E2EConfig, sku string, c int) (E2EResult, error) {
	before, _, err := readCounters(ctx, pool)
	if err != nil {
		return E2EResult{}, fmt.Errorf("e2e: counters: %w", err)
	}
	began := time.Now()
	stop := began.Add(cfg.Duration)
	var mu sync.Mutex
	var lat []time.Duration
	var completed, failed, errs atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for i := range c {
		wg.Go(func() {
			jwt, err := auth.Mint([]byte(cfg.JWTSecret), auth.MintOptions{Subject: fmt.Sprintf("bench-user-%d", i), TTL: time.Hour})
			if err != nil {
				errs.Add(1)
				return
			}
			for ctx.Err() == nil && time.Now().Before(stop) {
				t0 := time.Now()
				var co struct {
					CheckoutID string `json:"checkout_id"`
					Status     string `json:"status"`
				}
				err := cl.do(ctx, "POST", "/v1/checkouts", jwt, uuid.NewString(),
					map[string]any{"items": []map[string]any{{"sku": sku, "quantity": 1}}, "currency": "USD", "payment_method": "pm_card_visa"}, &co)
				for err == nil && !final(co.Status) {
					err = cl.do(ctx, "GET", "/v1/checkouts/"+co.CheckoutID+"?wait=20", jwt, "", nil, &co)
				}
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					_ = backoff.Sleep(ctx, 100*time.Millisecond) // no busy loop against a failing stack
					continue
				}
				d := time.Since(t0)
				if co.Status == "completed" {
					completed.Add(1)
				} else {
					failed.Add(1)
				}
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(began)
	if e := firstErr.Load(); e != nil {
		fmt.Fprintf(os.Stderr, "e2e c=%d: %d errors, first: %v\n", c, errs.Load(), e)
	}
	r := E2EResult{Clients: c, Completed: int(completed.Load()), Failed: int(failed.Load()), Errors: int(errs.Load())}
	r.Checkouts = r.Completed + r.Failed
	r.PerSec = float64(r.Checkouts) / elapsed.Seconds()
	r.P50ms, r.P95ms, r.P99ms = pct(lat, 50), pct(lat, 95), pct(lat, 99)
	if pool != nil && r.Checkouts > 0 {
		time.Sleep(500 * time.Millisecond) // let post-order consumers finish their messages
		after, _, err := readCounters(ctx, pool)
		if err != nil {
			return r, err
		}
		secs, err := taskSeconds(ctx, pool, began)
		if err != nil {
			return r, err
		}
		n := float64(r.Checkouts)
		r.CommitsPerCO = float64(after.commits-before.commits) / n
		r.TransitionsPerCO = float64(after.transitions-before.transitions) / n
		r.TasksPerCO = float64(after.tasks-before.tasks) / n
		r.SQSMsgsPerCO = float64(after.sqs-before.sqs) / n
		r.TaskSecPerCO = secs / n
		r.USDPerMillion = costPerMillion(r)
	}
	return r, nil
}

// costPerMillion: Lambda (tasks + the API handler's POST and GET per checkout,
// at the template's MemorySize for the measured task seconds), Step Functions
// Standard transitions, SQS (send + receive + delete per message).
func costPerMillion(r E2EResult) float64 {
	gbs := r.TaskSecPerCO * lambdaMemoryMB / 1024
	invocations := r.TasksPerCO + 2 // + API POST and at least one GET
	perCO := gbs*lambdaArmPerGBSecond + invocations*lambdaPerMillionRequests/1e6 +
		r.TransitionsPerCO*sfnPerTransition + 3*r.SQSMsgsPerCO*sqsPerMillionRequests/1e6
	return perCO * 1e6
}

func final(status string) bool {
	switch status {
	case "completed", "failed", "needs_review", "requires_action":
		return true
	}
	return false
}

func medianE2E(rs []E2EResult) E2EResult {
	if len(rs) == 1 {
		return rs[0]
	}
	pick := func(f func(E2EResult) float64) float64 {
		xs := make([]float64, len(rs))
		for i, r := range rs {
			xs[i] = f(r)
		}
		return median(xs)
	}
	m := rs[len(rs)/2]
	m.PerSec = pick(func(r E2EResult) float64 { return r.PerSec })
	m.P50ms = pick(func(r E2EResult) float64 { return r.P50ms })
	m.P95ms = pick(func(r E2EResult) float64 { return r.P95ms })
	m.P99ms = pick(func(r E2EResult) float64 { return r.P99ms })
	m.USDPerMillion = pick(func(r E2EResult) float64 { return r.USDPerMillion })
	return m
}

func e2eMarkdown(cfg E2EConfig, rs []E2EResult) string {
	var b strings.Builder
	split := "in one inventory row"
	if cfg.Buckets > 1 {
		split = fmt.Sprintf("split over %d buckets", cfg.Buckets)
	}
	fmt.Fprintf(&b, "# End-to-end checkout load, %s\n\n%s, %s per concurrency, %d run(s), one SKU with ample stock %s, pm_card_visa.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), cfg.URL, cfg.Duration, cfg.Runs, split)
	b.WriteString("| clients | checkouts/s | p50 ms | p95 ms | p99 ms | completed | failed | errors | DB commits / checkout | state transitions / checkout | task s / checkout | SQS msgs / checkout | USD / 1M checkouts |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rs {
		fmt.Fprintf(&b, "| %d | %.1f | %.0f | %.0f | %.0f | %d | %d | %d | %.1f | %.1f | %.3f | %.1f | %.2f |\n",
			r.Clients, r.PerSec, r.P50ms, r.P95ms, r.P99ms, r.Completed, r.Failed, r.Errors, r.CommitsPerCO, r.TransitionsPerCO, r.TaskSecPerCO, r.SQSMsgsPerCO, r.USDPerMillion)
	}
	b.WriteString("\nDB commits count every transaction of the stack's database (pg_stat_database.xact_commit delta, including the local SQS and Step Functions emulators' own bookkeeping, which AWS would not bill as database work). Cost: Lambda GB-s = task seconds × 256 MB (template MemorySize) at the Arm price, Lambda requests = tasks + 2 API calls, Step Functions Standard per state transition, SQS = 3 requests per message; Aurora, API Gateway and data transfer are not included.\n")
	return b.String()
}

// loadTestParameters lift the template's request limits for the load run
// (as `sam deploy --parameter-overrides` would): every client comes from
// 127.0.0.1, so the WAF's per-IP rule (2000 requests per 5 minutes) would
// refuse the load within seconds, and the usage plan (100 requests/s) and
// the per-token WAF rule would cap it well below what the stack serves.
var loadTestParameters = map[string]string{
	"WafIpRateLimit":     "100000000",
	"WafUserRateLimit":   "100000000",
	"ThrottleRateLimit":  "1000000",
	"ThrottleBurstLimit": "1000000",
	"QuotaLimit":         "1000000000",
	// The catalog's own bucket (the run does not read the catalog; lifted
	// all the same so every limit of the template is out of the way).
	"CatalogThrottleRateLimit":  "1000000",
	"CatalogThrottleBurstLimit": "1000000",
}

// startStack runs the local stack (the same stack.Start as `make dev`'s
// checkout-local) in this process on free ports, with a temporary data
// folder, a durable PostgreSQL of our own (so commits can be counted) and
// loadTestParameters, and returns a function that stops it.
func startStack(ctx context.Context, cfg *E2EConfig, stdout io.Writer) (func(), error) {
	stack.RelaxGC() // as make dev's checkout-local does
	dir, err := os.MkdirTemp("", "checkout-bench-e2e-")
	if err != nil {
		return nil, err
	}
	cleanup := []func(){func() { os.RemoveAll(dir) }}
	stop := func() {
		for i := len(cleanup) - 1; i >= 0; i-- {
			cleanup[i]()
		}
	}
	if cfg.DatabaseURL == "" {
		srv, err := pgtest.Start(ctx, pgtest.Options{Durable: true})
		if err != nil {
			stop()
			return nil, err
		}
		cleanup = append(cleanup, func() { _ = srv.Stop() })
		cfg.DatabaseURL = srv.DSN("postgres")
	}
	if cfg.APIKey == "" {
		cfg.APIKey = "bench-" + uuid.NewString()
	}
	if cfg.JWTSecret == "" {
		cfg.JWTSecret = uuid.NewString() + uuid.NewString()
	}
	logf, err := os.Create(dir + ".log")
	if err != nil {
		stop()
		return nil, err
	}
	cleanup = append(cleanup, func() { logf.Close() })
	fmt.Fprintf(stdout, "e2e: starting the local stack on free ports (log %s), limits lifted: %v\n", logf.Name(), loadTestParameters)
	const freePort = "127.0.0.1:0" // each server binds its own: no port to reserve and free first
	st, err := stack.Start(ctx, stack.Options{NoTracing: cfg.NoTracing, DataDir: dir, Addr: freePort, SQSAddr: freePort, SFNAddr: freePort,
		StripeAddr: freePort, DatabaseURL: cfg.DatabaseURL, APIKey: cfg.APIKey, JWTSecret: cfg.JWTSecret,
		Parameters: loadTestParameters, SFNQuotas: cfg.sfnQuotas, SFNTransitionQuota: cfg.sfnTransitionQuota, Log: slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		stop()
		return nil, fmt.Errorf("e2e: start the stack (see %s): %w", logf.Name(), err)
	}
	cfg.URL, cfg.stack = st.APIURL, st
	fmt.Fprintf(stdout, "e2e: the stack serves on %s\n", cfg.URL)
	cleanup = append(cleanup, st.Close)
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get(cfg.URL + "/v1/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return stop, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			stop()
			return nil, fmt.Errorf("e2e: the stack did not become healthy (see %s)", logf.Name())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
