package ses_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/checkout-dev/checkout/internal/events/eventstest"
	"github.com/checkout-dev/checkout/internal/notify"
	"github.com/checkout-dev/checkout/internal/notify/ses"
	"github.com/checkout-dev/checkout/internal/postgres"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

// TestSESWire drives the real sesv2 client against a loopback endpoint
// speaking SES v2's REST-JSON SendEmail, and checks what goes on the wire:
// one call per event, duplicates included in the same batch.
func TestSESWire(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var bodies []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v2/email/outbound-emails" || !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256") {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusBadRequest)
			return
		}
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		mu.Lock()
		bodies = append(bodies, m)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"MessageId":"ses-1"}`))
	}))
	defer srv.Close()
	client := sesv2.New(sesv2.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", "")})
	db := pgtest.NewPool(t)
	c := notify.NewConsumer(db, &notify.Notifier{Sender: ses.Sender{Client: client}, From: "shop@example.com"}, slog.New(slog.DiscardHandler))
	ev := eventstest.Event()
	resp, err := c.Handle(context.Background(), lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{
		{MessageId: "1", Body: eventstest.JSON(ev)}, {MessageId: "2", Body: eventstest.JSON(ev)}}})
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("%v %+v", err, resp)
	}
	if len(bodies) != 1 {
		t.Fatalf("SendEmail called %d times, want 1", len(bodies))
	}
	b, _ := json.Marshal(bodies[0])
	for _, want := range []string{`"FromEmailAddress":"shop@example.com"`, `"ToAddresses":["user-1@example.com"]`, `44.97 USD`, `T-shirt \u0026lt;M\u0026gt;`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("request lacks %s:\n%s", want, b)
		}
	}
}

func TestMain(m *testing.M) { pgtest.Main(m, postgres.Migrate) }
