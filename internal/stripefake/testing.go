package stripefake

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
)

// TestAPIKey is a test-mode secret key the fake accepts.
const TestAPIKey = "sk_test_stripefake"

// StartTest serves a new Fake (opts optional) with httptest on a free
// 127.0.0.1 port for the duration of the test and returns it with URL set.
// At test cleanup held connections are released and the server is closed.
func StartTest(t testing.TB, opts ...Options) *Fake {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	f := New(o)
	srv := httptest.NewServer(f) // binds 127.0.0.1:0
	f.URL = srv.URL
	t.Cleanup(func() {
		f.Close()
		srv.CloseClientConnections()
		srv.Close()
	})
	return f
}

// Client returns a stripe-go client for f.URL (see package-level Client).
func (f *Fake) Client() *client.API { return Client(f.URL) }

// Client builds a stripe-go client whose API, Connect and Uploads backends
// all point at baseURL, with network retries disabled and the key
// TestAPIKey — the way production code builds its client.
func Client(baseURL string) *client.API {
	return ClientWith(baseURL, TestAPIKey, nil)
}

// ClientWith is Client with an explicit API key and HTTP client (nil: the
// stripe-go default, 80s timeout). stripe-go's logging is silenced.
func ClientWith(baseURL, key string, hc *http.Client) *client.API {
	backend := stripe.GetBackendWithConfig(stripe.APIBackend, &stripe.BackendConfig{
		URL:               stripe.String(baseURL),
		MaxNetworkRetries: stripe.Int64(0),
		HTTPClient:        hc,
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
	})
	return client.New(key, &stripe.Backends{API: backend, Connect: backend, Uploads: backend})
}
