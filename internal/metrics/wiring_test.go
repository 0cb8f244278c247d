package metrics_test

// The metrics the template's alarms watch, end to end: app.NewCore wired
// with an EMF recorder and a breaker, the saga's steps run against a real
// database and the stripe fake behind the real stripe-go adapter, and the
// documents checked against the specification and the template.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"gopkg.in/yaml.v3"

	"github.com/checkout-dev/checkout/internal/app"
	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/checkout"
	"github.com/checkout-dev/checkout/internal/inventory"
	"github.com/checkout-dev/checkout/internal/metrics"
	"github.com/checkout-dev/checkout/internal/payment"
	"github.com/checkout-dev/checkout/internal/postgres"
	"github.com/checkout-dev/checkout/internal/saga"
	"github.com/checkout-dev/checkout/internal/stripefake"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m, postgres.Migrate) }

// syncBuffer is a bytes.Buffer safe to read while the recorder writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type wired struct {
	core  *app.Core
	fake  *stripefake.Fake
	out   *syncBuffer
	clock *clock // the breaker's
}

func newWired(t *testing.T, threshold int) *wired {
	t.Helper()
	w := &wired{fake: stripefake.StartTest(t), out: &syncBuffer{}, clock: &clock{now: time.Now()}}
	pool := pgtest.NewPool(t)
	gw := payment.NewStripe(payment.StripeConfig{SecretKey: stripefake.TestAPIKey, URL: w.fake.URL, Timeout: 5 * time.Second})
	rec := metrics.NewEMF(w.out, metrics.EMFOptions{Namespace: "Checkout"})
	w.core = app.NewCore(pool, gw, app.Config{Strategy: inventory.Conditional, ReservationTTL: time.Minute}, slog.New(slog.DiscardHandler),
		app.WithMetrics(rec), app.WithBreaker(payment.BreakerOptions{FailureThreshold: threshold, Now: w.clock.Now}))
	if _, err := pool.Exec(context.Background(), `
		INSERT INTO products (sku, name, amount, currency) VALUES ('TEE-1', 'T-shirt', 1999, 'USD');
		INSERT INTO inventory (sku, on_hand) VALUES ('TEE-1', 50)`); err != nil {
		t.Fatal(err)
	}
	return w
}

// start records a checkout and pins the steps' clock to 1234 ms after its
// creation, so that CheckoutDuration is known exactly.
func (w *wired) start(t *testing.T, pm string) saga.State {
	t.Helper()
	c, _, err := w.core.Checkouts.CreateOrGet(context.Background(), "buyer-"+uuid.NewString(), uuid.NewString(), // a buyer each: no customer limit applies
		checkout.Request{Items: []checkout.Item{{SKU: "TEE-1", Quantity: 1}}, Currency: "USD", PaymentMethod: pm})
	if err != nil {
		t.Fatal(err)
	}
	w.core.Steps.Now = func() time.Time { return c.CreatedAt.Add(1234 * time.Millisecond) }
	return saga.StateFor(c)
}

func (w *wired) invoke(t *testing.T, step saga.Step, in any) (saga.State, error) {
	t.Helper()
	payload, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := w.core.Steps.Handler(step).Invoke(context.Background(), payload)
	var st saga.State
	if err == nil {
		if err := json.Unmarshal(out, &st); err != nil {
			t.Fatal(err)
		}
	}
	return st, err
}

// docs returns the documents that carry metric name.
func (w *wired) docs(t *testing.T, name string) []emfDoc {
	t.Helper()
	var out []emfDoc
	for _, d := range parseEMF(t, w.out.String()) {
		if d.Namespace != "Checkout" || len(d.Dimensions) != 1 || len(d.Dimensions[0]) != 0 {
			t.Errorf("document in %q with dimensions %v; want Checkout, [[]]", d.Namespace, d.Dimensions)
		}
		if _, ok := d.Units[name]; ok {
			out = append(out, d)
		}
	}
	return out
}

func TestCheckoutDurationIsPublishedOncePerFinalStatus(t *testing.T) {
	t.Parallel()
	w := newWired(t, 5)

	// Completed: CreateOrder publishes it; a replayed CreateOrder does not.
	st := w.start(t, "pm_card_visa")
	for _, step := range []saga.Step{saga.FnReserveStock, saga.FnChargePayment, saga.FnCreateOrder, saga.FnCreateOrder} {
		var err error
		if st, err = w.invoke(t, step, st); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	got := w.docs(t, metrics.CheckoutDuration)
	if len(got) != 1 {
		t.Fatalf("%d CheckoutDuration documents after a completed checkout; want 1", len(got))
	}
	if d := got[0]; num(t, d, metrics.CheckoutDuration) != 1234 || d.Units[metrics.CheckoutDuration] != "Milliseconds" ||
		d.Root["checkout_status"] != string(checkout.StatusCompleted) || d.Root["checkout_id"] != st.CheckoutID {
		t.Errorf("CheckoutDuration document %v", d.Root)
	}

	// Failed: MarkOutcome publishes it once; marking it again, or moving it
	// on to needs_review, does not.
	st = w.start(t, "pm_card_chargeDeclined")
	if st, err := w.invoke(t, saga.FnReserveStock, st); err != nil {
		t.Fatal(err)
	} else if _, err := w.invoke(t, saga.FnChargePayment, st); reflect.TypeOf(err) != reflect.TypeOf(&saga.PaymentDeclined{}) {
		t.Fatalf("charge with a declined card: %T %v", err, err)
	}
	failed := saga.Outcome{CheckoutID: st.CheckoutID, Status: checkout.StatusFailed,
		Error: &saga.StepError{Error: "PaymentDeclined", Cause: `{"errorMessage":"declined","errorType":"PaymentDeclined"}`}}
	review := saga.Outcome{CheckoutID: st.CheckoutID, Status: checkout.StatusNeedsReview}
	for _, in := range []saga.Outcome{failed, failed, review} {
		payload, _ := json.Marshal(in)
		if _, err := w.core.Steps.Handler(saga.FnMarkOutcome).Invoke(context.Background(), payload); err != nil {
			t.Fatalf("mark %s: %v", in.Status, err)
		}
	}
	got = w.docs(t, metrics.CheckoutDuration)
	if len(got) != 2 {
		t.Fatalf("%d CheckoutDuration documents; want 2 (completed, failed)", len(got))
	}
	if d := got[1]; num(t, d, metrics.CheckoutDuration) != 1234 || d.Root["checkout_status"] != string(checkout.StatusFailed) ||
		d.Root["failure_code"] != "payment_declined" || d.Root["checkout_id"] != st.CheckoutID {
		t.Errorf("CheckoutDuration document %v", d.Root)
	}

	// Both charges were attempts; the declined one failed.
	pay := w.docs(t, metrics.PaymentsAttempted)
	if len(pay) != 2 || num(t, pay[0], metrics.PaymentsFailed) != 0 || num(t, pay[1], metrics.PaymentsFailed) != 1 {
		t.Errorf("payment documents %+v; want a success then a failure", pay)
	}
	if len(w.docs(t, metrics.CircuitBreakerOpen)) != 0 {
		t.Error("CircuitBreakerOpen published with the gateway healthy")
	}
}

func TestCircuitBreakerOpenIsPublishedOnTransitions(t *testing.T) {
	t.Parallel()
	const threshold = 2
	w := newWired(t, threshold)
	st := w.start(t, "pm_card_visa")
	st, err := w.invoke(t, saga.FnReserveStock, st)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.fake.InjectFault(stripefake.Fault{Kind: stripefake.Status500, Times: 100}); err != nil {
		t.Fatal(err)
	}
	// The step's retries meet the failures, open the breaker and fail fast:
	// the state machine sees the retried PaymentGatewayUnavailable.
	if _, err := w.invoke(t, saga.FnChargePayment, st); reflect.TypeOf(err) != reflect.TypeOf(&saga.PaymentGatewayUnavailable{}) {
		t.Fatalf("charge while the gateway fails: %T %v; want PaymentGatewayUnavailable", err, err)
	}
	if n := len(w.fake.Requests()); n != threshold {
		t.Errorf("%d requests reached the gateway; want %d, then fail-fast", n, threshold)
	}
	open := w.docs(t, metrics.CircuitBreakerOpen)
	if len(open) != 1 || num(t, open[0], metrics.CircuitBreakerOpen) != 1 || open[0].Units[metrics.CircuitBreakerOpen] != "None" {
		t.Fatalf("CircuitBreakerOpen documents %+v; want one with 1", open)
	}

	// Recovered: after OpenFor (default 30 s) the trial closes it.
	w.fake.ClearFaults()
	w.clock.Advance(30 * time.Second)
	if _, err := w.invoke(t, saga.FnChargePayment, st); err != nil {
		t.Fatalf("charge after recovery: %v", err)
	}
	open = w.docs(t, metrics.CircuitBreakerOpen)
	if len(open) != 2 || num(t, open[1], metrics.CircuitBreakerOpen) != 0 {
		t.Fatalf("CircuitBreakerOpen documents %+v; want 1 then 0", open)
	}
	pay := w.docs(t, metrics.PaymentsAttempted)
	if len(pay) != 2 || num(t, pay[0], metrics.PaymentsFailed) != 1 || pay[0].Root["payment_outcome"] != "gateway_unavailable" ||
		num(t, pay[1], metrics.PaymentsFailed) != 0 {
		t.Errorf("payment documents %+v; want a gateway failure then a success", pay)
	}
}

// TestOpenCoreWrapsTheGatewayInABreaker checks the Lambda wiring: the
// default breaker (5 consecutive failures) stops requests to a failing
// gateway. (Its EMF output goes to the test binary's stdout.)
func TestOpenCoreWrapsTheGatewayInABreaker(t *testing.T) {
	t.Parallel()
	fake := stripefake.StartTest(t)
	core, err := app.OpenCore(context.Background(), app.Config{DatabaseURL: pgtest.NewDB(t), StripeSecretKey: stripefake.TestAPIKey,
		StripeAPIURL: fake.URL, Strategy: inventory.Conditional, ReservationTTL: time.Minute, MaxDBConnections: 4}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(core.Pool.Close)
	ctx := context.Background()
	if _, err := core.Pool.Exec(ctx, `
		INSERT INTO products (sku, name, amount, currency) VALUES ('TEE-1', 'T-shirt', 1999, 'USD');
		INSERT INTO inventory (sku, on_hand) VALUES ('TEE-1', 5)`); err != nil {
		t.Fatal(err)
	}
	c, _, err := core.Checkouts.CreateOrGet(ctx, "buyer-"+uuid.NewString(), uuid.NewString(), // a buyer each: no customer limit applies
		checkout.Request{Items: []checkout.Item{{SKU: "TEE-1", Quantity: 1}}, Currency: "USD", PaymentMethod: "pm_card_visa"})
	if err != nil {
		t.Fatal(err)
	}
	if err := fake.InjectFault(stripefake.Fault{Kind: stripefake.Status500, Times: 100}); err != nil {
		t.Fatal(err)
	}
	// Two charges of 4 tries each: the fifth failure opens the breaker.
	for range 2 {
		_, err = core.Payments.Charge(ctx, c.ID)
	}
	if !errors.Is(err, payment.ErrBreakerOpen) || !apperr.Is(err, apperr.Unavailable) {
		t.Fatalf("charge: %v; want the breaker's fail-fast", err)
	}
	if n := len(fake.Requests()); n != 5 {
		t.Errorf("%d requests reached the gateway; want 5", n)
	}
}

// TestTemplateAlarmsWatchPublishedMetrics ties template.yaml to this
// package: every alarm on the MetricsNamespace namespace watches a metric
// this package names, with no dimensions, and the namespace's default is
// DefaultNamespace.
func TestTemplateAlarmsWatchPublishedMetrics(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join("..", "..", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		t.Fatal(err)
	}
	get := func(n *yaml.Node, key string) *yaml.Node {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				return n.Content[i+1]
			}
		}
		return nil
	}
	doc := root.Content[0]
	if def := get(get(get(doc, "Parameters"), "MetricsNamespace"), "Default"); def == nil || def.Value != metrics.DefaultNamespace {
		t.Errorf("MetricsNamespace default %v; want %q", def, metrics.DefaultNamespace)
	}
	ours := map[string]bool{metrics.PaymentsAttempted: true, metrics.PaymentsFailed: true, metrics.CheckoutDuration: true, metrics.CircuitBreakerOpen: true,
		metrics.ApiLatency: true, metrics.ApiServerErrors: true, metrics.InventoryDiscrepancy: true,
		metrics.PartitionMonthsAhead: true}
	watched := map[string]bool{}
	isOurs := func(ns *yaml.Node) bool { return ns != nil && ns.Tag == "!Ref" && ns.Value == "MetricsNamespace" }
	check := func(alarm string, metric *yaml.Node) {
		if !isOurs(get(metric, "Namespace")) {
			return
		}
		name := get(metric, "MetricName")
		if name == nil || !ours[name.Value] {
			t.Errorf("alarm %s watches %v, which nothing publishes", alarm, name)
			return
		}
		watched[name.Value] = true
		if dims := get(metric, "Dimensions"); dims != nil && len(dims.Content) > 0 {
			t.Errorf("alarm %s filters %s by dimensions; the metrics have none", alarm, name.Value)
		}
	}
	res := get(doc, "Resources")
	for i := 0; i+1 < len(res.Content); i += 2 {
		id, r := res.Content[i].Value, res.Content[i+1]
		if ty := get(r, "Type"); ty == nil || ty.Value != "AWS::CloudWatch::Alarm" {
			continue
		}
		props := get(r, "Properties")
		check(id, props)
		if ms := get(props, "Metrics"); ms != nil {
			for _, m := range ms.Content {
				check(id, get(get(m, "MetricStat"), "Metric"))
			}
		}
	}
	for name := range ours {
		if !watched[name] {
			t.Errorf("no alarm watches %s", name)
		}
	}
	if !strings.Contains(string(raw), "METRICS_NAMESPACE: !Ref MetricsNamespace") {
		t.Error("the functions' environment does not pass METRICS_NAMESPACE")
	}
}
