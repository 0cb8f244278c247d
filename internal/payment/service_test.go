package payment_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/checkout"
	"github.com/checkout-dev/checkout/internal/payment"
	"github.com/checkout-dev/checkout/internal/postgres"
	"github.com/checkout-dev/checkout/internal/stripefake"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m, postgres.Migrate) }

// env is one test's world: a fresh database, a fresh fake Stripe, and the
// production payment code pointed at it through stripe-go.
type env struct {
	pool *pgxpool.Pool
	fake *stripefake.Fake
	svc  *payment.Service
}

func newEnv(t *testing.T) *env {
	t.Helper()
	pool := pgtest.NewPool(t)
	fake := stripefake.New(stripefake.Options{MaxHold: 5 * time.Second})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	t.Cleanup(fake.Close)
	gw := payment.NewStripe(payment.StripeConfig{SecretKey: "sk_test_checkout", URL: srv.URL, Timeout: 500 * time.Millisecond})
	noSleep := func(context.Context, time.Duration) error { return nil }
	svc := payment.NewService(pool, gw, payment.Backoff{Attempts: 4, Sleep: noSleep}, nil)
	if _, err := pool.Exec(context.Background(), `
		INSERT INTO products (sku, name, amount, currency) VALUES ('TEE-1', 'T-shirt', 1999, 'USD');
		INSERT INTO inventory (sku, on_hand) VALUES ('TEE-1', 100)`); err != nil {
		t.Fatal(err)
	}
	return &env{pool: pool, fake: fake, svc: svc}
}

func (e *env) checkout(t *testing.T, pm string) uuid.UUID {
	t.Helper()
	c, _, err := checkout.NewStore(e.pool).CreateOrGet(context.Background(), "buyer-"+uuid.NewString(), uuid.NewString(), // a buyer each: no customer limit applies
		checkout.Request{Items: []checkout.Item{{SKU: "TEE-1", Quantity: 2}}, Currency: "USD", PaymentMethod: pm})
	if err != nil {
		t.Fatal(err)
	}
	return c.ID
}

func (e *env) intentsFor(id uuid.UUID) []stripefake.PaymentIntent {
	return e.fake.PaymentIntentsByMetadata("checkout_id", id.String())
}

// fiveTimes runs call twice in a row and three times at once, as retries
// and duplicates would, and fails the test on any error.
func fiveTimes(t *testing.T, what string, call func() (payment.Transaction, error), want payment.Status) {
	t.Helper()
	for i := 0; i < 2; i++ {
		tx, err := call()
		if err != nil || tx.Status != want || tx.Amount != 3998 {
			t.Fatalf("%s %d: %+v, %v; want %s", what, i, tx, err, want)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := call()
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent %s: %v", what, err)
		}
	}
}

func TestChargeFiveTimesAuthorizesOnceAndCaptureFiveTimesCapturesOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.checkout(t, "pm_card_visa")
	ctx := context.Background()
	fiveTimes(t, "charge", func() (payment.Transaction, error) { return e.svc.Charge(ctx, id) }, payment.StatusAuthorized)
	if n := len(e.intentsFor(id)); n != 1 {
		t.Fatalf("%d PaymentIntents at the gateway; want 1", n)
	}
	if a, c := len(e.fake.AuthorizedCharges()), len(e.fake.SuccessfulCharges()); a != 1 || c != 0 {
		t.Fatalf("%d authorizations, %d captured charges; want 1 and 0 before the capture", a, c)
	}
	fiveTimes(t, "capture", func() (payment.Transaction, error) { return e.svc.Capture(ctx, id) }, payment.StatusSucceeded)
	if n := len(e.fake.SuccessfulCharges()); n != 1 {
		t.Fatalf("%d captured charges; want 1", n)
	}
	var captures int
	for _, r := range e.fake.Requests() {
		if strings.HasSuffix(r.Path, "/capture") && r.Status == 200 && !r.Replayed {
			captures++
		}
	}
	if captures != 1 {
		t.Fatalf("%d captures performed at the gateway; want 1", captures)
	}
}

func TestCaptureAnswered5xxAfterTheCaptureCapturesOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.checkout(t, "pm_card_visa")
	ctx := context.Background()
	if _, err := e.svc.Charge(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := e.fake.InjectFault(stripefake.Fault{Kind: stripefake.Status500After, Match: "POST /v1/payment_intents/*/capture"}); err != nil {
		t.Fatal(err)
	}
	tx, err := e.svc.Capture(ctx, id)
	if err != nil || tx.Status != payment.StatusSucceeded {
		t.Fatalf("capture: %+v %v; want succeeded (the gateway captured before its 500)", tx, err)
	}
	if n := len(e.fake.SuccessfulCharges()); n != 1 {
		t.Fatalf("%d captured charges; want 1", n)
	}
}

func TestReverseOfAnAuthorizationVoidsIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.checkout(t, "pm_card_visa")
	ctx := context.Background()
	tx, err := e.svc.Charge(ctx, id)
	if err != nil || tx.Status != payment.StatusAuthorized {
		t.Fatalf("charge: %+v %v", tx, err)
	}
	r, err := e.svc.Reverse(ctx, id, payment.OriginCompensation)
	if err != nil || r.Action != payment.ReversalVoided {
		t.Fatalf("reverse: %+v %v; want voided", r, err)
	}
	if n := len(e.fake.RefundsFor(tx.ProviderPaymentID)); n != 0 {
		t.Fatalf("%d refunds; want 0 (an authorization is voided, not refunded)", n)
	}
	if pi, _ := e.fake.PaymentIntent(tx.ProviderPaymentID); pi.Status != "canceled" {
		t.Fatalf("intent %s; want canceled", pi.Status)
	}
	if _, err := e.svc.Capture(ctx, id); !apperr.Is(err, apperr.State) {
		t.Fatalf("capture after the void: %v; want State", err)
	}
	if n := len(e.fake.SuccessfulCharges()); n != 0 {
		t.Fatalf("%d captured charges; want 0", n)
	}
}

func TestConcurrentFirstChargesChargeOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.checkout(t, "pm_card_visa")
	var wg sync.WaitGroup
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = e.svc.Charge(context.Background(), id) // some may see "in flight" and give up; none may double charge
		}()
	}
	wg.Wait()
	if _, err := e.svc.Charge(context.Background(), id); err != nil {
		t.Fatalf("charge after the race: %v", err)
	}
	if n, c := len(e.intentsFor(id)), len(e.fake.AuthorizedCharges()); n != 1 || c != 1 {
		t.Fatalf("%d intents, %d authorizations; want 1 and 1", n, c)
	}
}

func TestRefundTwiceRefundsOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	id := e.checkout(t, "pm_card_visa")
	if _, err := e.svc.Charge(ctx, id); err != nil {
		t.Fatal(err)
	}
	tx, err := e.svc.Capture(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		r, err := e.svc.Reverse(ctx, id, payment.OriginCompensation)
		if err != nil || r.Action != payment.ReversalRefunded {
			t.Fatalf("reverse %d: %+v err=%v", i, r, err)
		}
	}
	if n := len(e.fake.RefundsFor(tx.ProviderPaymentID)); n != 1 {
		t.Fatalf("%d refunds; want 1", n)
	}
	charge, err := e.svc.Get(ctx, id, "charge")
	if err != nil || charge.Status != payment.StatusRefunded {
		t.Fatalf("charge row: %+v %v; want refunded", charge, err)
	}
	// A charge retried after its refund must not charge again.
	if _, err := e.svc.Charge(ctx, id); !apperr.Is(err, apperr.State) {
		t.Fatalf("charge after refund: err = %v; want State", err)
	}
	if n := len(e.fake.SuccessfulCharges()); n != 1 {
		t.Fatalf("%d charges; want 1", n)
	}
}

func TestRefundWithoutChargeIsANoOp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.checkout(t, "pm_card_visa")
	r, err := e.svc.Reverse(context.Background(), id, payment.OriginCompensation)
	if err != nil || r.Action != payment.ReversalNone {
		t.Fatalf("reverse: %+v err=%v; want none", r, err)
	}
	if len(e.fake.Requests()) != 0 {
		t.Fatalf("the gateway was called %d times; want 0", len(e.fake.Requests()))
	}
}

func TestDeclinesAreClassified(t *testing.T) {
	t.Parallel()
	cases := []struct {
		pm      string
		kind    apperr.Kind
		decline string
	}{
		{"pm_card_chargeDeclined", apperr.Declined, "generic_decline"},
		{"pm_card_chargeDeclinedInsufficientFunds", apperr.Declined, "insufficient_funds"},
		{"pm_card_authenticationRequired", apperr.RequiresAction, ""},
		{"pm_card_doesNotExist", apperr.Invalid, ""},
	}
	e := newEnv(t)
	for _, tc := range cases {
		t.Run(tc.pm, func(t *testing.T) {
			id := e.checkout(t, tc.pm)
			_, err := e.svc.Charge(context.Background(), id)
			ae := apperr.As(err)
			if ae == nil || ae.Kind != tc.kind {
				t.Fatalf("err = %v; want kind %v", err, tc.kind)
			}
			if tc.decline != "" && ae.Details["decline_code"] != tc.decline {
				t.Fatalf("decline_code = %v; want %s", ae.Details["decline_code"], tc.decline)
			}
			if tc.kind == apperr.Declined {
				// Retrying a declined charge answers from the database: no new attempt.
				before := len(e.fake.Requests())
				if _, err := e.svc.Charge(context.Background(), id); !apperr.Is(err, apperr.Declined) {
					t.Fatalf("retry: %v; want Declined", err)
				}
				if after := len(e.fake.Requests()); after != before {
					t.Fatalf("retrying a declined charge sent %d requests; want 0", after-before)
				}
			}
		})
	}
	if n := len(e.fake.SuccessfulCharges()); n != 0 {
		t.Fatalf("%d successful charges; want 0", n)
	}
}

func TestGatewayFaultsAreClassifiedAndRecovered(t *testing.T) {
	t.Parallel()
	confirm := "POST /v1/payment_intents/*/confirm"
	cases := []struct {
		name  string
		fault stripefake.Fault
		// a single try (no in-step retry) fails with this kind
		kind apperr.Kind
	}{
		{"500", stripefake.Fault{Kind: stripefake.Status500, Match: confirm}, apperr.UnknownOutcome},
		{"429", stripefake.Fault{Kind: stripefake.Status429, Match: confirm}, apperr.Unavailable},
		{"connection reset", stripefake.Fault{Kind: stripefake.ConnReset, Match: confirm}, apperr.Transient},
		{"timeout after charge", stripefake.Fault{Kind: stripefake.TimeoutAfterCharge, Match: confirm}, apperr.Internal},
		{"latency past the timeout", stripefake.Fault{Kind: stripefake.Latency, Match: confirm, Delay: 2 * time.Second}, apperr.Transient},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			id := e.checkout(t, "pm_card_visa")
			if err := e.fake.InjectFault(tc.fault); err != nil {
				t.Fatal(err)
			}
			// The in-step retry recovers from every fault without charging twice.
			tx, err := e.svc.Charge(context.Background(), id)
			if err != nil || tx.Status != payment.StatusAuthorized {
				t.Fatalf("charge: %+v, %v", tx, err)
			}
			if n, c := len(e.intentsFor(id)), len(e.fake.AuthorizedCharges()); n != 1 || c != 1 {
				t.Fatalf("%d intents, %d authorizations; want 1 and 1", n, c)
			}
		})
	}
	// With no in-step retry, each fault surfaces with its kind.
	for _, tc := range cases {
		t.Run("single try/"+tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			// Two clients: the confirm goes out on a fresh connection. On a
			// reused keep-alive connection net/http itself would transparently
			// resend a request that carries an Idempotency-Key after a reset.
			url := e.fakeURL(t)
			gw := payment.NewStripe(payment.StripeConfig{SecretKey: "sk_test_checkout", URL: url, Timeout: 500 * time.Millisecond})
			setup := payment.NewStripe(payment.StripeConfig{SecretKey: "sk_test_checkout", URL: url})
			in, err := setup.CreateIntent(context.Background(), payment.NewIntent{Amount: 100, Currency: "USD", PaymentMethod: "pm_card_visa", CheckoutID: "x"}, uuid.NewString())
			if err != nil {
				t.Fatal(err)
			}
			if err := e.fake.InjectFault(tc.fault); err != nil {
				t.Fatal(err)
			}
			_, err = gw.ConfirmIntent(context.Background(), in.ID, "pm_card_visa", uuid.NewString())
			want := tc.kind
			if want == apperr.Internal || tc.fault.Kind == stripefake.ConnReset || tc.fault.Kind == stripefake.Latency {
				want = apperr.UnknownOutcome // the request was sent; its answer was lost
			}
			if got := apperr.KindOf(err); got != want {
				t.Fatalf("kind = %v (%v); want %v", got, err, want)
			}
			// An unknown outcome is resolved by retrieval.
			got, err := setup.GetIntent(context.Background(), in.ID)
			if err != nil {
				t.Fatal(err)
			}
			wantStatus := payment.IntentRequiresConfirmation
			if tc.fault.Kind == stripefake.TimeoutAfterCharge {
				wantStatus = payment.IntentSucceeded
			}
			if got.Status != wantStatus {
				t.Fatalf("retrieved status %s; want %s", got.Status, wantStatus)
			}
		})
	}
}

func (e *env) fakeURL(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(e.fake)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestUnreachableGatewayIsTransient(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(stripefake.New(stripefake.Options{}))
	url := srv.URL
	srv.Close() // nothing listens there any more
	gw := payment.NewStripe(payment.StripeConfig{SecretKey: "sk_test_x", URL: url, Timeout: time.Second})
	_, err := gw.ConfirmIntent(context.Background(), "pi_123", "pm_card_visa", "k")
	if got := apperr.KindOf(err); got != apperr.Transient {
		t.Fatalf("kind = %v (%v); want Transient: a refused connection never reached the gateway", got, err)
	}
}

func TestAbandonedAuthenticationIsCanceledNeverCharged(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	id := e.checkout(t, "pm_card_authenticationRequired")
	if _, err := e.svc.Charge(ctx, id); !apperr.Is(err, apperr.RequiresAction) {
		t.Fatalf("charge: %v; want RequiresAction", err)
	}
	// The saga compensates: the intent is canceled, nothing refunded.
	r, err := e.svc.Reverse(ctx, id, payment.OriginCompensation)
	if err != nil || r.Action != payment.ReversalVoided {
		t.Fatalf("reverse: %+v err=%v; want voided", r, err)
	}
	intents := e.intentsFor(id)
	if len(intents) != 1 || intents[0].Status != payment.IntentCanceled {
		t.Fatalf("intents %+v; want one canceled", intents)
	}
	// The customer finishing 3-D Secure afterwards cannot move money.
	if err := e.fake.CompleteAuthentication(intents[0].ID, true); err == nil {
		t.Fatal("authentication completed on a canceled intent")
	}
	if n := len(e.fake.SuccessfulCharges()); n != 0 {
		t.Fatalf("%d charges; want 0", n)
	}
	charge, err := e.svc.Get(ctx, id, "charge")
	if err != nil || charge.Status != payment.StatusCanceled {
		t.Fatalf("charge row %+v %v; want canceled", charge, err)
	}
}
