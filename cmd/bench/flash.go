package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/auth"
	"github.com/checkout-dev/checkout/localaws/sfn"
)

// FlashConfig is a flash sale against the local stack: Buyers released at
// once on one SKU of Units, with Step Functions' default quotas (the
// stack's; the API Gateway and WAF limits lifted, as for -e2e).
type FlashConfig struct {
	Buyers, Units int
	Out           string
	// StartBurst and StartRate replace the StartExecution quota (0: AWS's
	// default, 1,300 and 300/s), to see the start queue level a quota the
	// sale exceeds.
	StartBurst int
	StartRate  float64
	// TransitionBurst and TransitionRate replace the StateTransition
	// bucket (0: AWS's default, 5,000 and 5,000/s; one alone keeps the
	// other's default), to see the saga delayed by it.
	TransitionBurst int
	TransitionRate  float64
}

// FlashSample is the state of the sale at one moment.
type FlashSample struct {
	AtMs       int64 `json:"at_ms"`
	StartQueue int   `json:"start_queue"`  // start messages waiting or in flight
	Unfinished int   `json:"unfinished"`   // checkouts not final
	NoExecYet  int   `json:"no_execution"` // pending checkouts whose start is deferred
}

// FlashResult is what the sale ended with.
type FlashResult struct {
	Buyers, Units  int
	StartBurst     int            `json:"start_burst,omitempty"`
	StartRate      float64        `json:"start_rate,omitempty"`
	Accepted       int            `json:"accepted"` // POST answered 200/202
	Errors         int            `json:"errors"`   // anything else, or a failed poll
	FirstErrors    []string       `json:"first_errors,omitempty"`
	Outcomes       map[string]int `json:"outcomes"`
	Orders         int            `json:"orders"`
	PostsTookMs    int64          `json:"posts_took_ms"`   // from the release to the last POST answered
	LastFinalMs    int64          `json:"last_final_ms"`   // from the release to the last checkout final
	MaxStartQueue  int            `json:"max_start_queue"` // deepest the start queue got
	DeferredStarts int            `json:"deferred_starts"` // checkouts seen pending without execution at their POST
	Samples        []FlashSample  `json:"samples"`

	// The StateTransition bucket when not AWS's default, and the
	// transitions it delayed (the sum of ExecutionThrottled).
	TransitionBurst    int     `json:"transition_burst,omitempty"`
	TransitionRate     float64 `json:"transition_rate,omitempty"`
	ExecutionThrottled int64   `json:"execution_throttled"`
}

func runFlash(ctx context.Context, fc FlashConfig, stdout io.Writer) error {
	cfg := E2EConfig{Out: fc.Out}
	if fc.StartBurst > 0 && fc.StartRate > 0 {
		cfg.sfnQuotas = map[string]sfn.APIQuota{"StartExecution": {Burst: fc.StartBurst, Rate: fc.StartRate}}
	}
	if fc.TransitionBurst > 0 || fc.TransitionRate > 0 {
		q := sfn.DefaultTransitionQuota()
		if fc.TransitionBurst > 0 {
			q.Burst = fc.TransitionBurst
		}
		if fc.TransitionRate > 0 {
			q.Rate = fc.TransitionRate
		}
		fc.TransitionBurst, fc.TransitionRate = q.Burst, q.Rate
		cfg.sfnTransitionQuota = &q
	}
	stop, err := startStack(ctx, &cfg, stdout)
	if err != nil {
		return err
	}
	defer stop()
	pool, err := pgxpool.New(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost, transport.MaxIdleConns = fc.Buyers, fc.Buyers
	cl := &client{base: cfg.URL, key: cfg.APIKey, http: &http.Client{Timeout: 60 * time.Second, Transport: transport}}
	admin, err := auth.Mint([]byte(cfg.JWTSecret), auth.MintOptions{Subject: "flash-admin", Admin: true, TTL: time.Hour})
	if err != nil {
		return err
	}
	sku := "FLASH-" + uuid.NewString()[:8]
	if err := cl.do(ctx, "PUT", "/v1/admin/products/"+sku, admin, "", map[string]any{"name": "flash", "amount": 4900, "currency": "USD"}, nil); err != nil {
		return fmt.Errorf("flash: create product: %w", err)
	}
	if err := cl.do(ctx, "PUT", "/v1/admin/inventory/"+sku, admin, "", map[string]any{"quantity": fc.Units}, nil); err != nil {
		return fmt.Errorf("flash: stock product: %w", err)
	}
	tokens := make([]string, fc.Buyers)
	for i := range tokens {
		if tokens[i], err = auth.Mint([]byte(cfg.JWTSecret), auth.MintOptions{Subject: fmt.Sprintf("flash-buyer-%d", i), TTL: time.Hour}); err != nil {
			return err
		}
	}
	sqs := awssqs.New(awssqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(cfg.stack.SQSURL),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")})
	startQueue := cfg.stack.QueueURL("StartQueue")

	res := FlashResult{Buyers: fc.Buyers, Units: fc.Units, StartBurst: fc.StartBurst, StartRate: fc.StartRate,
		TransitionBurst: fc.TransitionBurst, TransitionRate: fc.TransitionRate, Outcomes: map[string]int{}}
	var mu sync.Mutex
	var lastPost, lastFinal atomic.Int64
	addErr := func(e string) {
		mu.Lock()
		defer mu.Unlock()
		res.Errors++
		if len(res.FirstErrors) < 5 {
			res.FirstErrors = append(res.FirstErrors, e)
		}
	}
	release := make(chan struct{})
	begin := time.Now()
	sampling, stopSampling := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			s := FlashSample{AtMs: time.Since(begin).Milliseconds()}
			if out, err := sqs.GetQueueAttributes(sampling, &awssqs.GetQueueAttributesInput{QueueUrl: aws.String(startQueue),
				AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible}}); err == nil {
				var a, b int
				fmt.Sscan(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)], &a)
				fmt.Sscan(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)], &b)
				s.StartQueue = a + b
			}
			_ = pool.QueryRow(sampling, `SELECT count(*) FILTER (WHERE status IN ('pending', 'processing', 'requires_action')),
				count(*) FILTER (WHERE status = 'pending' AND execution_id IS NULL) FROM checkouts`).Scan(&s.Unfinished, &s.NoExecYet)
			mu.Lock()
			res.Samples = append(res.Samples, s)
			res.MaxStartQueue = max(res.MaxStartQueue, s.StartQueue)
			mu.Unlock()
			select {
			case <-sampling.Done():
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
	var wg sync.WaitGroup
	for i := range fc.Buyers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-release
			var co struct {
				CheckoutID string `json:"checkout_id"`
				Status     string `json:"status"`
				Failure    *struct {
					Code string `json:"code"`
				} `json:"failure"`
			}
			err := cl.do(ctx, "POST", "/v1/checkouts", tokens[i], uuid.NewString(),
				map[string]any{"items": []map[string]any{{"sku": sku, "quantity": 1}}, "currency": "USD", "payment_method": "pm_card_visa"}, &co)
			lastPost.Store(max(lastPost.Load(), time.Since(begin).Milliseconds()))
			if err != nil {
				addErr("POST: " + err.Error())
				return
			}
			mu.Lock()
			res.Accepted++
			mu.Unlock()
			for !final(co.Status) {
				if err := cl.do(ctx, "GET", "/v1/checkouts/"+co.CheckoutID+"?wait=20", tokens[i], "", nil, &co); err != nil {
					addErr("GET: " + err.Error())
					return
				}
			}
			for {
				prev := lastFinal.Load()
				now := time.Since(begin).Milliseconds()
				if now <= prev || lastFinal.CompareAndSwap(prev, now) {
					break
				}
			}
			code := ""
			if co.Failure != nil {
				code = co.Failure.Code
			}
			mu.Lock()
			res.Outcomes[co.Status+"/"+code]++
			mu.Unlock()
		}()
	}
	fmt.Fprintf(stdout, "flash: %d buyers released at once on %d units of %s\n", fc.Buyers, fc.Units, sku)
	begin = time.Now()
	close(release)
	wg.Wait()
	time.Sleep(500 * time.Millisecond)
	stopSampling()
	<-sampled
	res.PostsTookMs, res.LastFinalMs = lastPost.Load(), lastFinal.Load()
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM orders o JOIN order_items i ON i.order_id = o.id WHERE i.sku = $1`, sku).Scan(&res.Orders); err != nil {
		return err
	}
	for _, s := range res.Samples {
		res.DeferredStarts = max(res.DeferredStarts, s.NoExecYet)
	}
	for _, n := range cfg.stack.ExecutionThrottled() {
		res.ExecutionThrottled += n
	}
	md := flashMarkdown(res)
	fmt.Fprint(stdout, "\n"+md)
	if err := os.MkdirAll(fc.Out, 0o755); err != nil {
		return err
	}
	name := "flash"
	if fc.StartBurst > 0 || fc.TransitionBurst > 0 {
		name = "flash-throttled"
	}
	if err := os.WriteFile(filepath.Join(fc.Out, name+"-queue.svg"), []byte(flashSVG(res)), 0o644); err != nil {
		return err
	}
	if err := writeReport(fc.Out, name, map[string]any{"when": time.Now().UTC(), "result": res}, md); err != nil {
		return err
	}
	if res.Errors > 0 || res.Orders != fc.Units {
		return errors.New("flash: errors, or orders other than the units")
	}
	return nil
}

func flashMarkdown(r FlashResult) string {
	var b strings.Builder
	quota := "Step Functions' default quotas (StartExecution: 1,300 burst, 300/s; state transitions: 5,000 burst, 5,000/s)"
	if r.StartBurst > 0 || r.TransitionBurst > 0 {
		var qs []string
		if r.StartBurst > 0 {
			qs = append(qs, fmt.Sprintf("StartExecution throttled to a %d burst refilled at %g/s", r.StartBurst, r.StartRate))
		}
		if r.TransitionBurst > 0 {
			qs = append(qs, fmt.Sprintf("state transitions throttled to a %d burst refilled at %g/s", r.TransitionBurst, r.TransitionRate))
		}
		quota = strings.Join(qs, " and ")
	}
	fmt.Fprintf(&b, "# Flash sale, %s\n\n%d buyers released at once on %d units; the local stack with %s.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), r.Buyers, r.Units, quota)
	fmt.Fprintf(&b, "| buyers | accepted | errors | orders | outcomes | all POSTs answered | last checkout final | deepest start queue | most pending, not started yet | state transitions throttled |\n|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|\n")
	var outs []string
	for k, v := range r.Outcomes {
		outs = append(outs, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(outs)
	fmt.Fprintf(&b, "| %d | %d | %d | %d | %s | %.1f s | %.1f s | %d | %d | %d |\n", r.Buyers, r.Accepted, r.Errors, r.Orders, strings.Join(outs, ", "),
		float64(r.PostsTookMs)/1000, float64(r.LastFinalMs)/1000, r.MaxStartQueue, r.DeferredStarts, r.ExecutionThrottled)
	for _, e := range r.FirstErrors {
		fmt.Fprintf(&b, "\n- error: %s", e)
	}
	b.WriteString("\n")
	return b.String()
}

// flashSVG plots the start queue's depth and the unfinished checkouts over
// time: a small chart with no library.
func flashSVG(r FlashResult) string {
	const w, h, pad = 640, 240, 40
	maxT, maxY := int64(1), 1
	for _, s := range r.Samples {
		maxT = max(maxT, s.AtMs)
		maxY = max(maxY, s.StartQueue, s.Unfinished)
	}
	line := func(val func(FlashSample) int) string {
		var pts []string
		for _, s := range r.Samples {
			x := pad + float64(s.AtMs)*float64(w-2*pad)/float64(maxT)
			y := float64(h-pad) - float64(val(s))*float64(h-2*pad)/float64(maxY)
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
		}
		return strings.Join(pts, " ")
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/><line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", pad, h-pad, w-pad, h-pad, pad, pad, pad, h-pad)
	fmt.Fprintf(&b, `<text x="%d" y="%d">0</text><text x="%d" y="%d" text-anchor="end">%.1f s</text><text x="%d" y="%d" text-anchor="end">%d</text>`+"\n", pad, h-pad+14, w-pad, h-pad+14, float64(maxT)/1000, pad-4, pad+4, maxY)
	fmt.Fprintf(&b, `<polyline fill="none" stroke="#d62728" stroke-width="2" points="%s"/>`+"\n", line(func(s FlashSample) int { return s.StartQueue }))
	fmt.Fprintf(&b, `<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="%s"/>`+"\n", line(func(s FlashSample) int { return s.Unfinished }))
	fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#d62728">start queue depth</text><text x="%d" y="%d" fill="#1f77b4">checkouts not final</text>`+"\n", pad+10, pad-20, pad+160, pad-20)
	fmt.Fprintf(&b, `<text x="%d" y="%d">%d buyers, %d units: time since the release</text>`+"\n", w/2-120, h-8, r.Buyers, r.Units)
	b.WriteString("</svg>\n")
	return b.String()
}
