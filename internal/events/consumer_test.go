package events_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/events"
	"github.com/checkout-dev/checkout/internal/events/eventstest"
	"github.com/checkout-dev/checkout/internal/events/shipping"
	"github.com/checkout-dev/checkout/internal/postgres"
	"github.com/checkout-dev/checkout/localaws"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m, postgres.Migrate, localaws.Migrate) }

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestConsumerOverSQS runs the shipping consumer through the Lambda-like
// driver against moto_server and our local SQS server.
func TestConsumerOverSQS(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	for _, tg := range eventstest.Targets(t, pool) {
		t.Run(tg.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()

			t.Run("poison message in a batch of 10", func(t *testing.T) {
				db := pgtest.NewPool(t)
				p := eventstest.CreatePair(ctx, t, tg.Client, eventstest.Uniq("ship"), 3)
				var poisonID string
				c := shipping.NewConsumer(db, slog.New(slog.DiscardHandler))
				c.Fault = func(d events.Delivery) error {
					if d.Event.EventID == poisonID {
						return errors.New("warehouse rejects this order")
					}
					return nil
				}
				var poisonMsg string
				for i := 0; i < 10; i++ {
					ev := eventstest.Event()
					id := eventstest.Send(ctx, t, tg.Client, p.URL, eventstest.JSON(ev))
					if i == 4 {
						poisonID, poisonMsg = ev.EventID, id
					}
				}
				st, err := eventstest.Pump(ctx, tg.Client, p.URL, p.ARN, c.Handle, 20)
				if err != nil {
					t.Fatal(err)
				}
				if got := count(t, db, `SELECT count(*) FROM shipments`); got != 9 {
					t.Fatalf("shipments = %d, want 9 (stats %+v)", got, st)
				}
				if st.Failed != 3 {
					t.Fatalf("failed deliveries = %d, want 3 (maxReceiveCount)", st.Failed)
				}
				if got := eventstest.Depth(ctx, t, tg.Client, p.DLQURL); got != 1 {
					t.Fatalf("DLQ depth = %d, want 1", got)
				}
				if got := eventstest.Depth(ctx, t, tg.Client, p.URL); got != 0 {
					t.Fatalf("source depth = %d, want 0", got)
				}
				var attempts int
				var reason string
				if err := db.QueryRow(ctx, `SELECT attempts, reason FROM consumer_failures WHERE message_id = $1`, poisonMsg).Scan(&attempts, &reason); err != nil {
					t.Fatal(err)
				}
				if attempts != 3 || !strings.Contains(reason, "warehouse rejects") {
					t.Fatalf("failure row: attempts %d reason %q", attempts, reason)
				}
			})

			t.Run("invalid event goes to the DLQ with its reason", func(t *testing.T) {
				db := pgtest.NewPool(t)
				p := eventstest.CreatePair(ctx, t, tg.Client, eventstest.Uniq("ship"), 3)
				logs := &syncBuffer{}
				c := shipping.NewConsumer(db, slog.New(slog.NewJSONHandler(logs, nil)))
				bad := mutate(t, func(m map[string]any) { item0(m)["quantity"] = 0 })
				badID := eventstest.Send(ctx, t, tg.Client, p.URL, bad)
				for i := 0; i < 3; i++ {
					eventstest.Send(ctx, t, tg.Client, p.URL, eventstest.JSON(eventstest.Event()))
				}
				if _, err := eventstest.Pump(ctx, tg.Client, p.URL, p.ARN, c.Handle, 20); err != nil {
					t.Fatal(err)
				}
				if got := count(t, db, `SELECT count(*) FROM shipments`); got != 3 {
					t.Fatalf("shipments = %d, want 3", got)
				}
				if got := eventstest.Depth(ctx, t, tg.Client, p.DLQURL); got != 1 {
					t.Fatalf("DLQ depth = %d, want 1", got)
				}
				var reason string
				if err := db.QueryRow(ctx, `SELECT reason FROM consumer_failures WHERE message_id = $1`, badID).Scan(&reason); err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(reason, "order.items[0].quantity") {
					t.Fatalf("reason %q does not name the field", reason)
				}
				if l := logs.String(); !strings.Contains(l, badID) || !strings.Contains(l, "order.items[0].quantity") {
					t.Fatalf("log does not carry the message id and reason:\n%s", l)
				}
			})

			t.Run("duplicate event id has one side effect", func(t *testing.T) {
				db := pgtest.NewPool(t)
				p := eventstest.CreatePair(ctx, t, tg.Client, eventstest.Uniq("ship"), 3)
				c := shipping.NewConsumer(db, slog.New(slog.DiscardHandler))
				ev := eventstest.Event()
				eventstest.Send(ctx, t, tg.Client, p.URL, eventstest.JSON(ev))
				eventstest.Send(ctx, t, tg.Client, p.URL, eventstest.JSON(ev))
				if _, err := eventstest.Pump(ctx, tg.Client, p.URL, p.ARN, c.Handle, 1); err != nil {
					t.Fatal(err)
				}
				// A third copy after the first batch committed.
				eventstest.Send(ctx, t, tg.Client, p.URL, eventstest.JSON(ev))
				st, err := eventstest.Pump(ctx, tg.Client, p.URL, p.ARN, c.Handle, 10)
				if err != nil {
					t.Fatal(err)
				}
				if got := count(t, db, `SELECT count(*) FROM shipments WHERE event_id = $1`, ev.EventID); got != 1 {
					t.Fatalf("shipments = %d, want 1", got)
				}
				if st.Failed != 0 || eventstest.Depth(ctx, t, tg.Client, p.URL) != 0 || eventstest.Depth(ctx, t, tg.Client, p.DLQURL) != 0 {
					t.Fatalf("duplicates were not acknowledged: %+v", st)
				}
			})
		})
	}
}

// TestConsumerConcurrentDuplicates delivers one event to many handlers at
// once: the processed_messages claim serialises them into one side effect.
func TestConsumerConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	db := pgtest.NewPool(t)
	c := shipping.NewConsumer(db, slog.New(slog.DiscardHandler))
	ev := eventstest.Event()
	var wg sync.WaitGroup
	fails := make(chan int, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			resp, err := c.Handle(context.Background(), lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{
				{MessageId: "m" + string(rune('a'+i)), Body: eventstest.JSON(ev)}}})
			if err != nil {
				fails <- -1
			}
			fails <- len(resp.BatchItemFailures)
		}(i)
	}
	wg.Wait()
	close(fails)
	for f := range fails {
		if f != 0 {
			t.Fatalf("a duplicate was reported failed (%d)", f)
		}
	}
	if got := count(t, db, `SELECT count(*) FROM shipments`); got != 1 {
		t.Fatalf("shipments = %d, want 1", got)
	}
}

// TestConsumerWorkErrorRollsBackClaim: a failed attempt leaves no claim, so
// the next delivery does the work.
func TestConsumerWorkErrorRollsBackClaim(t *testing.T) {
	t.Parallel()
	db := pgtest.NewPool(t)
	calls := 0
	c := &events.Consumer{Name: "probe", Pool: db, Log: slog.New(slog.DiscardHandler),
		Work: func(ctx context.Context, tx pgx.Tx, d events.Delivery) error {
			calls++
			if calls == 1 {
				return errors.New("transient")
			}
			if calls == 2 {
				panic("boom")
			}
			return nil
		}}
	ev := eventstest.JSON(eventstest.Event())
	in := lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{{MessageId: "m1", Body: ev}}}
	for i, wantFailed := range []int{1, 1, 0, 0} {
		resp, err := c.Handle(context.Background(), in)
		if err != nil || len(resp.BatchItemFailures) != wantFailed {
			t.Fatalf("attempt %d: err %v failures %v, want %d", i+1, err, resp.BatchItemFailures, wantFailed)
		}
	}
	if calls != 3 {
		t.Fatalf("work ran %d times, want 3 (the 4th delivery is a duplicate)", calls)
	}
	if got := count(t, db, `SELECT count(*) FROM processed_messages WHERE consumer = 'probe'`); got != 1 {
		t.Fatalf("claims = %d", got)
	}
}

// TestConsumerDeadline: messages not attempted before the deadline are
// reported failed, not lost.
func TestConsumerDeadline(t *testing.T) {
	t.Parallel()
	db := pgtest.NewPool(t)
	c := shipping.NewConsumer(db, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	resp, err := c.Handle(ctx, lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{
		{MessageId: "a", Body: eventstest.JSON(eventstest.Event())}, {MessageId: "b", Body: eventstest.JSON(eventstest.Event())}}})
	if err != nil || len(resp.BatchItemFailures) != 2 {
		t.Fatalf("err %v failures %v", err, resp.BatchItemFailures)
	}
}

func TestFailFirst(t *testing.T) {
	t.Parallel()
	f := events.FailFirst(2)
	d := events.Delivery{Event: eventstest.Event()}
	other := events.Delivery{Event: eventstest.Event()}
	got := []bool{f(d) != nil, f(d) != nil, f(d) != nil, f(other) != nil}
	if !got[0] || !got[1] || got[2] || !got[3] {
		t.Fatalf("FailFirst(2) failures %v, want [true true false true]", got)
	}
	if events.FailFirst(0) != nil {
		t.Fatal("FailFirst(0) must be nil")
	}
}
