package stripefake

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/client"
)

// One stripe-mock process shared by every test that mirrors its requests
// to it (started on first use, killed by PID in TestMain).
var sharedMock struct {
	once sync.Once
	url  string
	stop func()
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedMock.stop != nil {
		sharedMock.stop()
	}
	os.Exit(code)
}

// sharedStripeMockURL returns the shared stripe-mock's URL, or "" (after
// logging why) when it cannot run here; under CI that fails the test.
func sharedStripeMockURL(t testing.TB) string {
	t.Helper()
	sharedMock.once.Do(func() {
		bin, err := stripeMockBinary()
		if err != nil {
			sharedMock.err = err
			return
		}
		for range 3 {
			if sharedMock.url, sharedMock.stop, err = startStripeMock(bin); err == nil {
				return
			}
		}
		sharedMock.err = err
	})
	if sharedMock.err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("stripe-mock unavailable: %v", sharedMock.err)
		}
		t.Logf("stripe-mock unavailable, requests not mirrored: %v", sharedMock.err)
		return ""
	}
	return sharedMock.url
}

// mirrorTransport sends each request stripe-go makes to the fake to
// stripe-mock as well, which validates it against Stripe's OpenAPI spec,
// and fails the test if stripe-mock rejects it: every request the tests
// using it send is thereby a real Stripe request shape. (stripe-mock is
// stateless and answers any id with a fixture, so only the shape counts.)
type mirrorTransport struct {
	t    testing.TB
	mock string
	base http.RoundTripper
}

var mirrorClient = &http.Client{Timeout: 30 * time.Second}

func (m *mirrorTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		_ = req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	mreq, err := http.NewRequest(req.Method, m.mock+req.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for _, h := range []string{"Authorization", "Content-Type", "Stripe-Version"} {
		mreq.Header.Set(h, req.Header.Get(h))
	}
	if resp, err := mirrorClient.Do(mreq); err != nil {
		m.t.Errorf("stripe-mock: %s %s: %v", req.Method, req.URL.RequestURI(), err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode >= 400 {
			m.t.Errorf("stripe-mock rejects %s %s %s: %d %s", req.Method, req.URL.RequestURI(), body, resp.StatusCode, b)
		}
	}
	return m.base.RoundTrip(req)
}

// mirroredClient is a stripe-go client for f whose every request is also
// validated by stripe-mock (when it can run here).
func mirroredClient(t testing.TB, f *Fake) *client.API {
	t.Helper()
	mock := sharedStripeMockURL(t)
	if mock == "" {
		return f.Client()
	}
	return ClientWith(f.URL, TestAPIKey, &http.Client{Timeout: 30 * time.Second,
		Transport: &mirrorTransport{t: t, mock: mock, base: http.DefaultTransport}})
}

// newMirrored serves a fresh fake with opts and returns it with a
// mirrored stripe-go client.
func newMirrored(t *testing.T, opts ...Options) (*Fake, *client.API) {
	t.Helper()
	f := StartTest(t, opts...)
	return f, mirroredClient(t, f)
}
