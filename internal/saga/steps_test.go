package saga_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/checkout-dev/checkout/localaws"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/app"
	"github.com/checkout-dev/checkout/internal/checkout"
	"github.com/checkout-dev/checkout/internal/inventory"
	"github.com/checkout-dev/checkout/internal/payment"
	"github.com/checkout-dev/checkout/internal/postgres"
	"github.com/checkout-dev/checkout/internal/saga"
	"github.com/checkout-dev/checkout/internal/stripefake"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m, postgres.Migrate, localaws.Migrate) }

type world struct {
	pool *pgxpool.Pool
	fake *stripefake.Fake
	core *app.Core
	now  time.Time
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{pool: pgtest.NewPool(t), fake: stripefake.New(stripefake.Options{}), now: time.Now()}
	srv := httptest.NewServer(w.fake)
	t.Cleanup(srv.Close)
	gw := payment.NewStripe(payment.StripeConfig{SecretKey: "sk_test_saga", URL: srv.URL, Timeout: 2 * time.Second})
	w.core = app.NewCore(w.pool, gw, app.Config{Strategy: inventory.Conditional, ReservationTTL: time.Minute}, nil)
	if _, err := w.pool.Exec(context.Background(), `
		INSERT INTO products (sku, name, amount, currency) VALUES ('TEE-1', 'T-shirt', 1999, 'USD'), ('MUG-1', 'Mug', 1250, 'USD');
		INSERT INTO inventory (sku, on_hand) VALUES ('TEE-1', 5), ('MUG-1', 1)`); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) start(t *testing.T, pm string, items ...checkout.Item) saga.State {
	t.Helper()
	c, _, err := w.core.Checkouts.CreateOrGet(context.Background(), "buyer-"+uuid.NewString(), uuid.NewString(), // a buyer each: no customer limit applies
		checkout.Request{Items: items, Currency: "USD", PaymentMethod: pm})
	if err != nil {
		t.Fatal(err)
	}
	return saga.StateFor(c)
}

// invoke runs a step the way Lambda and the local executor do: JSON bytes in
// and out through the step's Handler.
func (w *world) invoke(t *testing.T, step saga.Step, in any) (saga.State, error) {
	t.Helper()
	payload, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := w.core.Steps.Handler(step).Invoke(context.Background(), payload)
	var st saga.State
	if err == nil {
		if uerr := json.Unmarshal(out, &st); uerr != nil {
			t.Fatalf("%s returned bad JSON %s: %v", step, out, uerr)
		}
	}
	return st, err
}

func (w *world) level(t *testing.T, sku string) (onHand, reserved int) {
	t.Helper()
	if err := w.pool.QueryRow(context.Background(), `SELECT on_hand, reserved FROM inventory_levels WHERE sku = $1`, sku).Scan(&onHand, &reserved); err != nil {
		t.Fatal(err)
	}
	return onHand, reserved
}

func (w *world) status(t *testing.T, st saga.State) (status checkout.Status, code string) {
	t.Helper()
	c, err := w.core.Checkouts.Get(context.Background(), uuid.MustParse(st.CheckoutID))
	if err != nil {
		t.Fatal(err)
	}
	return c.Status, c.FailureCode
}

func errorName(err error) string {
	if err == nil {
		return ""
	}
	ty := reflect.TypeOf(err)
	if ty.Kind() == reflect.Pointer {
		ty = ty.Elem()
	}
	return ty.Name()
}

func TestHappyPathThroughEveryForwardStep(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	st := w.start(t, "pm_card_visa", checkout.Item{SKU: "TEE-1", Quantity: 2}, checkout.Item{SKU: "MUG-1", Quantity: 1})
	// Each step runs twice, as an at-least-once executor may run it after a
	// crash: the second run returns the same result and changes nothing.
	for _, step := range []saga.Step{saga.FnReserveStock, saga.FnChargePayment, saga.FnCreateOrder, saga.FnCapturePayment} {
		first, err := w.invoke(t, step, st)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		second, err := w.invoke(t, step, st)
		if err != nil || !reflect.DeepEqual(first, second) {
			t.Fatalf("re-run %s: %+v, %v; want %+v", step, second, err, first)
		}
		st = first
	}
	if st.Reservation == nil || st.Payment == nil || st.Payment.Status != "authorized" || st.Order == nil || st.Event == nil ||
		st.Capture == nil || st.Capture.Status != "succeeded" {
		t.Fatalf("state lacks a step's result: %+v", st)
	}
	if st.Event.Order.Amount != 2*1999+1250 || len(st.Event.Order.Items) != 2 || st.Event.EventID == "" {
		t.Fatalf("order event = %+v", st.Event)
	}
	if s, _ := w.status(t, st); s != checkout.StatusCompleted {
		t.Fatalf("checkout status %s; want completed", s)
	}
	if on, res := w.level(t, "TEE-1"); on != 3 || res != 0 {
		t.Fatalf("TEE-1 on_hand=%d reserved=%d; want 3, 0", on, res)
	}
	if n := len(w.fake.SuccessfulCharges()); n != 1 {
		t.Fatalf("%d charges; want 1", n)
	}
}

func TestOutOfStockFailsWithNothingToCompensate(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	st := w.start(t, "pm_card_visa", checkout.Item{SKU: "MUG-1", Quantity: 2})
	_, err := w.invoke(t, saga.FnReserveStock, st)
	if errorName(err) != "OutOfStock" {
		t.Fatalf("err = %v (%s); want OutOfStock", err, errorName(err))
	}
	if _, err := w.invoke(t, saga.FnMarkOutcome, saga.Outcome{CheckoutID: st.CheckoutID, Status: "failed",
		Error: &saga.StepError{Error: "OutOfStock", Cause: `{"errorMessage":"` + err.Error() + `","errorType":"OutOfStock"}`}}); err != nil {
		t.Fatal(err)
	}
	if s, code := w.status(t, st); s != "failed" || code != "out_of_stock" {
		t.Fatalf("status %s/%s; want failed/out_of_stock", s, code)
	}
}

func TestDeclinedPaymentReleasesStock(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	st := w.start(t, "pm_card_chargeDeclined", checkout.Item{SKU: "TEE-1", Quantity: 2})
	st, err := w.invoke(t, saga.FnReserveStock, st)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.invoke(t, saga.FnChargePayment, st); errorName(err) != "PaymentDeclined" {
		t.Fatalf("charge: %v (%s); want PaymentDeclined", err, errorName(err))
	}
	for i := 0; i < 2; i++ { // compensation twice: stock back exactly once
		out, err := w.invoke(t, saga.FnReleaseStock, st)
		if err != nil || out.Release == nil || out.Release.Released != (i == 0) {
			t.Fatalf("release %d: %+v %v", i, out.Release, err)
		}
	}
	if on, res := w.level(t, "TEE-1"); on != 5 || res != 0 {
		t.Fatalf("TEE-1 on_hand=%d reserved=%d; want 5, 0", on, res)
	}
}

func TestCreateOrderFailureVoidsTheAuthorizationThenReleases(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	st := w.start(t, "pm_card_visa", checkout.Item{SKU: "TEE-1", Quantity: 1})
	st, err := w.invoke(t, saga.FnReserveStock, st)
	if err != nil {
		t.Fatal(err)
	}
	if st, err = w.invoke(t, saga.FnChargePayment, st); err != nil {
		t.Fatal(err)
	}
	// The reservation runs out before the order is made.
	if _, err := w.pool.Exec(context.Background(), `UPDATE reservations SET expires_at = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	if _, err := w.invoke(t, saga.FnCreateOrder, st); errorName(err) != "ReservationExpired" {
		t.Fatalf("create order: %v (%s); want ReservationExpired", err, errorName(err))
	}
	for i := 0; i < 2; i++ {
		out, err := w.invoke(t, saga.FnRefundPayment, st)
		if err != nil || out.Refund == nil || out.Refund.Refunded || out.Refund.Action != payment.ReversalVoided {
			t.Fatalf("compensation %d: %+v %v; want the authorization voided", i, out.Refund, err)
		}
		if _, err := w.invoke(t, saga.FnReleaseStock, st); err != nil {
			t.Fatalf("release %d: %v", i, err)
		}
	}
	// Before the capture no money moved: the authorization is canceled and
	// nothing is refunded.
	if n := len(w.fake.Refunds()); n != 0 {
		t.Fatalf("%d refunds; want 0", n)
	}
	if pi, _ := w.fake.PaymentIntent(st.Payment.IntentID); pi.Status != "canceled" {
		t.Fatalf("intent %s; want canceled", pi.Status)
	}
	if n := len(w.fake.SuccessfulCharges()); n != 0 {
		t.Fatalf("%d captured charges; want 0", n)
	}
	if on, res := w.level(t, "TEE-1"); on != 5 || res != 0 {
		t.Fatalf("TEE-1 on_hand=%d reserved=%d; want 5, 0", on, res)
	}
}

func TestCompensationsAreSafeWhenForwardStepsNeverRan(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	st := w.start(t, "pm_card_visa", checkout.Item{SKU: "TEE-1", Quantity: 1})
	for _, step := range []saga.Step{saga.FnRefundPayment, saga.FnReleaseStock} {
		if _, err := w.invoke(t, step, st); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	if len(w.fake.Requests()) != 0 {
		t.Fatal("a compensation called the gateway although nothing was charged")
	}
}

func TestBadInputToEveryHandler(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	good := w.start(t, "pm_card_visa", checkout.Item{SKU: "TEE-1", Quantity: 1})
	mutate := func(f func(*saga.State)) saga.State {
		st := good
		st.Items = append([]checkout.Item(nil), good.Items...)
		f(&st)
		return st
	}
	many := make([]checkout.Item, checkout.MaxLines+1)
	for i := range many {
		many[i] = checkout.Item{SKU: "S" + strings.Repeat("x", i%5) + string(rune('a'+i%26)), Quantity: 1}
	}
	cases := []struct {
		name  string
		in    any
		field string
	}{
		{"zero quantity", mutate(func(s *saga.State) { s.Items[0].Quantity = 0 }), "items[0].quantity"},
		{"negative quantity", mutate(func(s *saga.State) { s.Items[0].Quantity = -1 }), "items[0].quantity"},
		{"huge quantity", mutate(func(s *saga.State) { s.Items[0].Quantity = 1 << 40 }), "items[0].quantity"},
		{"unknown sku", mutate(func(s *saga.State) { s.Items[0].SKU = "NOPE-1" }), "items"},
		{"empty cart", mutate(func(s *saga.State) { s.Items = nil }), "items"},
		{"more than 100 lines", mutate(func(s *saga.State) { s.Items = many }), "items"},
		{"duplicate sku", mutate(func(s *saga.State) { s.Items = append(s.Items, s.Items[0]) }), "items[1].sku"},
		{"currency mismatch", mutate(func(s *saga.State) { s.Currency = "EUR" }), "items"},
		{"missing payment method", mutate(func(s *saga.State) { s.PaymentMethod = "" }), "payment_method"},
		{"bad checkout id", mutate(func(s *saga.State) { s.CheckoutID = "not-a-uuid" }), "checkout_id"},
		{"unknown checkout", mutate(func(s *saga.State) { s.CheckoutID = uuid.NewString() }), "checkout_id"},
		{"malformed JSON", json.RawMessage(`{"checkout_id":`), "body"},
		{"wrong type", json.RawMessage(`{"checkout_id": 12}`), "checkout_id"},
		{"unknown field", json.RawMessage(`{"checkout_id":"x","price":1}`), "price"},
	}
	steps := []saga.Step{saga.FnReserveStock, saga.FnChargePayment, saga.FnCreateOrder}
	for _, tc := range cases {
		for _, step := range steps {
			t.Run(tc.name+"/"+string(step), func(t *testing.T) {
				var payload []byte
				if raw, ok := tc.in.(json.RawMessage); ok {
					payload = raw
				} else {
					payload, _ = json.Marshal(tc.in)
				}
				_, err := w.core.Steps.Handler(step).Invoke(context.Background(), payload)
				var inv *saga.InvalidRequest
				if !errors.As(err, &inv) || !strings.HasPrefix(inv.Message, tc.field+":") {
					t.Fatalf("err = %v (%s); want InvalidRequest naming %q", err, errorName(err), tc.field)
				}
			})
		}
	}
	// Compensations and the outcome step check their input too.
	for _, step := range []saga.Step{saga.FnReleaseStock, saga.FnRefundPayment, saga.FnMarkOutcome} {
		for _, payload := range []string{`{`, `{"checkout_id":"nope"}`, `[]`} {
			_, err := w.core.Steps.Handler(step).Invoke(context.Background(), []byte(payload))
			if errorName(err) != "InvalidRequest" {
				t.Errorf("%s(%s): %v (%s); want InvalidRequest", step, payload, err, errorName(err))
			}
		}
	}
	var rows int
	if err := w.pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM reservations) + (SELECT count(*) FROM payment_transactions)
		+ (SELECT count(*) FROM orders) + (SELECT count(*) FROM audit_log)`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 0 {
		t.Fatalf("bad input wrote %d rows; want 0", rows)
	}
	if len(w.fake.Requests()) != 0 {
		t.Fatal("bad input reached the payment gateway")
	}
}
