// Package torture runs many concurrent checkouts through the local stack,
// started as its own process (the very checkout-local binary of make dev),
// while everything that can go wrong with money does: the Stripe fake —
// hosted here, so that its books outlive the stack — answers a share of
// requests with Stripe's faults (5xx before and after moving money, 429,
// resets, answers lost after the charge, slow and processing confirms),
// duplicates, delays, reorders and drops its webhooks; the stack's Lambda
// runtime loses answers of steps that committed; and the stack process is
// killed with SIGKILL and restarted mid-run. Then `checkoutctl invariants`
// proves, from the database and the fake's books, that no promise broke.
package torture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/checkout-dev/checkout/internal/stripefake"
)

// Config sets the size and the violence of a run.
type Config struct {
	Checkouts        int     // buyers, one checkout each (default 2000)
	Concurrency      int     // buyers at a time (default 64)
	FaultRate        float64 // share of Stripe API requests that get a fault (default 0.3)
	WebhookFaultRate float64 // share of webhook deliveries that get a fault (default 0.3)
	// LambdaFaultRate is the share of saga step invocations whose runtime
	// dies or loses the answer (default 0.1: with 4-8 invocations per
	// checkout, about a third of the checkouts meet one).
	LambdaFaultRate float64
	Kills           int           // SIGKILL + restart of the stack during the run (default 2)
	Seed            int64         // 0: random
	WorkDir         string        // data, logs and binaries; default a temp dir, removed unless Keep
	Keep            bool          // keep WorkDir
	RepoRoot        string        // default: the module root above the working directory
	DatabaseURL     string        // PostgreSQL for the stack; default its own cluster in WorkDir
	Timeout         time.Duration // the whole run (default 30m)
	Out             io.Writer     // progress and the report (default os.Stdout)
}

func (c *Config) defaults() {
	if c.Checkouts <= 0 {
		c.Checkouts = 2000
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 64
	}
	if c.Seed == 0 {
		c.Seed = time.Now().UnixNano()
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Minute
	}
	if c.Out == nil {
		c.Out = os.Stdout
	}
}

// Result is what a run saw.
type Result struct {
	Checkouts     int
	ByOutcome     map[string]int // final status and failure code, e.g. "failed/payment_declined"
	Kills         int
	APIFaults     map[string]int // Stripe API faults by kind
	WebhookFaults map[string]int // webhook delivery faults by kind
	Duration      time.Duration  // until every checkout was final
	SettledAfter  time.Duration  // until reconciliation was idle too
	InvariantsOK  bool
	Report        string // checkoutctl invariants' table
}

// Run performs one torture run. It returns an error when the run could
// not be carried out; a broken invariant is reported in Result (and as
// errViolations).
func Run(ctx context.Context, cfg Config) (Result, error) {
	cfg.defaults()
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	res := Result{Checkouts: cfg.Checkouts, ByOutcome: map[string]int{}}
	root, err := repoRoot(cfg.RepoRoot)
	if err != nil {
		return res, err
	}
	if cfg.WorkDir == "" {
		if cfg.WorkDir, err = os.MkdirTemp("", "checkout-torture-"); err != nil {
			return res, err
		}
		if !cfg.Keep {
			defer os.RemoveAll(cfg.WorkDir)
		}
	}
	logf := func(format string, args ...any) { fmt.Fprintf(cfg.Out, "torture: "+format+"\n", args...) }
	logf("seed %d, %d checkouts, %d at a time, Stripe faults %.0f%%, webhook faults %.0f%%, Lambda faults %.0f%%, %d kills; work dir %s",
		cfg.Seed, cfg.Checkouts, cfg.Concurrency, cfg.FaultRate*100, cfg.WebhookFaultRate*100, cfg.LambdaFaultRate*100, cfg.Kills, cfg.WorkDir)

	bins, err := build(ctx, root, cfg.WorkDir)
	if err != nil {
		return res, err
	}
	fakeLog, err := os.Create(filepath.Join(cfg.WorkDir, "stripefake.log"))
	if err != nil {
		return res, err
	}
	defer fakeLog.Close()
	fake := stripefake.New(stripefake.Options{Logger: slog.New(slog.NewTextHandler(fakeLog, &slog.HandlerOptions{Level: slog.LevelWarn})),
		AsyncDelay: 500 * time.Millisecond, MaxHold: 15 * time.Second})
	fakeURL, stopFake, err := fake.Start("127.0.0.1:0")
	if err != nil {
		return res, err
	}
	defer stopFake()

	st, err := newStack(root, bins, cfg, fakeURL)
	if err != nil {
		return res, err
	}
	defer st.stop()
	if err := st.start(ctx); err != nil {
		return res, err
	}
	if err := fake.SetWebhookEndpoint(st.api+"/v1/webhooks/stripe", webhookSecret); err != nil {
		return res, err
	}
	shop := &shop{api: st.api, rnd: rand.New(rand.NewPCG(uint64(cfg.Seed), 7))}
	if err := shop.seed(ctx, cfg.Checkouts); err != nil {
		return res, fmt.Errorf("seed the catalog: %w", err)
	}
	// The faults start once the shop is open.
	if cfg.FaultRate > 0 {
		for _, f := range []stripefake.Fault{slowConfirms(cfg), lateProcessing(cfg)} {
			if err := fake.InjectFault(f); err != nil {
				return res, err
			}
		}
	}
	if err := fake.SetChaos(chaos(cfg)); err != nil {
		return res, err
	}

	started := time.Now()
	var submitted atomic.Int64
	killerDone := make(chan error, 1)
	go func() { killerDone <- st.killer(ctx, cfg, &submitted, logf) }()
	outcomes, err := shop.buy(ctx, cfg, &submitted, logf)
	if err != nil {
		return res, err
	}
	if err := <-killerDone; err != nil {
		return res, err
	}
	res.Duration = time.Since(started)
	res.Kills = st.kills
	for _, o := range outcomes {
		res.ByOutcome[o]++
	}
	logf("every checkout is final after %s; letting webhooks and reconciliation finish", res.Duration.Round(time.Millisecond))

	fake.StopChaos()
	if err := settle(ctx, fake, st); err != nil {
		return res, err
	}
	res.SettledAfter = time.Since(started)
	res.APIFaults, res.WebhookFaults = faultCounts(fake)

	report, ok, err := st.invariants(ctx)
	if err != nil {
		return res, err
	}
	res.Report, res.InvariantsOK = report, ok
	if !ok {
		return res, ErrViolations
	}
	return res, nil
}

// ErrViolations is returned when the invariant checker found a broken promise.
var ErrViolations = errors.New("torture: invariants violated")

// webhookSecret signs the fake's webhooks; the stack is started with it.
const webhookSecret = "whsec_torture"

func chaos(cfg Config) stripefake.Chaos {
	return stripefake.Chaos{
		Rate: cfg.FaultRate,
		Kinds: []stripefake.FaultKind{stripefake.Status500, stripefake.Status500After, stripefake.Status429, stripefake.ConnReset,
			stripefake.TimeoutAfterCharge, stripefake.Latency, stripefake.Slow, stripefake.Processing},
		WebhookRate:  cfg.WebhookFaultRate,
		WebhookKinds: []stripefake.FaultKind{stripefake.WebhookDuplicate, stripefake.WebhookDelay, stripefake.WebhookReorder, stripefake.WebhookDrop},
		Delay:        1500 * time.Millisecond,
		Seed:         cfg.Seed,
	}
}

// lateProcessing are payments that stay processing longer than the
// stack's holds (ReservationTtl 10 s) and then succeed: the order is
// refused (reservation_expired) and the money refunded.
func lateProcessing(cfg Config) stripefake.Fault {
	return stripefake.Fault{Kind: stripefake.Processing, Match: "POST /v1/payment_intents/*/confirm", Delay: 15 * time.Second,
		Outcome: stripefake.OutcomeSucceed, Times: max(4, cfg.Checkouts/40)}
}

// slowConfirms are confirms slower than the charge step's Lambda timeout
// (30 s): the step dies with Sandbox.Timedout while Stripe still works on
// the confirm, and the retry must resolve it from the intent.
func slowConfirms(cfg Config) stripefake.Fault {
	return stripefake.Fault{Kind: stripefake.Slow, Match: "POST /v1/payment_intents/*/confirm", Delay: 35 * time.Second,
		Times: max(2, cfg.Checkouts/200)}
}

// faultCounts counts the faults the fake applied, by kind.
func faultCounts(fake *stripefake.Fake) (api, webhooks map[string]int) {
	api, webhooks = map[string]int{}, map[string]int{}
	for _, r := range fake.Requests() {
		if r.Fault != "" {
			api[string(r.Fault)]++
		}
	}
	for _, ev := range fake.Events() {
		if ev.Fault != "" {
			webhooks[string(ev.Fault)]++
		}
	}
	return api, webhooks
}

// settle waits until the fake has no webhook left to deliver and the
// stack's payment-events queue is drained.
func settle(ctx context.Context, fake *stripefake.Fake, st *process) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	for quiet := 0; quiet < 3; {
		if err := fake.WaitWebhooksIdle(ctx); err != nil {
			return fmt.Errorf("waiting for the fake's webhooks: %w", err)
		}
		n, err := st.queueDepth(ctx, "payment-events")
		if err != nil {
			return err
		}
		if n == 0 {
			quiet++
		} else {
			quiet = 0
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("reconciliation did not finish: %w", ctx.Err())
		case <-time.After(time.Second):
		}
	}
	return nil
}
