package stripefake

import (
	"net/http"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
)

// The stripe-go client helpers live in a test file: stripe-go's client
// package pulls in every Stripe resource, and nothing outside the tests
// needs it (production code uses only the PaymentIntent and Refund clients).

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
