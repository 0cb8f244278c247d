package lambdatest

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/app"
	"github.com/checkout-dev/checkout/internal/checkout"
	"github.com/checkout-dev/checkout/internal/events/eventstest"
	"github.com/checkout-dev/checkout/internal/inventory"
	"github.com/checkout-dev/checkout/internal/local/devdb"
	"github.com/checkout-dev/checkout/internal/saga"
	"github.com/checkout-dev/checkout/internal/stripefake"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

// Values the sample events were made with (events/README.md).
const (
	sagaCheckoutID = "5b0c1c2e-3f4a-4b5c-8d6e-7f8091a2b3c4"
	devJWTSecret   = "local-dev-jwt-secret-change-me"
	devWebhookKey  = "whsec_local_dev_webhook_secret"
	stripeKey      = "sk_test_x"
)

// fixture is what one function's run gets: a fresh migrated database
// seeded with the demo catalog, a Stripe fake on 127.0.0.1 and a scratch
// directory (also the function's HOME).
type fixture struct {
	root   string
	dsn    string
	pool   *pgxpool.Pool
	stripe *stripefake.Fake
	dir    string
	sqs    *eventstest.Target // started by queue
	t      *testing.T
}

// queue starts (once) a local SQS server on the fixture's database and
// creates queue name; it returns the server's endpoint and the queue URL.
func (fx *fixture) queue(t *testing.T, name string) (endpoint, url string) {
	t.Helper()
	if fx.sqs == nil {
		tg := eventstest.Local(t, fx.pool)
		fx.sqs = &tg
	}
	out, err := fx.sqs.Client.CreateQueue(context.Background(), &awssqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return fx.sqs.Endpoint, aws.ToString(out.QueueUrl)
}

// received drains queue url and returns the message bodies.
func (fx *fixture) received(t *testing.T, url string) []string {
	t.Helper()
	var out []string
	for {
		res, err := fx.sqs.Client.ReceiveMessage(context.Background(), &awssqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Messages) == 0 {
			return out
		}
		for _, m := range res.Messages {
			out = append(out, aws.ToString(m.Body))
			if _, err := fx.sqs.Client.DeleteMessage(context.Background(), &awssqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func newFixture(t *testing.T, root string) *fixture {
	t.Helper()
	ctx := context.Background()
	fx := &fixture{root: root, dsn: pgtest.NewDB(t), stripe: stripefake.StartTest(t), dir: t.TempDir(), t: t}
	pool, err := pgxpool.New(ctx, fx.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	fx.pool = pool
	if err := devdb.SeedDemo(ctx, pool); err != nil {
		t.Fatalf("seed the demo catalog: %v", err)
	}
	return fx
}

// env is the whole environment of RIE and so of the function: the local
// configuration every function reads, plus extra (which wins). Nothing is
// inherited from the test's environment but PATH and TMPDIR, and every AWS
// SDK endpoint is a closed loopback port, so no function can reach AWS.
func (fx *fixture) env(name string, extra map[string]string) []string {
	vars := map[string]string{
		"PATH":                        os.Getenv("PATH"),
		"TMPDIR":                      os.TempDir(),
		"HOME":                        fx.dir,
		"DATABASE_URL":                fx.dsn,
		"STRIPE_SECRET_KEY":           stripeKey,
		"STRIPE_API_URL":              fx.stripe.URL,
		"CHECKOUT_JWT_SECRET":         devJWTSecret,
		"INVENTORY_STRATEGY":          string(inventory.Conditional),
		"RESERVATION_TTL":             "15m",
		"AWS_REGION":                  "us-east-1",
		"AWS_ACCESS_KEY_ID":           "lambdatest",
		"AWS_SECRET_ACCESS_KEY":       "lambdatest",
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_ENDPOINT_URL":            "http://127.0.0.1:1",
		"AWS_LAMBDA_FUNCTION_NAME":    name,
		"AWS_LAMBDA_FUNCTION_TIMEOUT": "30",
	}
	for k, v := range extra {
		vars[k] = v
	}
	out := make([]string, 0, len(vars))
	for k, v := range vars {
		out = append(out, k+"="+v)
	}
	return out
}

// event reads events/<file>.
func (fx *fixture) event(t *testing.T, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fx.root, "events", file))
	if err != nil {
		t.Fatalf("read sample event: %v", err)
	}
	return b
}

// sagaState is the cart of the saga samples (events/reserve-stock.json).
func (fx *fixture) sagaState(t *testing.T) saga.State {
	t.Helper()
	var st saga.State
	if err := json.Unmarshal(fx.event(t, "reserve-stock.json"), &st); err != nil {
		t.Fatalf("decode events/reserve-stock.json: %v", err)
	}
	if st.CheckoutID != sagaCheckoutID {
		t.Fatalf("events/reserve-stock.json: checkout_id %s, want %s", st.CheckoutID, sagaCheckoutID)
	}
	return st
}

// insertSagaCheckout records the checkout the saga samples refer to, with
// their fixed id, priced from the demo catalog exactly as checkout.Store
// would record it (status pending).
func (fx *fixture) insertSagaCheckout(t *testing.T) saga.State {
	t.Helper()
	return fx.insertCheckout(t, fx.sagaState(t))
}

// insertCheckout records the checkout of saga state st (see
// insertSagaCheckout).
func (fx *fixture) insertCheckout(t *testing.T, st saga.State) saga.State {
	t.Helper()
	ctx := context.Background()
	req := checkout.Request{Items: st.Items, Currency: st.Currency, PaymentMethod: st.PaymentMethod}
	tx, err := fx.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	var total int64
	prices := make([]int64, len(st.Items))
	for i, it := range st.Items {
		if err := tx.QueryRow(ctx, `SELECT amount FROM products WHERE sku = $1`, it.SKU).Scan(&prices[i]); err != nil {
			t.Fatalf("price %s from the demo catalog: %v", it.SKU, err)
		}
		total += prices[i] * int64(it.Quantity)
	}
	if total != st.Amount {
		t.Fatalf("the saga samples say amount %d but the demo catalog prices the cart at %d", st.Amount, total)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO checkouts (id, user_id, idempotency_key, request_fingerprint, amount, currency, payment_method)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, st.CheckoutID, st.UserID, "lambdatest-"+st.CheckoutID,
		checkout.Fingerprint(req), st.Amount, st.Currency, st.PaymentMethod); err != nil {
		t.Fatalf("insert checkout: %v", err)
	}
	for i, it := range st.Items {
		if _, err := tx.Exec(ctx, `INSERT INTO checkout_items (checkout_id, sku, quantity, unit_amount) VALUES ($1, $2, $3, $4)`,
			st.CheckoutID, it.SKU, it.Quantity, prices[i]); err != nil {
			t.Fatalf("insert checkout item: %v", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

// core wires the checkout core in-process on the fixture's database and
// Stripe fake, with the configuration the binaries get: it runs the saga
// steps that come before the one under test.
func (fx *fixture) core(t *testing.T) *app.Core {
	t.Helper()
	cfg := app.Config{DatabaseURL: fx.dsn, StripeSecretKey: stripeKey, StripeAPIURL: fx.stripe.URL,
		Strategy: inventory.Conditional, ReservationTTL: 15 * time.Minute, MaxDBConnections: 4}
	c, err := app.OpenCore(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Pool.Close)
	return c
}

// sagaUpTo records the saga checkout and runs the forward steps named, in
// order, in-process: the rows the step under test expects.
func (fx *fixture) sagaUpTo(t *testing.T, steps ...saga.Step) saga.State {
	t.Helper()
	st := fx.insertSagaCheckout(t)
	if len(steps) == 0 {
		return st
	}
	c := fx.core(t)
	ctx := context.Background()
	for _, s := range steps {
		var err error
		switch s {
		case saga.FnReserveStock:
			st, err = c.Steps.ReserveStock(ctx, st)
		case saga.FnChargePayment:
			st, err = c.Steps.ChargePayment(ctx, st)
		case saga.FnCreateOrder:
			st, err = c.Steps.CreateOrder(ctx, st)
		case saga.FnCapturePayment:
			st, err = c.Steps.CapturePayment(ctx, st)
		default:
			t.Fatalf("sagaUpTo: unsupported step %s", s)
		}
		if err != nil {
			t.Fatalf("prepare: in-process %s: %v", s, err)
		}
	}
	return st
}

// expiredReservation records the saga checkout and reserves its stock with
// a clock an hour behind, so the hold expired 45 minutes ago.
func (fx *fixture) expiredReservation(t *testing.T) {
	t.Helper()
	st := fx.insertSagaCheckout(t)
	past := time.Now().Add(-time.Hour)
	inv := inventory.New(fx.pool, inventory.Options{Strategy: inventory.Conditional, Now: func() time.Time { return past }})
	lines := make([]inventory.Line, len(st.Items))
	for i, it := range st.Items {
		lines[i] = inventory.Line{SKU: it.SKU, Quantity: it.Quantity}
	}
	if _, err := inv.Reserve(context.Background(), uuid.MustParse(st.CheckoutID), lines, past.Add(15*time.Minute)); err != nil {
		t.Fatalf("prepare: reserve with a past clock: %v", err)
	}
}

// queryOne scans one row of sql into dest, failing the test on error.
func (fx *fixture) queryOne(t *testing.T, sql string, args []any, dest ...any) {
	t.Helper()
	if err := fx.pool.QueryRow(context.Background(), sql, args...).Scan(dest...); err != nil {
		t.Fatalf("query %q: %v", sql, err)
	}
}
