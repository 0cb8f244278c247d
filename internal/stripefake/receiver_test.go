package stripefake

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"
)

const testWebhookSecret = "whsec_stripefake_test"

// receiver is a webhook endpoint that verifies each delivery exactly as a
// production handler does, with stripe-go's webhook.ConstructEvent.
type receiver struct {
	t      *testing.T
	secret string
	URL    string

	mu       sync.Mutex
	script   []int          // statuses to answer, in order, before answering 200
	events   []stripe.Event // deliveries answered 2xx, in arrival order
	attempts int
}

func newReceiver(t *testing.T, script ...int) *receiver {
	t.Helper()
	rc := &receiver{t: t, secret: testWebhookSecret, script: script}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	rc.URL = srv.URL
	return rc
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	ev, err := webhook.ConstructEvent(body, r.Header.Get("Stripe-Signature"), rc.secret)
	if err != nil {
		rc.t.Errorf("webhook.ConstructEvent: %v (header %q)", err, r.Header.Get("Stripe-Signature"))
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		rc.t.Errorf("delivery %s with content type %q", r.Method, r.Header.Get("Content-Type"))
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.attempts++
	if len(rc.script) > 0 {
		st := rc.script[0]
		rc.script = rc.script[1:]
		if st/100 != 2 {
			w.WriteHeader(st)
			return
		}
	}
	rc.events = append(rc.events, ev)
	w.WriteHeader(http.StatusOK)
}

// received returns the event types and ids delivered so far.
func (rc *receiver) received() []stripe.Event {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]stripe.Event(nil), rc.events...)
}

func (rc *receiver) types() []string {
	var out []string
	for _, ev := range rc.received() {
		out = append(out, string(ev.Type))
	}
	return out
}

// webhookFake serves a fake whose webhooks go to rc, with a short
// AsyncDelay.
func webhookFake(t *testing.T, rc *receiver, opts ...Options) *Fake {
	t.Helper()
	o := Options{AsyncDelay: 20 * time.Millisecond}
	if len(opts) > 0 {
		o = opts[0]
	}
	if rc != nil {
		o.WebhookURL, o.WebhookSecret = rc.URL, rc.secret
	}
	return StartTest(t, o)
}

// waitIdle waits (at most 20s) until no delivery or transition is pending.
func waitIdle(t *testing.T, f *Fake) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := f.WaitWebhooksIdle(ctx); err != nil {
		t.Fatalf("webhooks not idle: %v; events %+v", err, f.Events())
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
