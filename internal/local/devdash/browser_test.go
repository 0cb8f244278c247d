package devdash_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/internal/auth"
	"github.com/checkout-dev/checkout/internal/local/stack"
	"github.com/checkout-dev/checkout/internal/stripefake"
	"github.com/checkout-dev/checkout/internal/tracing"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

const (
	browserAPIKey = "dash-api-key"
	browserSecret = "dash-jwt-secret-0123456789"
)

// chromium is the path of a Chromium (or Chrome) binary. Without one the
// test is skipped, except in CI (CI=true), where it fails: .ci/run installs
// Debian's chromium.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no Chromium on PATH (chromium, chromium-browser, google-chrome): CI needs it for the dashboard's browser test (apt-get install -y chromium)")
	}
	t.Skip("no Chromium on PATH (chromium, chromium-browser, google-chrome): skipping the dashboard's browser test; apt-get install -y chromium to run it")
	return ""
}

// TestDashboardInABrowser starts the whole local stack, completes a
// checkout through the real HTTP API, and drives headless Chromium through
// the dashboard at /_dev/: the checkout's row appears, clicking it draws its
// trace as a timeline, and the success rates are shown. The page is saved
// as a full-page screenshot (docs/dashboard.png with UPDATE_SCREENSHOT=1).
func TestDashboardInABrowser(t *testing.T) {
	t.Parallel()
	bin := chromium(t)

	// The stack, as the stack's own end-to-end tests start it.
	fake := stripefake.New(stripefake.Options{})
	fakeSrv := httptest.NewServer(fake)
	t.Cleanup(fakeSrv.Close)
	t.Cleanup(fake.Close)
	s, err := stack.Start(context.Background(), stack.Options{TemplatePath: "../../../template.yaml", DataDir: t.TempDir(),
		DatabaseURL: pgtest.NewDB(t), Addr: "127.0.0.1:0", SQSAddr: "127.0.0.1:0", SFNAddr: "127.0.0.1:0", StripeURL: fakeSrv.URL,
		APIKey: browserAPIKey, JWTSecret: browserSecret, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if s.DashboardURL != s.APIURL+"/_dev/" {
		t.Fatalf("DashboardURL %q; want %s/_dev/", s.DashboardURL, s.APIURL)
	}

	// A checkout through the API, as a storefront makes one.
	tok, err := auth.Mint([]byte(browserSecret), auth.MintOptions{Subject: "alice", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	call := func(method, path, body string, headers map[string]string) map[string]any {
		t.Helper()
		req, err := http.NewRequest(method, s.APIURL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("x-api-key", browserAPIKey)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode/100 != 2 || json.Unmarshal(raw, &out) != nil {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
		}
		return out
	}
	created := call("POST", "/v1/checkouts", `{"items":[{"sku":"TEE-BLACK-M","quantity":2}],"currency":"USD","payment_method":"pm_card_visa"}`,
		map[string]string{"Idempotency-Key": uuid.NewString()})
	id, _ := created["checkout_id"].(string)
	if id == "" {
		t.Fatalf("no checkout id in %v", created)
	}
	for deadline := time.Now().Add(60 * time.Second); ; {
		got := call("GET", "/v1/checkouts/"+id+"?wait=10", "", nil)
		if got["status"] == "completed" {
			break
		}
		if got["status"] == "failed" || got["status"] == "needs_review" || time.Now().After(deadline) {
			t.Fatalf("checkout %s: %v; want completed", id, got)
		}
	}
	call("GET", "/v1/checkouts/"+id, "", nil) // an answer at once: a latency point
	waitForTrace(t, s, id)

	// The browser.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.Headless, chromedp.WindowSize(1440, 1000),
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-dev-shm-usage", true))...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(alloc, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()

	// Start the browser and its tab before anything else uses the context:
	// chromedp allocates them on first use, and two first uses at once
	// (the console reader below and the first action) race.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start Chromium (%s): %v", bin, err)
	}

	// Every exception the page throws and every console error fails the test.
	var mu sync.Mutex
	var pageErrors []string
	consoleCtx, stopConsole := context.WithCancel(bctx)
	defer stopConsole()
	consoleDone := make(chan struct{})
	go func() {
		defer close(consoleDone)
		for m, err := range chromedp.Console(consoleCtx) {
			if err != nil {
				return
			}
			if m.IsException() || m.Type == chromedp.ConsoleError {
				mu.Lock()
				pageErrors = append(pageErrors, m.String())
				mu.Unlock()
			}
		}
	}()

	// diagnose says what the page shows when a wait failed.
	diagnose := func() string {
		dctx, dcancel := context.WithTimeout(bctx, 10*time.Second)
		defer dcancel()
		state, err := chromedp.Run(dctx, chromedp.Evaluate[string](`document.getElementById("refresh").textContent + " | " +
			document.querySelectorAll("#checkouts tbody tr").length + " rows | trace: " + document.getElementById("trace-empty").textContent`))
		mu.Lock()
		defer mu.Unlock()
		return fmt.Sprintf("page state %q (err %v); page errors %v", state, err, pageErrors)
	}

	row := chromedp.CSS(fmt.Sprintf(`#checkouts tbody tr[data-id=%q]`, id))
	if err := chromedp.Do(bctx, chromedp.Navigate(s.DashboardURL)); err != nil {
		t.Fatalf("open %s: %v", s.DashboardURL, err)
	}
	wctx, wcancel := context.WithTimeout(bctx, time.Minute)
	err = chromedp.Do(wctx, chromedp.WaitVisible(row))
	wcancel()
	if err != nil {
		t.Fatalf("the checkout's row never appeared: %v; %s", err, diagnose())
	}
	// The table is redrawn every 2 s; a click that lands during a redraw is
	// lost, so click until the timeline has a bar.
	bar := chromedp.CSS(`#timeline .bar`)
	for attempt := 1; ; attempt++ {
		if err := chromedp.Do(bctx, chromedp.Click(row)); err != nil {
			t.Fatalf("click the checkout: %v", err)
		}
		wctx, wcancel := context.WithTimeout(bctx, 5*time.Second)
		err := chromedp.Do(wctx, chromedp.WaitVisible(bar))
		wcancel()
		if err == nil {
			break
		}
		if attempt == 3 || ctx.Err() != nil {
			t.Fatalf("no bar in the timeline after clicking the checkout %d times: %v; %s", attempt, err, diagnose())
		}
	}

	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return strings.TrimSpace(v)
	}
	// One checkout, completed, one charge: both rates are 100 %.
	if got := text("#order-success"); got != "100.0%" {
		t.Errorf("order success shows %q; want 100.0%%", got)
	}
	if got := text("#payment-success"); got != "100.0%" {
		t.Errorf("payment success shows %q; want 100.0%%", got)
	}
	if got := text("#latency"); got == "n/a" || got == "–" || strings.Count(got, "/") != 2 {
		t.Errorf("latency shows %q; want p50 / p95 / p99", got)
	}
	if got := text("#trace-title"); got != id {
		t.Errorf("trace title %q; want %s", got, id)
	}
	// Every queue of the template, with a depth from the local SQS.
	queues, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll("#queues tbody tr")).map(r => r.cells[0].textContent + "=" + r.cells[1].textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	if len(queues) < 2 || strings.Contains(strings.Join(queues, ","), "=?") {
		t.Errorf("queues %v; want every queue with a depth", queues)
	}
	bars, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll("#timeline .bar").length`))
	if err != nil {
		t.Fatal(err)
	}
	var spans int
	if err := s.Core().Pool.QueryRow(ctx, `SELECT count(*) FROM devtrace.spans WHERE trace_id IN
		(SELECT trace_id FROM devtrace.spans WHERE checkout_id = $1)`, id).Scan(&spans); err != nil {
		t.Fatal(err)
	}
	if bars != spans {
		t.Errorf("%d bars in the timeline; want one per span (%d)", bars, spans)
	}

	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	shot := filepath.Join(t.TempDir(), "dashboard.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))
	if os.Getenv("UPDATE_SCREENSHOT") == "1" {
		dst := filepath.Join("..", "..", "..", "docs", "dashboard.png")
		if err := os.WriteFile(dst, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot copied to docs/dashboard.png")
	}

	stopConsole()
	<-consoleDone
	mu.Lock()
	defer mu.Unlock()
	if len(pageErrors) > 0 {
		t.Errorf("the page reported errors:\n%s", strings.Join(pageErrors, "\n"))
	}
}

// waitForTrace waits until the stack's tracing has stored checkout id's
// trace, the consumers' spans included (they end last), and returns how
// many spans it has.
func waitForTrace(t *testing.T, s *stack.Stack, id string) int {
	t.Helper()
	ctx := context.Background()
	pool := s.Core().Pool
	var n, consumers int
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		tracing.Flush(ctx)
		err := pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE service LIKE 'consumer:%') FROM devtrace.spans
			WHERE trace_id IN (SELECT trace_id FROM devtrace.spans WHERE checkout_id = $1)`, id).Scan(&n, &consumers)
		if err != nil {
			t.Fatal(err)
		}
		if consumers == 3 {
			t.Logf("checkout %s: %d spans", id, n)
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("checkout %s: %d spans, %d of the 3 consumers' after 30 s", id, n, consumers)
		}
	}
}
