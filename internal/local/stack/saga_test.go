package stack_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssfn "github.com/aws/aws-sdk-go-v2/service/sfn"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/app"
	"github.com/checkout-dev/checkout/internal/checkout"
	"github.com/checkout-dev/checkout/internal/events"
	"github.com/checkout-dev/checkout/internal/inventory"
	"github.com/checkout-dev/checkout/internal/local/stack"
	"github.com/checkout-dev/checkout/internal/payment"
	"github.com/checkout-dev/checkout/internal/postgres"
	"github.com/checkout-dev/checkout/internal/saga"
	"github.com/checkout-dev/checkout/internal/stripefake"
	"github.com/checkout-dev/checkout/localaws"
	"github.com/checkout-dev/checkout/localaws/motoserver"
	"github.com/checkout-dev/checkout/localaws/pgtest"
	"github.com/checkout-dev/checkout/localaws/sam"
	"github.com/checkout-dev/checkout/localaws/sfn"
)

func TestMain(m *testing.M) { pgtest.Main(m, postgres.Migrate, localaws.Migrate) }

// The template's queues the saga sends to.
const (
	qNotification = "NotificationQueue"
	qShipping     = "ShippingQueue"
	qAnalytics    = "AnalyticsQueue"
	qManualReview = "ManualReviewQueue"
)

var postOrderQueues = []string{qNotification, qShipping, qAnalytics}

// ---------------------------------------------------------------------------
// Test helpers (kept in this file: other files of the package belong to
// other people).
// ---------------------------------------------------------------------------

// sagaClock is the executor's clock. Time stands still except when a
// wait is asked for: After(d) moves it forward by d and fires at once, so
// Retry intervals are honoured in the execution's time without sleeping,
// and every wait the interpreter takes goes through After (real time spent
// in a step never eats a wait up).
type sagaClock struct {
	mu    sync.Mutex
	now   time.Time
	waits []time.Duration
}

func newSagaClock() *sagaClock { return &sagaClock{now: time.Now().UTC()} }

func (c *sagaClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *sagaClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waits = append(c.waits, d)
	if d > 0 {
		c.now = c.now.Add(d)
	}
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

func (c *sagaClock) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

// sagaPoll polls cond every 20 ms (real time) for up to 30 s.
func sagaPoll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func sqsClient(endpoint string) *awssqs.Client {
	return awssqs.New(awssqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("x", "x", "")})
}

// sagaWorld is one scenario: its own database, Stripe fake, template
// (with its own stack name, hence its own queues on the shared moto) and
// executor.
type sagaWorld struct {
	t      *testing.T
	moto   string
	pool   *pgxpool.Pool
	fake   *stripefake.Fake
	core   *app.Core
	tpl    *sam.Template
	sqs    *awssqs.Client
	queues map[string]string // logical id → URL
	clock  *sagaClock
	smARN  string
	// hook, when set before the executor starts, sees every transition.
	hook func(sfn.Transition)
	// faults, when set before the executor starts, makes the steps' local
	// Lambda runtime fail (stack.LambdaFaults).
	faults *stack.LambdaFaults
}

func newSagaWorld(t *testing.T, moto string) *sagaWorld {
	t.Helper()
	ctx := context.Background()
	w := &sagaWorld{t: t, moto: moto, pool: pgtest.NewPool(t), fake: stripefake.StartTest(t),
		sqs: sqsClient(moto), queues: map[string]string{}, clock: newSagaClock()}
	gw := payment.NewStripe(payment.StripeConfig{SecretKey: stripefake.TestAPIKey, URL: w.fake.URL, Timeout: 5 * time.Second})
	w.core = app.NewCore(w.pool, gw, app.Config{Strategy: inventory.Conditional, ReservationTTL: time.Minute},
		slog.New(slog.DiscardHandler))
	if _, err := w.pool.Exec(ctx, `
		INSERT INTO products (sku, name, amount, currency) VALUES ('TEE-1', 'T-shirt', 1999, 'USD'), ('MUG-1', 'Mug', 1250, 'USD');
		INSERT INTO inventory (sku, on_hand) VALUES ('TEE-1', 5), ('MUG-1', 1)`); err != nil {
		t.Fatal(err)
	}
	base, err := sam.Load(filepath.Join("..", "..", "..", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	stackName := "saga" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	if w.tpl, err = base.Resolve(map[string]string{"AWS::StackName": stackName}); err != nil {
		t.Fatal(err)
	}
	for _, id := range w.tpl.QueueIDs() {
		out, err := w.sqs.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String(w.tpl.Queues[id].Name)})
		if err != nil {
			t.Fatalf("create queue %s: %v", id, err)
		}
		w.queues[id] = aws.ToString(out.QueueUrl)
	}
	for _, id := range append(postOrderQueues, qManualReview) {
		if w.queues[id] == "" {
			t.Fatalf("template has no queue %s", id)
		}
	}
	return w
}

func (w *sagaWorld) queueURL(id string) (string, error) {
	u, ok := w.queues[id]
	if !ok {
		return "", fmt.Errorf("no local queue %s", id)
	}
	return u, nil
}

// functionID is the logical id of the template function of a saga step.
func (w *sagaWorld) functionID(step saga.Step) string {
	w.t.Helper()
	fn, ok := w.tpl.FunctionByName(string(step))
	if !ok {
		w.t.Fatalf("no function for step %s", step)
	}
	return fn.LogicalID
}

// startExecutor builds an executor on the world's database, registers the
// saga through RegisterSaga, lets override replace functions, and starts it.
func (w *sagaWorld) startExecutor(override func(e *sfn.Executor, steps map[saga.Step]saga.Handler)) *sfn.Executor {
	w.t.Helper()
	e := sfn.New(w.pool, sfn.Options{SQSEndpoint: w.moto, Clock: w.clock, Random: func() float64 { return 0.5 },
		Logger: slog.New(slog.DiscardHandler), TokenPollInterval: 50 * time.Millisecond,
		OnTransition: func(tr sfn.Transition) {
			if w.hook != nil {
				w.hook(tr)
			}
		}})
	steps := w.core.Steps.Handlers()
	arn, err := stack.RegisterSaga(context.Background(), e, w.tpl, steps, w.queueURL, "", "", stack.WithLambdaFaults(w.faults))
	if err != nil {
		w.t.Fatal(err)
	}
	w.smARN = arn
	if override != nil {
		override(e, steps)
	}
	if err := e.Start(context.Background()); err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(e.Close)
	return e
}

func (w *sagaWorld) newCheckout(pm string, items ...checkout.Item) checkout.Checkout {
	w.t.Helper()
	c, _, err := w.core.Checkouts.CreateOrGet(context.Background(), "buyer-"+uuid.NewString(), uuid.NewString(), // a buyer each: no customer limit applies
		checkout.Request{Items: items, Currency: "USD", PaymentMethod: pm})
	if err != nil {
		w.t.Fatal(err)
	}
	return c
}

func stateInput(t *testing.T, c checkout.Checkout) string {
	t.Helper()
	b, err := json.Marshal(saga.StateFor(c))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// run starts the checkout's execution (named by the checkout id, input
// saga.StateFor) and returns its ARN.
func (w *sagaWorld) run(e *sfn.Executor, c checkout.Checkout) string {
	w.t.Helper()
	in := stateInput(w.t, c)
	out, err := e.StartExecution(context.Background(), sfn.StartExecutionInput{StateMachineArn: w.smARN, Name: c.ID.String(), Input: &in})
	if err != nil {
		w.t.Fatal(err)
	}
	return out.ExecutionArn
}

func (w *sagaWorld) waitDone(e *sfn.Executor, arn string) *sfn.Execution {
	w.t.Helper()
	var x *sfn.Execution
	sagaPoll(w.t, "execution "+arn, func() bool {
		var err error
		if x, err = e.DescribeExecution(context.Background(), arn); err != nil {
			w.t.Fatal(err)
		}
		return x.Status != "RUNNING"
	})
	return x
}

// waitSucceeded is waitDone that fails the test unless the execution succeeded.
func (w *sagaWorld) waitSucceeded(e *sfn.Executor, arn string) *sfn.Execution {
	w.t.Helper()
	x := w.waitDone(e, arn)
	if x.Status != "SUCCEEDED" {
		w.t.Fatalf("execution %s %s %s", x.Status, deref(x.Error), deref(x.Cause))
	}
	return x
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// failedTasks counts the execution's TaskFailed events with error name.
func failedTasks(t *testing.T, e *sfn.Executor, arn, errName string) int {
	t.Helper()
	evs, _, err := e.GetExecutionHistory(context.Background(), arn, 1000, false, "")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		var d struct{ Error string }
		if ev.Type == "TaskFailed" && json.Unmarshal(ev.Details, &d) == nil && d.Error == errName {
			n++
		}
	}
	return n
}

func (w *sagaWorld) level(sku string) (onHand, reserved int) {
	w.t.Helper()
	if err := w.pool.QueryRow(context.Background(), `SELECT on_hand, reserved FROM inventory_levels WHERE sku = $1`, sku).Scan(&onHand, &reserved); err != nil {
		w.t.Fatal(err)
	}
	return onHand, reserved
}

func (w *sagaWorld) wantLevel(sku string, onHand, reserved int) {
	w.t.Helper()
	if on, res := w.level(sku); on != onHand || res != reserved {
		w.t.Errorf("%s on_hand=%d reserved=%d; want %d, %d", sku, on, res, onHand, reserved)
	}
}

func (w *sagaWorld) wantCheckout(id uuid.UUID, status checkout.Status, code string) checkout.Checkout {
	w.t.Helper()
	c, err := w.core.Checkouts.Get(context.Background(), id)
	if err != nil {
		w.t.Fatal(err)
	}
	if c.Status != status || c.FailureCode != code {
		w.t.Errorf("checkout %s/%q (%s); want %s/%q", c.Status, c.FailureCode, c.FailureMessage, status, code)
	}
	return c
}

func (w *sagaWorld) count(query string, args ...any) int {
	w.t.Helper()
	var n int
	if err := w.pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		w.t.Fatal(err)
	}
	return n
}

// messages drains a queue: every message body with its attributes.
func (w *sagaWorld) messages(queueID string) []sqstypes.Message {
	w.t.Helper()
	ctx := context.Background()
	var all []sqstypes.Message
	for {
		out, err := w.sqs.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(w.queues[queueID]),
			MaxNumberOfMessages: 10, VisibilityTimeout: 300, MessageAttributeNames: []string{"All"}})
		if err != nil {
			w.t.Fatalf("receive from %s: %v", queueID, err)
		}
		if len(out.Messages) == 0 {
			return all
		}
		all = append(all, out.Messages...)
	}
}

func (w *sagaWorld) wantNoMessages(queueIDs ...string) {
	w.t.Helper()
	for _, q := range queueIDs {
		if msgs := w.messages(q); len(msgs) != 0 {
			w.t.Errorf("%s holds %d messages; want none: %s", q, len(msgs), aws.ToString(msgs[0].Body))
		}
	}
}

// wantOrderEvents checks that each post-order queue holds exactly one
// message, the order.created event of orderID, and that manual review is
// empty.
func (w *sagaWorld) wantOrderEvents(orderID string) {
	w.t.Helper()
	oid := uuid.MustParse(orderID)
	for _, q := range postOrderQueues {
		msgs := w.messages(q)
		if len(msgs) != 1 {
			w.t.Errorf("%s holds %d messages; want 1", q, len(msgs))
			continue
		}
		var ev events.OrderEvent
		if err := json.Unmarshal([]byte(aws.ToString(msgs[0].Body)), &ev); err != nil {
			w.t.Errorf("%s body %s: %v", q, aws.ToString(msgs[0].Body), err)
			continue
		}
		if ev.Order.OrderID != orderID || ev.EventID != events.EventID(oid, events.TypeOrderCreated) || ev.Type != events.TypeOrderCreated {
			w.t.Errorf("%s event %+v; want order %s event id %s", q, ev, orderID, events.EventID(oid, events.TypeOrderCreated))
		}
		if got := aws.ToString(msgs[0].MessageAttributes["event_type"].StringValue); got != events.TypeOrderCreated {
			w.t.Errorf("%s attribute event_type = %q", q, got)
		}
	}
	w.wantNoMessages(qManualReview)
}

func (w *sagaWorld) orderIDOf(checkoutID uuid.UUID) string {
	w.t.Helper()
	var id uuid.UUID
	if err := w.pool.QueryRow(context.Background(), `SELECT id FROM orders WHERE checkout_id = $1`, checkoutID).Scan(&id); err != nil {
		w.t.Fatalf("order of checkout %s: %v", checkoutID, err)
	}
	return id.String()
}

// blockAfter wraps a step: it runs the real step (its side effects happen),
// reports on reached, then holds the answer until ctx ends, as a Lambda
// whose process is killed before it could answer.
func blockAfter(h saga.Handler, reached chan<- string, calls *atomic.Int32) sfn.Handler {
	return func(ctx context.Context, payload json.RawMessage) (json.RawMessage, error) {
		calls.Add(1)
		_, err := h.Invoke(ctx, payload)
		select {
		case reached <- fmt.Sprintf("%s returned err=%v", h.Name(), err):
		default:
		}
		<-ctx.Done()
		return nil, ctx.Err()
	}
}

// counting wraps a step to count its invocations.
func counting(h saga.Handler, calls *atomic.Int32) sfn.Handler {
	return func(ctx context.Context, payload json.RawMessage) (json.RawMessage, error) {
		calls.Add(1)
		return h.Invoke(ctx, payload)
	}
}

// ---------------------------------------------------------------------------
// RegisterSaga itself.
// ---------------------------------------------------------------------------

func TestRegisterSagaRendersTheTemplate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	tpl, err := sam.Load(filepath.Join("..", "..", "..", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	core := app.NewCore(pool, payment.NewStripe(payment.StripeConfig{SecretKey: "sk_test_x", URL: "http://127.0.0.1:1"}),
		app.Config{Strategy: inventory.Conditional}, slog.New(slog.DiscardHandler))
	queues := func(id string) (string, error) { return "http://127.0.0.1:9/000000000000/" + id, nil }
	e := sfn.New(pool, sfn.Options{Logger: slog.New(slog.DiscardHandler)})

	t.Run("renders every substitution and registers under the stack name", func(t *testing.T) {
		arn, err := stack.RegisterSaga(ctx, e, tpl, core.Steps.Handlers(), queues, "eu-west-1", "111122223333")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(arn, ":stateMachine:checkout") {
			t.Errorf("arn %s; want the stack name checkout", arn)
		}
		sm, err := e.DescribeStateMachine(ctx, arn)
		if err != nil {
			t.Fatal(err)
		}
		if p := sam.Placeholders(sm.Definition); len(p) != 0 {
			t.Errorf("placeholders left: %v", p)
		}
		for _, want := range []string{
			`"arn:aws:lambda:eu-west-1:111122223333:function:ReserveStockFunction"`,
			`"arn:aws:lambda:eu-west-1:111122223333:function:ChargePaymentFunction"`,
			`"arn:aws:lambda:eu-west-1:111122223333:function:CreateOrderFunction"`,
			`"arn:aws:lambda:eu-west-1:111122223333:function:ReleaseStockFunction"`,
			`"arn:aws:lambda:eu-west-1:111122223333:function:RefundPaymentFunction"`,
			`"arn:aws:lambda:eu-west-1:111122223333:function:MarkOutcomeFunction"`,
			`"http://127.0.0.1:9/000000000000/ManualReviewQueue"`,
			`"http://127.0.0.1:9/000000000000/NotificationQueue"`,
		} {
			if !strings.Contains(sm.Definition, want) {
				t.Errorf("definition lacks %s", want)
			}
		}
	})

	t.Run("errors", func(t *testing.T) {
		noRefund := core.Steps.Handlers()
		delete(noRefund, saga.FnRefundPayment)
		cases := []struct {
			name     string
			handlers map[saga.Step]saga.Handler
			queues   func(string) (string, error)
			want     []string
		}{
			{"a step without a handler", noRefund, queues,
				[]string{"RefundPaymentFunction", "functions/refund-payment", "no in-process handler"}},
			{"no handlers at all", nil, queues, []string{"no in-process handler", "(none)"}},
			{"a queue without a URL", core.Steps.Handlers(),
				func(id string) (string, error) { return "", fmt.Errorf("queue %s not created", id) }, []string{"not created"}},
			{"an empty queue URL", core.Steps.Handlers(),
				func(string) (string, error) { return "", nil }, []string{"empty queue URL"}},
			{"no queue resolver", core.Steps.Handlers(), nil, []string{"no queue URL resolver"}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				_, err := stack.RegisterSaga(ctx, e, tpl, tc.handlers, tc.queues, "", "")
				if err == nil {
					t.Fatal("RegisterSaga succeeded")
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
			})
		}
		if _, err := stack.RegisterSaga(ctx, nil, tpl, nil, queues, "", ""); err == nil {
			t.Error("nil executor accepted")
		}
		missing, err := sam.Parse([]byte(`
Transform: AWS::Serverless-2016-10-31
Resources:
  Machine:
    Type: AWS::Serverless::StateMachine
    Properties:
      DefinitionUri: does/not/exist.asl.json
`))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := stack.RegisterSaga(ctx, e, missing, core.Steps.Handlers(), queues, "", ""); err == nil ||
			!strings.Contains(err.Error(), "does/not/exist.asl.json") {
			t.Errorf("missing definition file: %v", err)
		}
	})
}

// ---------------------------------------------------------------------------
// The saga end to end: real PostgreSQL, the real step handlers, the Stripe
// fake through stripe-go, moto's SQS, the durable executor.
// ---------------------------------------------------------------------------

func TestCheckoutSaga(t *testing.T) {
	moto := motoserver.Start(t)
	tee2 := checkout.Item{SKU: "TEE-1", Quantity: 2}

	t.Run("happy path", func(t *testing.T) {
		t.Parallel()
		w := newSagaWorld(t, moto)
		e := w.startExecutor(nil)
		c := w.newCheckout("pm_card_visa", tee2)
		x := w.waitSucceeded(e, w.run(e, c))
		w.wantCheckout(c.ID, checkout.StatusCompleted, "")
		if n := w.count(`SELECT count(*) FROM orders WHERE checkout_id = $1`, c.ID); n != 1 {
			t.Fatalf("%d orders; want 1", n)
		}
		orderID := w.orderIDOf(c.ID)
		var out saga.State
		if err := json.Unmarshal([]byte(deref(x.Output)), &out); err != nil || out.Order == nil || out.Order.OrderID != orderID {
			t.Errorf("output %s (%v); want order %s", deref(x.Output), err, orderID)
		}
		w.wantOrderEvents(orderID)
		w.wantLevel("TEE-1", 3, 0)
		if ch := w.fake.SuccessfulCharges(); len(ch) != 1 || ch[0].Amount != 2*1999 {
			t.Errorf("charges %+v; want one of 3998", ch)
		}
	})

	// Defect 2 of the money path: CreateOrder committed but its answers were
	// lost (the function timed out after its commit). Every lost answer is
	// retried, the re-run returns the same order, and the payment is kept.
	t.Run("create order's answers lost: retried, completed, nothing refunded", func(t *testing.T) {
		t.Parallel()
		w := newSagaWorld(t, moto)
		w.faults = &stack.LambdaFaults{LoseAnswers: map[string]int{string(saga.FnCreateOrder): 3}}
		e := w.startExecutor(nil)
		c := w.newCheckout("pm_card_visa", tee2)
		arn := w.run(e, c)
		w.waitSucceeded(e, arn)
		if n := failedTasks(t, e, arn, "Sandbox.Timedout"); n != 3 {
			t.Errorf("%d CreateOrder answers lost; want 3", n)
		}
		w.wantCheckout(c.ID, checkout.StatusCompleted, "")
		if n := w.count(`SELECT count(*) FROM orders WHERE checkout_id = $1`, c.ID); n != 1 {
			t.Fatalf("%d orders; want 1", n)
		}
		if len(w.fake.Refunds()) != 0 || len(w.fake.SuccessfulCharges()) != 1 {
			t.Errorf("refunds %+v charges %+v; want the one charge kept", w.fake.Refunds(), w.fake.SuccessfulCharges())
		}
		w.wantOrderEvents(w.orderIDOf(c.ID))
		w.wantNoMessages(qManualReview)
	})

	t.Run("out of stock", func(t *testing.T) {
		t.Parallel()
		w := newSagaWorld(t, moto)
		e := w.startExecutor(nil)
		c := w.newCheckout("pm_card_visa", checkout.Item{SKU: "MUG-1", Quantity: 2})
		w.waitSucceeded(e, w.run(e, c)) // CheckoutFailed is a Succeed state: the saga ran to its end
		w.wantCheckout(c.ID, checkout.StatusFailed, "out_of_stock")
		if reqs := w.fake.Requests(); len(reqs) != 0 {
			t.Errorf("the gateway got %d requests; want none (first: %+v)", len(reqs), reqs[0])
		}
		if n := w.count(`SELECT count(*) FROM payment_transactions`); n != 0 {
			t.Errorf("%d payment transactions; want none", n)
		}
		w.wantLevel("MUG-1", 1, 0)
		w.wantNoMessages(append(postOrderQueues, qManualReview)...)
	})

	t.Run("declined card releases the stock", func(t *testing.T) {
		t.Parallel()
		w := newSagaWorld(t, moto)
		e := w.startExecutor(nil)
		c := w.newCheckout("pm_card_chargeDeclined", tee2)
		w.waitSucceeded(e, w.run(e, c))
		w.wantCheckout(c.ID, checkout.StatusFailed, "payment_declined")
		w.wantLevel("TEE-1", 5, 0)
		if n := w.count(`SELECT count(*) FROM reservations WHERE checkout_id = $1 AND status = 'released' AND release_reason = 'compensation'`, c.ID); n != 1 {
			t.Errorf("%d reservations released by compensation; want 1", n)
		}
		if ch := w.fake.SuccessfulCharges(); len(ch) != 0 {
			t.Errorf("successful charges %+v; want none", ch)
		}
		if n := w.count(`SELECT count(*) FROM orders`); n != 0 {
			t.Errorf("%d orders; want none", n)
		}
		w.wantNoMessages(append(postOrderQueues, qManualReview)...)
	})

	// 3-D Secure that nobody completes: the wait times out (the virtual
	// clock makes any timeout immediate), the compensation cancels the
	// intent and the stock is released. Completing and failing the
	// authentication run on real time in TestStackThreeDSecure.
	t.Run("card needing authentication, never completed: authentication_timeout, intent canceled, stock released", func(t *testing.T) {
		t.Parallel()
		w := newSagaWorld(t, moto)
		e := w.startExecutor(nil)
		c := w.newCheckout("pm_card_authenticationRequired", tee2)
		arn := w.run(e, c)
		w.waitSucceeded(e, arn)
		w.wantCheckout(c.ID, checkout.StatusFailed, "authentication_timeout")
		w.wantLevel("TEE-1", 5, 0)
		if ch := w.fake.AuthorizedCharges(); len(ch) != 0 {
			t.Errorf("charges %+v; want none", ch)
		}
		// The compensation canceled the intent: the customer finishing
		// authentication later cannot move money.
		for _, pi := range w.fake.PaymentIntents() {
			if pi.Status != "canceled" {
				t.Errorf("PaymentIntent %s left in status %q; want canceled", pi.ID, pi.Status)
			}
		}
		w.wantNoMessages(append(postOrderQueues, qManualReview)...)
	})

	for _, tc := range []struct {
		faults      int // 500s on the confirm path
		stepRetries int // ChargePayment invocations that failed (the state machine retried)
	}{
		{faults: 2, stepRetries: 0}, // absorbed by the payment package's retries inside the step
		{faults: 5, stepRetries: 1}, // more than the step's 4 tries: the state machine's Retry runs it again
	} {
		t.Run(fmt.Sprintf("gateway 500 %d times then success", tc.faults), func(t *testing.T) {
			t.Parallel()
			w := newSagaWorld(t, moto)
			if err := w.fake.InjectFault(stripefake.Fault{Kind: stripefake.Status500, Match: "POST /v1/payment_intents/*/confirm", Times: tc.faults}); err != nil {
				t.Fatal(err)
			}
			e := w.startExecutor(nil)
			c := w.newCheckout("pm_card_visa", tee2)
			arn := w.run(e, c)
			w.waitSucceeded(e, arn)
			w.wantCheckout(c.ID, checkout.StatusCompleted, "")
			var failed, ok int
			for _, r := range w.fake.Requests() {
				if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/confirm") {
					switch r.Status {
					case http.StatusInternalServerError:
						failed++
					case http.StatusOK:
						ok++
					}
				}
			}
			if failed != tc.faults || ok != 1 {
				t.Errorf("confirm requests: %d answered 500, %d answered 200; want %d and 1", failed, ok, tc.faults)
			}
			if n := failedTasks(t, e, arn, "PaymentGatewayUnavailable"); n != tc.stepRetries {
				t.Errorf("%d ChargePayment attempts failed with PaymentGatewayUnavailable; want %d", n, tc.stepRetries)
			}
			if waits := w.clock.Waits(); len(waits) != tc.stepRetries {
				t.Errorf("the executor waited %v; want one Retry wait per failed attempt (%d)", waits, tc.stepRetries)
			} else if tc.stepRetries > 0 && waits[0] != 2*time.Second {
				t.Errorf("Retry wait %v; want the first interval, 2 s (no jitter: the retries must outlast the breaker's cooldown)", waits[0])
			}
			if ch := w.fake.SuccessfulCharges(); len(ch) != 1 || len(w.fake.PaymentIntents()) != 1 {
				t.Errorf("%d successful charges, %d intents; want 1 and 1", len(ch), len(w.fake.PaymentIntents()))
			}
			if n := w.count(`SELECT count(*) FROM orders WHERE checkout_id = $1`, c.ID); n != 1 {
				t.Errorf("%d orders; want 1", n)
			}
			w.wantOrderEvents(w.orderIDOf(c.ID))
			w.wantLevel("TEE-1", 3, 0)
		})
	}

	// expireBeforeCreateOrder makes the reservation run out right when the
	// execution enters CreateOrder (OnTransition runs before the next step).
	expireBeforeCreateOrder := func(w *sagaWorld, id uuid.UUID) {
		w.hook = func(tr sfn.Transition) {
			if tr.To != "CreateOrder" {
				return
			}
			if _, err := w.pool.Exec(context.Background(),
				`UPDATE reservations SET expires_at = now() - interval '1 second' WHERE checkout_id = $1`, id); err != nil {
				w.t.Errorf("expire reservation: %v", err)
			}
		}
	}

	t.Run("create order fails: the authorization is voided, then the stock released", func(t *testing.T) {
		t.Parallel()
		w := newSagaWorld(t, moto)
		c := w.newCheckout("pm_card_visa", tee2)
		expireBeforeCreateOrder(w, c.ID)
		e := w.startExecutor(nil)
		arn := w.run(e, c)
		x := w.waitSucceeded(e, arn)
		if n := failedTasks(t, e, arn, "ReservationExpired"); n != 1 {
			t.Errorf("%d CreateOrder failures with ReservationExpired; want 1", n)
		}
		w.wantCheckout(c.ID, checkout.StatusFailed, "reservation_expired")
		// The money was only authorized: the order's failure cancels the
		// authorization, and nothing is refunded.
		if held, refunds := w.fake.AuthorizedCharges(), w.fake.Refunds(); len(held) != 0 || len(refunds) != 0 {
			t.Errorf("charges holding money %+v, refunds %+v; want none and none", held, refunds)
		}
		for _, pi := range w.fake.PaymentIntents() {
			if pi.Status != "canceled" {
				t.Errorf("PaymentIntent %s is %s; want canceled", pi.ID, pi.Status)
			}
		}
		var out saga.State
		if err := json.Unmarshal([]byte(deref(x.Output)), &out); err != nil || out.Refund == nil || out.Refund.Refunded ||
			out.Refund.Action != "voided" || out.Release == nil || !out.Release.Released {
			t.Errorf("output %s (%v); want the void then the release recorded", deref(x.Output), err)
		}
		w.wantLevel("TEE-1", 5, 0)
		if n := w.count(`SELECT count(*) FROM orders`); n != 0 {
			t.Errorf("%d orders; want none", n)
		}
		w.wantNoMessages(append(postOrderQueues, qManualReview)...)
	})

	t.Run("void fails for good: manual review", func(t *testing.T) {
		t.Parallel()
		w := newSagaWorld(t, moto)
		c := w.newCheckout("pm_card_visa", tee2)
		expireBeforeCreateOrder(w, c.ID)
		if err := w.fake.InjectFault(stripefake.Fault{Kind: stripefake.Status500, Match: "POST /v1/payment_intents/*/cancel", Times: 1000}); err != nil {
			t.Fatal(err)
		}
		e := w.startExecutor(nil)
		arn := w.run(e, c)
		x := w.waitDone(e, arn)
		if x.Status != "FAILED" || deref(x.Error) != "CheckoutNeedsReview" {
			t.Fatalf("execution %s %s %s; want FAILED CheckoutNeedsReview", x.Status, deref(x.Error), deref(x.Cause))
		}
		// RefundPayment: the first try and MaxAttempts 4 retries, all failed.
		// A 5xx on a cancel leaves its outcome unknown (Stripe may have
		// canceled and replays the 5xx for the key); the intent showed it
		// still authorized each time.
		if n := failedTasks(t, e, arn, "PaymentOutcomeUnknown"); n != 5 {
			t.Errorf("%d RefundPayment failures; want 5", n)
		}
		w.wantCheckout(c.ID, checkout.StatusNeedsReview, "compensation_failed")
		if len(w.fake.Refunds()) != 0 || len(w.fake.AuthorizedCharges()) != 1 || len(w.fake.SuccessfulCharges()) != 0 {
			t.Errorf("refunds %+v charges %+v; want the one authorization neither captured nor refunded", w.fake.Refunds(), w.fake.AuthorizedCharges())
		}
		msgs := w.messages(qManualReview)
		if len(msgs) != 1 {
			t.Fatalf("manual review holds %d messages; want 1", len(msgs))
		}
		var body struct {
			Type        string     `json:"type"`
			CheckoutID  string     `json:"checkout_id"`
			ExecutionID string     `json:"execution_id"`
			FailedState string     `json:"failed_state"`
			State       saga.State `json:"state"`
		}
		if err := json.Unmarshal([]byte(aws.ToString(msgs[0].Body)), &body); err != nil {
			t.Fatalf("body %s: %v", aws.ToString(msgs[0].Body), err)
		}
		if body.Type != "compensation_failed" || body.CheckoutID != c.ID.String() || body.ExecutionID != arn ||
			body.State.CheckoutID != c.ID.String() || body.State.Payment == nil || body.State.Payment.IntentID == "" ||
			body.State.CompensationError == nil || body.State.CompensationError.Error != "PaymentOutcomeUnknown" ||
			body.State.Error == nil || body.State.Error.Error != "ReservationExpired" {
			t.Errorf("manual review message %s", aws.ToString(msgs[0].Body))
		}
		if body.FailedState != "RefundPayment" {
			t.Errorf("manual review failed_state = %q; want RefundPayment", body.FailedState)
		}
		// The compensation claimed the checkout, so no order can take the
		// units: they are released before the person looks at the money.
		w.wantLevel("TEE-1", 5, 0)
		w.wantNoMessages(postOrderQueues...)
	})

	for _, step := range []saga.Step{saga.FnChargePayment, saga.FnCreateOrder} {
		t.Run("executor killed after "+string(step)+" ran, a new one resumes", func(t *testing.T) {
			t.Parallel()
			w := newSagaWorld(t, moto)
			reached := make(chan string, 1)
			var firstCalls, secondCalls atomic.Int32
			first := w.startExecutor(func(e *sfn.Executor, steps map[saga.Step]saga.Handler) {
				e.RegisterFunction(w.functionID(step), blockAfter(steps[step], reached, &firstCalls))
			})
			c := w.newCheckout("pm_card_visa", tee2)
			arn := w.run(first, c)
			select {
			case what := <-reached:
				t.Log(what)
			case <-time.After(30 * time.Second):
				t.Fatalf("%s never ran", step)
			}
			first.Close() // the process dies with the step's answer lost
			x, err := first.DescribeExecution(context.Background(), arn)
			if err != nil || x.Status != "RUNNING" {
				t.Fatalf("after the kill: %+v %v; want RUNNING", x, err)
			}

			second := w.startExecutor(func(e *sfn.Executor, steps map[saga.Step]saga.Handler) {
				e.RegisterFunction(w.functionID(step), counting(steps[step], &secondCalls))
			})
			w.waitSucceeded(second, arn)
			if firstCalls.Load() != 1 || secondCalls.Load() != 1 {
				t.Errorf("%s ran %d + %d times; want once per executor (the re-run)", step, firstCalls.Load(), secondCalls.Load())
			}
			// The step ran twice; its side effects happened once.
			w.wantCheckout(c.ID, checkout.StatusCompleted, "")
			if ch, pis := w.fake.SuccessfulCharges(), w.fake.PaymentIntents(); len(ch) != 1 || len(pis) != 1 {
				t.Errorf("%d charges, %d PaymentIntents; want 1 and 1", len(ch), len(pis))
			}
			if n := w.count(`SELECT count(*) FROM orders`); n != 1 {
				t.Errorf("%d orders; want 1", n)
			}
			if n := w.count(`SELECT count(*) FROM audit_log WHERE action = 'commit' AND sku = 'TEE-1'`); n != 1 {
				t.Errorf("%d stock commits; want 1", n)
			}
			w.wantLevel("TEE-1", 3, 0)
			w.wantOrderEvents(w.orderIDOf(c.ID))
		})
	}

	t.Run("AWS CLI and SDK drive the executor's API", func(t *testing.T) {
		t.Parallel()
		w := newSagaWorld(t, moto)
		e := w.startExecutor(nil)
		srv := httptest.NewServer(e.Handler())
		t.Cleanup(srv.Close)
		ctx := context.Background()

		t.Run("aws-sdk-go-v2", func(t *testing.T) {
			c := w.newCheckout("pm_card_visa", checkout.Item{SKU: "TEE-1", Quantity: 1})
			client := awssfn.New(awssfn.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
				Credentials: credentials.NewStaticCredentialsProvider("x", "x", "")})
			in := stateInput(t, c)
			started, err := client.StartExecution(ctx, &awssfn.StartExecutionInput{StateMachineArn: aws.String(w.smARN),
				Name: aws.String(c.ID.String()), Input: aws.String(in)})
			if err != nil {
				t.Fatal(err)
			}
			var d *awssfn.DescribeExecutionOutput
			sagaPoll(t, "SDK execution", func() bool {
				if d, err = client.DescribeExecution(ctx, &awssfn.DescribeExecutionInput{ExecutionArn: started.ExecutionArn}); err != nil {
					t.Fatal(err)
				}
				return d.Status != "RUNNING"
			})
			if d.Status != "SUCCEEDED" || aws.ToString(d.Name) != c.ID.String() || aws.ToString(d.Input) != in ||
				!strings.Contains(aws.ToString(d.Output), w.orderIDOf(c.ID)) {
				t.Errorf("describe: %s %s output %s", d.Status, aws.ToString(d.Name), aws.ToString(d.Output))
			}
			w.wantCheckout(c.ID, checkout.StatusCompleted, "")
			// The checkout id names the execution: starting it again with
			// another input is refused, so a checkout runs one saga.
			_, err = client.StartExecution(ctx, &awssfn.StartExecutionInput{StateMachineArn: aws.String(w.smARN),
				Name: aws.String(c.ID.String()), Input: aws.String(`{}`)})
			if err == nil || !strings.Contains(err.Error(), "ExecutionAlreadyExists") {
				t.Errorf("second start: %v; want ExecutionAlreadyExists", err)
			}
		})

		t.Run("aws cli", func(t *testing.T) {
			bin, err := exec.LookPath("aws")
			if err != nil {
				if os.Getenv("CI") != "" {
					t.Fatal("aws CLI is not installed (required in CI)")
				}
				t.Skip("aws CLI not installed")
			}
			home := t.TempDir()
			cli := func(args ...string) map[string]any {
				t.Helper()
				cmd := exec.Command(bin, append([]string{"--endpoint-url", srv.URL, "--output", "json", "stepfunctions"}, args...)...)
				cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=x", "AWS_SECRET_ACCESS_KEY=x", "AWS_DEFAULT_REGION=us-east-1",
					"AWS_CONFIG_FILE="+filepath.Join(home, "config"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, "credentials"),
					"HOME="+home)
				out, err := cmd.Output()
				if err != nil {
					var ee *exec.ExitError
					if errors.As(err, &ee) {
						t.Fatalf("aws %v: %v\n%s", args, err, ee.Stderr)
					}
					t.Fatalf("aws %v: %v", args, err)
				}
				var m map[string]any
				if err := json.Unmarshal(out, &m); err != nil {
					t.Fatalf("aws %v printed %s: %v", args, out, err)
				}
				return m
			}
			c := w.newCheckout("pm_card_visa", checkout.Item{SKU: "TEE-1", Quantity: 1})
			in := stateInput(t, c)
			started := cli("start-execution", "--state-machine-arn", w.smARN, "--name", c.ID.String(), "--input", in)
			arn, _ := started["executionArn"].(string)
			if !strings.HasSuffix(arn, ":"+c.ID.String()) {
				t.Fatalf("start-execution printed %v", started)
			}
			w.waitDone(e, arn)
			d := cli("describe-execution", "--execution-arn", arn)
			if d["status"] != "SUCCEEDED" || d["name"] != c.ID.String() || d["stateMachineArn"] != w.smARN ||
				!strings.Contains(fmt.Sprint(d["output"]), w.orderIDOf(c.ID)) {
				t.Errorf("describe-execution printed %v", d)
			}
			w.wantCheckout(c.ID, checkout.StatusCompleted, "")
		})
	})
}
