package startqueue_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/checkout"
	"github.com/checkout-dev/checkout/internal/inventory"
	"github.com/checkout-dev/checkout/internal/postgres"
	"github.com/checkout-dev/checkout/internal/startqueue"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m, postgres.Migrate) }

// throttling stands in for Step Functions at the edge: it refuses the
// first n starts with the throttled error execution.SFN returns.
type throttling struct{ refuse, calls atomic.Int64 }

func (f *throttling) Start(_ context.Context, name string, _ []byte) (string, error) {
	if f.calls.Add(1) <= f.refuse.Load() {
		return "", apperr.Wrap(apperr.Unavailable, checkout.CodeStartThrottled, errors.New("ThrottlingException: Rate exceeded"), "throttled")
	}
	return "arn:aws:states:us-east-1:123456789012:execution:checkout:" + name, nil
}

// TestConsumerRetriesThrottledStartsAndDropsBadMessages: a start still
// throttled is reported for redelivery; the next delivery starts it; a
// message that can never start anything is dropped, not redelivered.
func TestConsumerRetriesThrottledStartsAndDropsBadMessages(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `INSERT INTO products (sku, name, amount, currency) VALUES ('TEE-1', 'T', 1999, 'USD');
		INSERT INTO inventory (sku, on_hand) VALUES ('TEE-1', 5)`); err != nil {
		t.Fatal(err)
	}
	store := checkout.NewStore(pool)
	co, _, err := store.CreateOrGet(ctx, "ann", "k1", checkout.Request{Items: []checkout.Item{{SKU: "TEE-1", Quantity: 1}}, Currency: "USD", PaymentMethod: "pm_card_visa"})
	if err != nil {
		t.Fatal(err)
	}
	exec := &throttling{}
	exec.refuse.Store(1)
	c := &startqueue.Consumer{Checkouts: store, Log: slog.New(slog.DiscardHandler),
		Starter: checkout.NewStarter(pool, store, inventory.New(pool, inventory.Options{}), exec,
			func(checkout.Checkout) ([]byte, error) { return []byte(`{}`), nil })}
	batch := lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{
		{MessageId: "good", Body: `{"checkout_id":"` + co.ID.String() + `"}`},
		{MessageId: "not-json", Body: `checkout please`},
		{MessageId: "no-such-checkout", Body: `{"checkout_id":"0b9c3f1e-8a4d-4c2b-9f57-3f1d2c5e6a7b"}`},
	}}
	resp, err := c.Handle(ctx, batch)
	if err != nil || len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "good" {
		t.Fatalf("first delivery: %+v %v; want only the throttled start reported", resp, err)
	}
	resp, err = c.Handle(ctx, lambdaevents.SQSEvent{Records: batch.Records[:1]})
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("redelivery: %+v %v; want it started", resp, err)
	}
	got, err := store.Get(ctx, co.ID)
	if err != nil || got.ExecutionID == "" {
		t.Fatalf("checkout %+v %v; want its execution recorded", got, err)
	}
	// A duplicate delivery starts nothing twice.
	before := exec.calls.Load()
	if resp, _ := c.Handle(ctx, lambdaevents.SQSEvent{Records: batch.Records[:1]}); len(resp.BatchItemFailures) != 0 || exec.calls.Load() != before {
		t.Fatalf("duplicate delivery: %+v, %d more starts", resp, exec.calls.Load()-before)
	}
}
