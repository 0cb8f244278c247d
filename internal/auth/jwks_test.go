package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestVerifyRS256(t *testing.T) {
	t.Parallel()
	keys := testRSAKeys(t)
	secret := []byte(testSecret)
	pubDER, err := x509.MarshalPKIXPublicKey(&keys[0].PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})

	tests := []struct {
		name       string
		secret     []byte // also configure HS256
		served     []string
		token      string
		wantReason Reason
	}{
		{name: "good", served: []string{"k1"}, token: signRS(t, jwt.SigningMethodRS256, keys[0], "k1", jwksClaims())},
		{name: "second key of the set", served: []string{"k1", "k2"}, token: signRS(t, jwt.SigningMethodRS256, keys[1], "k2", jwksClaims())},
		{name: "no kid, single key", served: []string{"k1"}, token: signRS(t, jwt.SigningMethodRS256, keys[0], "", jwksClaims())},
		{name: "no kid, several keys", served: []string{"k1", "k2"}, token: signRS(t, jwt.SigningMethodRS256, keys[0], "", jwksClaims()), wantReason: ReasonUnknownKey},
		{name: "kid not a string", served: []string{"k1"}, token: func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwksClaims())
			tok.Header["kid"] = 7
			s, _ := tok.SignedString(keys[0])
			return s
		}(), wantReason: ReasonMalformed},
		{name: "signed by another key under a known kid", served: []string{"k1"}, token: signRS(t, jwt.SigningMethodRS256, keys[2], "k1", jwksClaims()), wantReason: ReasonBadSignature},
		{name: "unknown kid", served: []string{"k1"}, token: signRS(t, jwt.SigningMethodRS256, keys[2], "k9", jwksClaims()), wantReason: ReasonUnknownKey},
		{name: "expired", served: []string{"k1"}, token: signRS(t, jwt.SigningMethodRS256, keys[0], "k1", with(jwksClaims(), "exp", unix(-time.Hour))), wantReason: ReasonExpired},
		{name: "missing sub", served: []string{"k1"}, token: signRS(t, jwt.SigningMethodRS256, keys[0], "k1", with(jwksClaims(), "sub", nil)), wantReason: ReasonMissingSub},
		{name: "RS384 not configured", served: []string{"k1"}, token: signRS(t, jwt.SigningMethodRS384, keys[0], "k1", jwksClaims()), wantReason: ReasonUnsupportedAlg},
		{name: "PS256 not configured", served: []string{"k1"}, token: signRS(t, jwt.SigningMethodPS256, keys[0], "k1", jwksClaims()), wantReason: ReasonUnsupportedAlg},
		{name: "HS256 without a secret", served: []string{"k1"}, token: signHS(t, jwt.SigningMethodHS256, secret, jwksClaims()), wantReason: ReasonUnsupportedAlg},
		{name: "alg confusion: HS256 keyed with the public key, JWKS only", served: []string{"k1"},
			token: signHS(t, jwt.SigningMethodHS256, pubPEM, with(jwksClaims(), "kid", "k1")), wantReason: ReasonUnsupportedAlg},
		{name: "alg confusion: HS256 keyed with the public key, both configured", secret: secret, served: []string{"k1"},
			token: signHS(t, jwt.SigningMethodHS256, pubPEM, jwksClaims()), wantReason: ReasonBadSignature},
		{name: "both configured: HS256 with the secret", secret: secret, served: []string{"k1"}, token: signHS(t, jwt.SigningMethodHS256, secret, jwksClaims())},
		{name: "both configured: RS256", secret: secret, served: []string{"k1"}, token: signRS(t, jwt.SigningMethodRS256, keys[0], "k1", jwksClaims())},
		{name: "alg none", served: []string{"k1"}, token: signNone(t, jwksClaims()), wantReason: ReasonUnsupportedAlg},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			js := newJWKSServer(t)
			js.set(tc.served, keys[:len(tc.served)]...)
			v := newTestVerifier(t, Config{Secret: tc.secret}, newClock(), js)
			c, err := v.Verify(context.Background(), tc.token)
			if tc.wantReason != "" {
				assertRejected(t, err, tc.wantReason, tc.token)
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if c.Subject != "user-1" {
				t.Errorf("Subject = %q", c.Subject)
			}
		})
	}
}

// Rotation: the provider replaces k1 by k2; a token with the new kid makes
// the verifier refetch once, and k1 tokens stop working.
func TestJWKSKeyRotation(t *testing.T) {
	t.Parallel()
	keys, js := newJWKSServerK1(t)
	clock := newClock()
	v := newTestVerifier(t, Config{}, clock, js)
	ctx := context.Background()
	tok1 := signRS(t, jwt.SigningMethodRS256, keys[0], "k1", with(jwksClaims(), "exp", unix(24*time.Hour)))
	tok2 := signRS(t, jwt.SigningMethodRS256, keys[1], "k2", with(jwksClaims(), "exp", unix(24*time.Hour)))

	for i := range 3 {
		if _, err := v.Verify(ctx, tok1); err != nil {
			t.Fatalf("k1 #%d: %v", i, err)
		}
	}
	js.wantHits(t, 1, "JWKS fetched %d times for one cached kid, want 1")

	js.set([]string{"k2"}, keys[1])
	clock.Advance(5 * time.Minute)
	if _, err := v.Verify(ctx, tok2); err != nil {
		t.Fatalf("k2 after rotation: %v", err)
	}
	js.wantHits(t, 2, "JWKS fetched %d times, want 2 (one refetch for the new kid)")
	_, err := v.Verify(ctx, tok1)
	assertRejected(t, err, ReasonUnknownKey, tok1)
	js.wantHits(t, 2, "retired kid refetched within the interval: %d fetches, want 2")
}

// Unknown kids trigger at most one fetch per refresh interval.
func TestJWKSRefetchRateLimit(t *testing.T) {
	t.Parallel()
	keys, js := newJWKSServerK1(t)
	clock := newClock()
	v := newTestVerifier(t, Config{}, clock, js)
	ctx := context.Background()
	long := with(jwksClaims(), "exp", unix(24*time.Hour))
	tok1 := signRS(t, jwt.SigningMethodRS256, keys[0], "k1", long)
	tok2 := signRS(t, jwt.SigningMethodRS256, keys[1], "k2", long)

	if _, err := v.Verify(ctx, tok1); err != nil {
		t.Fatal(err)
	}
	js.set([]string{"k1", "k2"}, keys[0], keys[1])

	// Right after a fetch: k2 is unknown and no refetch is allowed.
	for i := range 20 {
		_, err := v.Verify(ctx, tok2)
		assertRejected(t, err, ReasonUnknownKey, tok2)
		if i == 10 {
			clock.Advance(59 * time.Second)
		}
	}
	js.wantHits(t, 1, "%d fetches within the first minute, want 1")

	clock.Advance(time.Second) // exactly one minute after the first fetch
	if _, err := v.Verify(ctx, tok2); err != nil {
		t.Fatalf("k2 after the interval: %v", err)
	}
	js.wantHits(t, 2, "%d fetches, want 2")

	// A flood of random kids costs one fetch per minute, no more.
	for i := range 30 {
		tok := signRS(t, jwt.SigningMethodRS256, keys[2], "rnd-"+string(rune('a'+i%26)), long)
		_, err := v.Verify(ctx, tok)
		assertRejected(t, err, ReasonUnknownKey, tok)
		clock.Advance(10 * time.Second) // 300 s in all
	}
	// Fetches at +60 s, +120 s, +180 s, +240 s of the flood.
	js.wantHits(t, 6, "%d fetches after 300 s of unknown kids, want 6")
	// Known kids never wait for the limiter.
	if _, err := v.Verify(ctx, tok1); err != nil {
		t.Fatalf("k1 during flood: %v", err)
	}
}

// After the TTL a known kid triggers a refetch; when that fails the stale
// keys keep working.
func TestJWKSTTLAndStaleOnError(t *testing.T) {
	t.Parallel()
	keys, js := newJWKSServerK1(t)
	clock := newClock()
	v := newTestVerifier(t, Config{JWKSCacheTTL: 10 * time.Minute}, clock, js)
	ctx := context.Background()
	tok := signRS(t, jwt.SigningMethodRS256, keys[0], "k1", with(jwksClaims(), "exp", unix(24*time.Hour)))

	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	clock.Advance(9 * time.Minute)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	js.wantHits(t, 1, "%d fetches before TTL, want 1")
	clock.Advance(2 * time.Minute)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	js.wantHits(t, 2, "%d fetches after TTL, want 2")

	js.setStatus(http.StatusInternalServerError)
	clock.Advance(11 * time.Minute)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("stale key not served when the JWKS is down: %v", err)
	}
	js.wantHits(t, 3, "%d fetches, want 3 (one failed refetch)")
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	js.wantHits(t, 3, "failed refetch retried within the interval: %d fetches")
}

// A JWKS that is down from the start: keys_unavailable, retried at most once
// per interval, recovered when it comes back.
func TestJWKSUnavailable(t *testing.T) {
	t.Parallel()
	keys, js := newJWKSServerK1(t)
	js.setStatus(http.StatusServiceUnavailable)
	clock := newClock()
	v := newTestVerifier(t, Config{}, clock, js)
	ctx := context.Background()
	tok := signRS(t, jwt.SigningMethodRS256, keys[0], "k1", with(jwksClaims(), "exp", unix(24*time.Hour)))

	for range 3 {
		_, err := v.Verify(ctx, tok)
		assertRejected(t, err, ReasonKeysUnavailable, tok)
		if err != nil && !strings.Contains(err.Error(), "HTTP 503") {
			t.Errorf("error lacks the cause: %v", err)
		}
	}
	js.wantHits(t, 1, "%d fetches, want 1")
	js.setStatus(http.StatusOK)
	clock.Advance(time.Minute)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

// A JWKS endpoint that never answers is cut off by the fetch timeout.
func TestJWKSTimeout(t *testing.T) {
	t.Parallel()
	keys, js := newJWKSServerK1(t)
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	js.mu.Lock()
	js.hang = hang
	js.mu.Unlock()
	v := newTestVerifier(t, Config{JWKSTimeout: 200 * time.Millisecond}, newClock(), js)
	tok := signRS(t, jwt.SigningMethodRS256, keys[0], "k1", jwksClaims())
	start := time.Now()
	_, err := v.Verify(context.Background(), tok)
	assertRejected(t, err, ReasonKeysUnavailable, tok)
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Verify took %s despite a 200ms timeout", d)
	}
}

// Concurrent verifications needing the same fetch share it and all succeed.
func TestJWKSConcurrentFetchShared(t *testing.T) {
	t.Parallel()
	keys, js := newJWKSServerK1(t)
	js.mu.Lock()
	js.delay = 50 * time.Millisecond
	js.mu.Unlock()
	v := newTestVerifier(t, Config{}, newClock(), js)
	tok := signRS(t, jwt.SigningMethodRS256, keys[0], "k1", jwksClaims())

	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			_, err := v.Verify(context.Background(), tok)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Verify: %v", err)
		}
	}
	js.wantHits(t, 1, "%d fetches for 16 concurrent verifications, want 1")
}

func TestParseJWKS(t *testing.T) {
	t.Parallel()
	keys := testRSAKeys(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	good := jwkOf("k1", &keys[0].PublicKey)
	mod := func(m map[string]any, kv ...any) map[string]any {
		out := map[string]any{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i].(string)] = kv[i+1]
		}
		return out
	}
	set := func(ks ...map[string]any) string {
		b, _ := json.Marshal(map[string]any{"keys": ks})
		return string(b)
	}
	tests := []struct {
		name     string
		body     string
		wantKids []string
		wantErr  string
	}{
		{name: "one key", body: set(good), wantKids: []string{"k1"}},
		{name: "padded base64", body: set(mod(good, "n", good["n"].(string)+"==")), wantKids: []string{"k1"}},
		{name: "skips EC, enc, other alg", body: set(good,
			map[string]any{"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"},
			mod(good, "kid", "enc", "use", "enc"),
			mod(good, "kid", "ps", "alg", "PS256")), wantKids: []string{"k1"}},
		{name: "skips a weak key", body: set(good, jwkOf("weak", &small.PublicKey)), wantKids: []string{"k1"}},
		{name: "only a weak key", body: set(jwkOf("weak", &small.PublicKey)), wantErr: "1024 bits"},
		{name: "even exponent", body: set(mod(good, "e", "Ag")), wantErr: "bad exponent"},
		{name: "empty modulus", body: set(mod(good, "n", "")), wantErr: "modulus"},
		{name: "no keys", body: `{"keys":[]}`, wantErr: "no usable"},
		{name: "not JSON", body: `<html>`, wantErr: "decode"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseJWKS([]byte(tc.body))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.wantKids) {
				t.Fatalf("got %d keys, want %v", len(got), tc.wantKids)
			}
			for _, kid := range tc.wantKids {
				if got[kid] == nil || got[kid].N.Cmp(keys[0].N) != 0 {
					t.Errorf("key %q missing or wrong", kid)
				}
			}
		})
	}
}
