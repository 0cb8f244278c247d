package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestVerifyHS256(t *testing.T) {
	t.Parallel()
	secret := []byte(testSecret)
	other := []byte("another-secret-0123456789abcdef")
	rsaKey := testRSAKeys(t)[0]

	good := signHS(t, jwt.SigningMethodHS256, secret, claimsOK())
	parts := strings.Split(good, ".")
	evil := strings.Split(signHS(t, jwt.SigningMethodHS256, secret, with(claimsOK(), "sub", "admin-user")), ".")
	tampered := parts[0] + "." + evil[1] + "." + parts[2] // payload swapped, signature kept

	withIss := Config{Secret: secret, Issuer: "https://issuer.example"}
	withAud := Config{Secret: secret, Audience: "checkout-api"}
	plain := Config{Secret: secret}

	tests := []struct {
		name       string
		cfg        Config
		token      string
		wantReason Reason // "" means valid
		wantSub    string
		wantScopes []string
	}{
		{name: "good", cfg: plain, token: good, wantSub: "user-1"},
		{name: "scope string", cfg: plain, token: signHS(t, jwt.SigningMethodHS256, secret, with(claimsOK(), "scope", "admin  orders:read")),
			wantSub: "user-1", wantScopes: []string{"admin", "orders:read"}},
		{name: "scp is not read", cfg: plain, token: signHS(t, jwt.SigningMethodHS256, secret, with(claimsOK(), "scp", []string{"admin", "x"})),
			wantSub: "user-1"},
		{name: "scope string, scp ignored", cfg: plain, token: signHS(t, jwt.SigningMethodHS256, secret, with(claimsOK(), "scope", "a b", "scp", "admin")),
			wantSub: "user-1", wantScopes: []string{"a", "b"}},
		{name: "scope as an array", cfg: plain, token: signHS(t, jwt.SigningMethodHS256, secret, with(claimsOK(), "scope", []string{"admin"})),
			wantReason: ReasonMalformed},
		{name: "exp as a string", cfg: plain, token: signHS(t, jwt.SigningMethodHS256, secret, with(claimsOK(), "exp", fmt.Sprint(unix(time.Hour)))),
			wantReason: ReasonMalformed},
		{name: "iat as a string", cfg: plain, token: signHS(t, jwt.SigningMethodHS256, secret, with(claimsOK(), "iat", fmt.Sprint(unix(-time.Minute)))),
			wantReason: ReasonMalformed},
		{name: "nbf as a boolean", cfg: plain, token: signHS(t, jwt.SigningMethodHS256, secret, with(claimsOK(), "nbf", true)),
			wantReason: ReasonMalformed},
		{name: "expired", cfg: plain, token: signHS(t, jwt.SigningMethodHS256, secret, with(claimsOK(), "exp", unix(-time.Minute))), wantReason: ReasonExpired},
		{name: "expired within leeway", cfg: plain, token: signHS(t, jwt.SigningMethodHS256, secret, with(claimsOK(), "exp", unix(-10*time.Second))), wantSub: "user-1"},
		{name: "expired beyond custom leeway", cfg: Config{Secret: secret, Leeway: 5 * time.Second},
			token: signHS(t, jwt.SigningMethodHS256, secret, with(claimsOK(), "exp", unix(-10*time.Second))), wantReason: ReasonExpired},
		{name: "forged signature", cfg: plain, token: signHS(t, jwt.SigningMethodHS256, other, claimsOK()), wantReason: ReasonBadSignature},
		{name: "tampered payload", cfg: plain, token: tampered, wantReason: ReasonBadSignature},
		{name: "signature stripped", cfg: plain, token: parts[0] + "." + parts[1] + ".", wantReason: ReasonBadSignature},
		{name: "wrong alg HS512", cfg: plain, token: signHS(t, jwt.SigningMethodHS512, secret, claimsOK()), wantReason: ReasonUnsupportedAlg},
		{name: "wrong alg RS256 without JWKS", cfg: plain, token: signRS(t, jwt.SigningMethodRS256, rsaKey, "k1", claimsOK()), wantReason: ReasonUnsupportedAlg},
		{name: "alg none", cfg: plain, token: signNone(t, claimsOK()), wantReason: ReasonUnsupportedAlg},
		{name: "alg none uppercase", cfg: plain, token: rawToken(t, map[string]string{"alg": "NONE", "typ": "JWT"}, claimsOK(), ""), wantReason: ReasonUnsupportedAlg},
		{name: "alg unknown", cfg: plain, token: rawToken(t, map[string]string{"alg": "HS999"}, claimsOK(), "c2ln"), wantReason: ReasonUnsupportedAlg},
		{name: "alg missing", cfg: plain, token: rawToken(t, map[string]string{"typ": "JWT"}, claimsOK(), "c2ln"), wantReason: ReasonUnsupportedAlg},
		{name: "missing sub", cfg: plain, token: signHS(t, jwt.SigningMethodHS256, secret, with(claimsOK(), "sub", nil)), wantReason: ReasonMissingSub},
		{name: "blank sub", cfg: plain, token: signHS(t, jwt.SigningMethodHS256, secret, with(claimsOK(), "sub", "  ")), wantReason: ReasonMissingSub},
		{name: "sub 255 chars", cfg: plain, token: signHS(t, jwt.SigningMethodHS256, secret, with(claimsOK(), "sub", strings.Repeat("é", 255))), wantSub: strings.Repeat("é", 255)},
		{name: "sub 256 chars", cfg: plain, token: signHS(t, jwt.SigningMethodHS256, secret, with(claimsOK(), "sub", strings.Repeat("u", 256))), wantReason: ReasonInvalidSub},
		{name: "sub control char", cfg: plain, token: signHS(t, jwt.SigningMethodHS256, secret, with(claimsOK(), "sub", "u\n1")), wantReason: ReasonInvalidSub},
		{name: "sub not a string", cfg: plain, token: signHS(t, jwt.SigningMethodHS256, secret, with(claimsOK(), "sub", 42)), wantReason: ReasonMalformed},
		{name: "missing exp", cfg: plain, token: signHS(t, jwt.SigningMethodHS256, secret, with(claimsOK(), "exp", nil)), wantReason: ReasonMissingExp},
		{name: "exp not a number", cfg: plain, token: signHS(t, jwt.SigningMethodHS256, secret, with(claimsOK(), "exp", "tomorrow")), wantReason: ReasonMalformed},
		{name: "nbf in future", cfg: plain, token: signHS(t, jwt.SigningMethodHS256, secret, with(claimsOK(), "nbf", unix(5*time.Minute))), wantReason: ReasonNotYetValid},
		{name: "nbf within leeway", cfg: plain, token: signHS(t, jwt.SigningMethodHS256, secret, with(claimsOK(), "nbf", unix(20*time.Second))), wantSub: "user-1"},
		{name: "iat in future", cfg: plain, token: signHS(t, jwt.SigningMethodHS256, secret, with(claimsOK(), "iat", unix(5*time.Minute))), wantReason: ReasonIssuedInFuture},
		{name: "nbf after exp", cfg: plain, token: signHS(t, jwt.SigningMethodHS256, secret, with(claimsOK(), "nbf", unix(20*time.Second), "exp", unix(10*time.Second))), wantReason: ReasonBadTimes},
		{name: "iat after exp", cfg: plain, token: signHS(t, jwt.SigningMethodHS256, secret, with(claimsOK(), "iat", unix(20*time.Second), "exp", unix(10*time.Second))), wantReason: ReasonBadTimes},
		{name: "issuer right", cfg: withIss, token: signHS(t, jwt.SigningMethodHS256, secret, with(claimsOK(), "iss", "https://issuer.example")), wantSub: "user-1"},
		{name: "issuer wrong", cfg: withIss, token: signHS(t, jwt.SigningMethodHS256, secret, with(claimsOK(), "iss", "https://evil.example")), wantReason: ReasonWrongIssuer},
		{name: "issuer missing", cfg: withIss, token: good, wantReason: ReasonWrongIssuer},
		{name: "audience right string", cfg: withAud, token: signHS(t, jwt.SigningMethodHS256, secret, with(claimsOK(), "aud", "checkout-api")), wantSub: "user-1"},
		{name: "audience right in array", cfg: withAud, token: signHS(t, jwt.SigningMethodHS256, secret, with(claimsOK(), "aud", []string{"other", "checkout-api"})), wantSub: "user-1"},
		{name: "audience wrong", cfg: withAud, token: signHS(t, jwt.SigningMethodHS256, secret, with(claimsOK(), "aud", "other-api")), wantReason: ReasonWrongAudience},
		{name: "audience missing", cfg: withAud, token: good, wantReason: ReasonWrongAudience},
		{name: "iss and aud unchecked when unconfigured", cfg: plain,
			token: signHS(t, jwt.SigningMethodHS256, secret, with(claimsOK(), "iss", "whoever", "aud", "anything")), wantSub: "user-1"},
		{name: "expired wins over wrong issuer", cfg: withIss,
			token: signHS(t, jwt.SigningMethodHS256, secret, with(claimsOK(), "iss", "evil", "exp", unix(-time.Hour))), wantReason: ReasonExpired},
		{name: "scope wrong type", cfg: plain, token: signHS(t, jwt.SigningMethodHS256, secret, with(claimsOK(), "scope", 7)), wantReason: ReasonMalformed},
		{name: "empty", cfg: plain, token: "", wantReason: ReasonMissingToken},
		{name: "garbage", cfg: plain, token: "not-a-jwt", wantReason: ReasonMalformed},
		{name: "bad base64", cfg: plain, token: "a!.b!.c!", wantReason: ReasonMalformed},
		{name: "too long", cfg: plain, token: signHS(t, jwt.SigningMethodHS256, secret, with(claimsOK(), "pad", strings.Repeat("x", MaxTokenLen))), wantReason: ReasonMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := newTestVerifier(t, tc.cfg, newClock(), nil)
			c, err := v.Verify(context.Background(), tc.token)
			if tc.wantReason != "" {
				assertRejected(t, err, tc.wantReason, tc.token)
				if c.Subject != "" {
					t.Errorf("rejected token still returned subject %q", c.Subject)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: unexpected error %v", err)
			}
			if c.Subject != tc.wantSub {
				t.Errorf("Subject = %q, want %q", c.Subject, tc.wantSub)
			}
			if strings.Join(c.Scopes, " ") != strings.Join(tc.wantScopes, " ") {
				t.Errorf("Scopes = %q, want %q", c.Scopes, tc.wantScopes)
			}
			if c.ExpiresAt.IsZero() {
				t.Error("ExpiresAt not set")
			}
		})
	}
}

func assertRejected(t *testing.T, err error, want Reason, token string) {
	t.Helper()
	if err == nil {
		t.Fatalf("Verify accepted the token, want reason %s", want)
	}
	if got := ReasonOf(err); got != want {
		t.Errorf("reason = %q, want %q (err: %v)", got, want, err)
	}
	if !errors.Is(err, ErrUnauthorized) {
		t.Errorf("errors.Is(err, ErrUnauthorized) = false for %v", err)
	}
	if len(token) > 20 && strings.Contains(err.Error(), token) {
		t.Errorf("error text contains the token")
	}
}

func TestVerifyClaimsFields(t *testing.T) {
	t.Parallel()
	secret := []byte(testSecret)
	v := newTestVerifier(t, Config{Secret: secret, Issuer: "iss-1", Audience: "aud-1"}, newClock(), nil)
	tok := signHS(t, jwt.SigningMethodHS256, secret, with(claimsOK(), "iss", "iss-1", "aud", "aud-1", "jti", "j-9", "scope", "admin"))
	c, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if !c.ExpiresAt.Equal(t0.Add(time.Hour)) || !c.IssuedAt.Equal(t0.Add(-time.Minute)) {
		t.Errorf("times = exp %v iat %v", c.ExpiresAt, c.IssuedAt)
	}
	if c.Issuer != "iss-1" || len(c.Audience) != 1 || c.Audience[0] != "aud-1" || c.ID != "j-9" {
		t.Errorf("claims = %+v", c)
	}
	if !c.HasScope("admin") || c.HasScope("Admin") || c.HasScope("adm") {
		t.Errorf("HasScope wrong for scopes %q", c.Scopes)
	}
}

// The clock is the verifier's: the same token flips from valid to expired
// when time passes the leeway.
func TestVerifyUsesClock(t *testing.T) {
	t.Parallel()
	secret := []byte(testSecret)
	clock := newClock()
	v := newTestVerifier(t, Config{Secret: secret}, clock, nil)
	tok := signHS(t, jwt.SigningMethodHS256, secret, with(claimsOK(), "exp", unix(time.Minute)))
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("fresh: %v", err)
	}
	clock.Advance(time.Minute + 29*time.Second)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("within leeway: %v", err)
	}
	clock.Advance(2 * time.Second)
	_, err := v.Verify(context.Background(), tok)
	assertRejected(t, err, ReasonExpired, tok)
}
