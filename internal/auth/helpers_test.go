package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const testSecret = "test-secret-0123456789abcdef"

// t0 is the fixed "now" of the tests.
var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// fakeClock is a settable clock shared by the verifier and the JWKS cache.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *fakeClock { return &fakeClock{now: t0} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// unix is a NumericDate claim value at t0+d.
func unix(d time.Duration) int64 { return t0.Add(d).Unix() }

// claimsOK are valid claims at t0.
func claimsOK() jwt.MapClaims {
	return jwt.MapClaims{"sub": "user-1", "exp": unix(time.Hour), "iat": unix(-time.Minute)}
}

// The issuer and audience the JWKS tests' verifiers expect.
const (
	jwksIssuer   = "https://idp.example/"
	jwksAudience = "checkout-api"
)

// jwksClaims is claimsOK from the JWKS tests' issuer, for their audience.
func jwksClaims() jwt.MapClaims {
	return with(claimsOK(), "iss", jwksIssuer, "aud", jwksAudience)
}

func with(c jwt.MapClaims, kv ...any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		k := kv[i].(string)
		if kv[i+1] == nil {
			delete(out, k)
		} else {
			out[k] = kv[i+1]
		}
	}
	return out
}

func signHS(t *testing.T, m jwt.SigningMethod, key []byte, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

func signRS(t *testing.T, m jwt.SigningMethod, key *rsa.PrivateKey, kid string, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

func signNone(t *testing.T, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodNone, c).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatalf("sign none: %v", err)
	}
	return s
}

// rawToken assembles header.payload.signature from JSON values, for tokens no
// library would produce.
func rawToken(t *testing.T, header, payload any, sig string) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(header) + "." + enc(payload) + "." + sig
}

var (
	rsaOnce sync.Once
	rsaKeys [3]*rsa.PrivateKey
)

// testRSAKeys returns three 2048-bit keys generated once per test binary.
func testRSAKeys(t *testing.T) [3]*rsa.PrivateKey {
	t.Helper()
	rsaOnce.Do(func() {
		for i := range rsaKeys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			rsaKeys[i] = k
		}
	})
	return rsaKeys
}

func jwkOf(kid string, pub *rsa.PublicKey) map[string]any {
	return map[string]any{
		"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
		"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}
}

// jwksServer is a real HTTPS JWKS endpoint on 127.0.0.1.
type jwksServer struct {
	srv    *httptest.Server
	hits   atomic.Int64
	mu     sync.Mutex
	keys   []map[string]any
	status int
	delay  time.Duration
	hang   chan struct{} // when non-nil, requests block until it closes or the client gives up
}

func newJWKSServer(t *testing.T) *jwksServer {
	t.Helper()
	js := &jwksServer{status: http.StatusOK}
	js.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		js.hits.Add(1)
		js.mu.Lock()
		keys, status, delay, hang := js.keys, js.status, js.delay, js.hang
		js.mu.Unlock()
		if hang != nil {
			select {
			case <-hang:
			case <-r.Context().Done():
				return
			}
		}
		time.Sleep(delay)
		if status != http.StatusOK {
			http.Error(w, "boom", status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": keys})
	}))
	if !strings.HasPrefix(js.srv.URL, "https://127.0.0.1:") {
		t.Fatalf("JWKS server not on loopback: %s", js.srv.URL)
	}
	t.Cleanup(js.srv.Close)
	return js
}

// newJWKSServerK1 returns the test keys and a JWKS server serving the first
// of them as kid "k1".
func newJWKSServerK1(t *testing.T) ([3]*rsa.PrivateKey, *jwksServer) {
	t.Helper()
	keys := testRSAKeys(t)
	js := newJWKSServer(t)
	js.set([]string{"k1"}, keys[0])
	return keys, js
}

// wantHits fails t unless js has answered exactly want requests; format is
// the failure message, whose one verb receives the actual count.
func (js *jwksServer) wantHits(t *testing.T, want int64, format string) {
	t.Helper()
	if got := js.hits.Load(); got != want {
		t.Fatalf(format, got)
	}
}

func (js *jwksServer) set(kids []string, keys ...*rsa.PrivateKey) {
	js.mu.Lock()
	defer js.mu.Unlock()
	js.keys = nil
	for i, k := range keys {
		js.keys = append(js.keys, jwkOf(kids[i], &k.PublicKey))
	}
}

func (js *jwksServer) setStatus(code int) {
	js.mu.Lock()
	defer js.mu.Unlock()
	js.status = code
}

// verifier builds a Verifier on clock; cfg gets the JWKS URL of js when js
// is non-nil.
func newTestVerifier(t *testing.T, cfg Config, clock *fakeClock, js *jwksServer) *Verifier {
	t.Helper()
	opts := []Option{WithClock(clock.Now)}
	if js != nil {
		cfg.JWKSURL = js.srv.URL + "/.well-known/jwks.json"
		if cfg.Issuer == "" && cfg.Audience == "" {
			cfg.Issuer, cfg.Audience = jwksIssuer, jwksAudience // required with a JWKS
		}
		opts = append(opts, WithHTTPClient(js.srv.Client()))
	}
	v, err := NewVerifier(cfg, opts...)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}
