package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestMintRoundTrip(t *testing.T) {
	t.Parallel()
	secret := []byte(testSecret)
	tests := []struct {
		name      string
		cfg       Config
		opts      MintOptions
		wantAdmin bool
		wantTTL   time.Duration
	}{
		{name: "user, default TTL", cfg: Config{Secret: secret}, opts: MintOptions{Subject: "user-1", Now: t0}, wantTTL: DefaultMintTTL},
		{name: "admin", cfg: Config{Secret: secret}, opts: MintOptions{Subject: "ops", Admin: true, TTL: 10 * time.Minute, Now: t0},
			wantAdmin: true, wantTTL: 10 * time.Minute},
		{name: "issuer and audience checked", cfg: Config{Secret: secret, Issuer: "checkout-local", Audience: "checkout"},
			opts: MintOptions{Subject: "u", TTL: time.Minute, Issuer: "checkout-local", Audience: "checkout", Now: t0}, wantTTL: time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tok, err := Mint(secret, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			// The payload is what any JWT library would read.
			payload, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
			if err != nil {
				t.Fatal(err)
			}
			var raw map[string]any
			if err := json.Unmarshal(payload, &raw); err != nil {
				t.Fatal(err)
			}
			if raw["sub"] != tc.opts.Subject || int64(raw["exp"].(float64))-int64(raw["iat"].(float64)) != int64(tc.wantTTL/time.Second) {
				t.Errorf("payload = %s", payload)
			}
			if _, has := raw["scope"]; has != tc.wantAdmin {
				t.Errorf("scope present = %v, want %v: %s", has, tc.wantAdmin, payload)
			}

			clock := newClock()
			v := newTestVerifier(t, tc.cfg, clock, nil)
			c, err := v.Verify(context.Background(), tok)
			if err != nil {
				t.Fatalf("Verify(minted): %v", err)
			}
			if c.Subject != tc.opts.Subject || c.HasScope("admin") != tc.wantAdmin || !c.ExpiresAt.Equal(t0.Add(tc.wantTTL)) {
				t.Errorf("claims = %+v", c)
			}
			clock.Advance(tc.wantTTL + DefaultLeeway + time.Second)
			_, err = v.Verify(context.Background(), tok)
			assertRejected(t, err, ReasonExpired, tok)
		})
	}
}

func TestMintRejectedByOtherConfig(t *testing.T) {
	t.Parallel()
	tok, err := Mint([]byte(testSecret), MintOptions{Subject: "u", Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	other := newTestVerifier(t, Config{Secret: []byte("a-different-secret-0123")}, newClock(), nil)
	_, err = other.Verify(context.Background(), tok)
	assertRejected(t, err, ReasonBadSignature, tok)
	withIss := newTestVerifier(t, Config{Secret: []byte(testSecret), Issuer: "prod-idp"}, newClock(), nil)
	_, err = withIss.Verify(context.Background(), tok)
	assertRejected(t, err, ReasonWrongIssuer, tok)
}

func TestMintDefaultsToNow(t *testing.T) {
	t.Parallel()
	tok, err := Mint([]byte(testSecret), MintOptions{Subject: "u"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(Config{Secret: []byte(testSecret)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("token minted now rejected by a wall-clock verifier: %v", err)
	}
}

func TestMintErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		secret []byte
		opts   MintOptions
	}{
		{name: "empty secret", opts: MintOptions{Subject: "u"}},
		{name: "empty subject", secret: []byte(testSecret)},
		{name: "long subject", secret: []byte(testSecret), opts: MintOptions{Subject: strings.Repeat("x", 256)}},
		{name: "negative TTL", secret: []byte(testSecret), opts: MintOptions{Subject: "u", TTL: -time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tok, err := Mint(tc.secret, tc.opts); err == nil {
				t.Fatalf("Mint succeeded: %s", tok)
			}
		})
	}
}
