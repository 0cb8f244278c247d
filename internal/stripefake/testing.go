package stripefake

import (
	"net/http/httptest"
	"testing"
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
