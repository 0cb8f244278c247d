package notify_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/checkout-dev/checkout/internal/events/eventstest"
	"github.com/checkout-dev/checkout/internal/notify"
	"github.com/checkout-dev/checkout/internal/notify/ses"
	"github.com/checkout-dev/checkout/internal/postgres"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m, postgres.Migrate) }

func TestFormatMoney(t *testing.T) {
	t.Parallel()
	cases := []struct {
		amount   int64
		currency string
		want     string
	}{
		{1999, "USD", "19.99 USD"},
		{5, "EUR", "0.05 EUR"},
		{0, "USD", "0.00 USD"},
		{123456789, "USD", "1,234,567.89 USD"},
		{1500, "JPY", "1,500 JPY"},
		{1234, "KWD", "1.234 KWD"},
		{7, "BHD", "0.007 BHD"},
		{-250, "GBP", "-2.50 GBP"},
		{-9223372036854775808, "USD", "-92,233,720,368,547,758.08 USD"},
		{100, "XXX", "1.00 XXX"},
	}
	for _, tc := range cases {
		if got := notify.FormatMoney(tc.amount, tc.currency); got != tc.want {
			t.Errorf("FormatMoney(%d, %s) = %q, want %q", tc.amount, tc.currency, got, tc.want)
		}
	}
}

func TestRender(t *testing.T) {
	t.Parallel()
	ev := eventstest.Event()
	m, err := notify.Render(ev, "shop@example.com", "user-1@example.com")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"2 x T-shirt <M> (TSHIRT-M)  19.99 USD each  39.98 USD", "1 x Sticker & co", "Total: 44.97 USD", ev.Order.OrderID} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, m.Text)
		}
	}
	for _, want := range []string{"T-shirt &lt;M&gt;", "Sticker &amp; co", "<td>39.98 USD</td>", "<td>44.97 USD</td>"} {
		if !strings.Contains(m.HTML, want) {
			t.Errorf("html lacks %q:\n%s", want, m.HTML)
		}
	}
	if strings.Contains(m.HTML, "<M>") {
		t.Error("html does not escape item names")
	}
	if !strings.Contains(m.Subject, "44.97 USD") || m.To != "user-1@example.com" || m.EventID != ev.EventID {
		t.Errorf("email %+v", m)
	}
	ev.Order.Items[0].Quantity = 1 << 30
	ev.Order.Items[0].UnitAmount = 1 << 40
	if _, err := notify.Render(ev, "a@b.c", ""); err == nil {
		t.Error("overflowing line total accepted")
	}
}

func TestAddressFromUserID(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"ann@example.com": "ann@example.com", "auth0|123": "", "Ann <ann@example.com>": "", "": ""} {
		if got := notify.AddressFromUserID(in); got != want {
			t.Errorf("%q: got %q want %q", in, got, want)
		}
	}
}

// TestOutboxConsumer: the e-mail lands in outbox_emails exactly once per
// event, and an unknown address is still recorded locally.
func TestOutboxConsumer(t *testing.T) {
	t.Parallel()
	db := pgtest.NewPool(t)
	c := notify.NewConsumer(db, &notify.Notifier{Sender: notify.Outbox{}, From: "shop@example.com"}, slog.New(slog.DiscardHandler))
	ev := eventstest.Event()
	other := eventstest.Event()
	other.Order.UserID = "auth0|42"
	in := lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{
		{MessageId: "1", Body: eventstest.JSON(ev)}, {MessageId: "2", Body: eventstest.JSON(ev)},
		{MessageId: "3", Body: eventstest.JSON(other)}, {MessageId: "4", Body: `{"schema_version":1}`}}}
	for i := 0; i < 2; i++ {
		resp, err := c.Handle(context.Background(), in)
		if err != nil || len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "4" {
			t.Fatalf("run %d: %v %+v", i, err, resp)
		}
	}
	var n int
	var to *string
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM outbox_emails`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("outbox rows %d %v", n, err)
	}
	if err := db.QueryRow(context.Background(), `SELECT to_address FROM outbox_emails WHERE event_id = $1`, other.EventID).Scan(&to); err != nil || to != nil {
		t.Fatalf("unknown address: %v %v", to, err)
	}
	var text string
	if err := db.QueryRow(context.Background(), `SELECT text_body FROM outbox_emails WHERE event_id = $1`, ev.EventID).Scan(&text); err != nil || !strings.Contains(text, "44.97 USD") {
		t.Fatalf("text %q %v", text, err)
	}
}

// TestSESSkipsUnknownAddress: SES cannot mail a user without an address;
// the event is acknowledged as skipped rather than retried into the DLQ.
func TestSESSkipsUnknownAddress(t *testing.T) {
	t.Parallel()
	db := pgtest.NewPool(t)
	c := notify.NewConsumer(db, &notify.Notifier{Sender: ses.Sender{}, From: "shop@example.com"}, slog.New(slog.DiscardHandler))
	ev := eventstest.Event()
	ev.Order.UserID = "auth0|42"
	resp, err := c.Handle(context.Background(), lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{{MessageId: "1", Body: eventstest.JSON(ev)}}})
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("%v %+v", err, resp)
	}
	var outcome string
	if err := db.QueryRow(context.Background(), `SELECT outcome FROM processed_messages WHERE event_id = $1`, ev.EventID).Scan(&outcome); err != nil || outcome != "skipped" {
		t.Fatalf("outcome %q %v", outcome, err)
	}
}
