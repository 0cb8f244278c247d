package auth

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		want    func(Config) bool
		wantErr string
	}{
		{name: "nothing set", env: nil, wantErr: "CHECKOUT_JWT_SECRET"},
		{name: "only issuer", env: map[string]string{EnvIssuer: "x"}, wantErr: "no token key"},
		{name: "secret", env: map[string]string{EnvSecret: testSecret},
			want: func(c Config) bool { return string(c.Secret) == testSecret && c.JWKSURL == "" && c.Leeway == 0 }},
		{name: "short secret", env: map[string]string{EnvSecret: "short"}, wantErr: "at least 16"},
		{name: "jwks https", env: map[string]string{EnvJWKSURL: "https://idp.example/.well-known/jwks.json", EnvIssuer: "https://idp.example/", EnvAudience: "checkout"},
			want: func(c Config) bool {
				return c.JWKSURL == "https://idp.example/.well-known/jwks.json" && c.Issuer == "https://idp.example/" && c.Audience == "checkout"
			}},
		{name: "jwks http loopback", env: map[string]string{EnvJWKSURL: "http://127.0.0.1:8080/jwks", EnvIssuer: "i", EnvAudience: "a"}, want: func(c Config) bool { return c.JWKSURL != "" }},
		{name: "jwks http localhost", env: map[string]string{EnvJWKSURL: "http://localhost:8080/jwks", EnvIssuer: "i", EnvAudience: "a"}, want: func(c Config) bool { return c.JWKSURL != "" }},
		{name: "jwks without issuer", env: map[string]string{EnvJWKSURL: "https://idp.example/jwks", EnvAudience: "a"}, wantErr: "CHECKOUT_JWT_ISSUER and CHECKOUT_JWT_AUDIENCE are required"},
		{name: "jwks without audience", env: map[string]string{EnvJWKSURL: "https://idp.example/jwks", EnvIssuer: "i"}, wantErr: "CHECKOUT_JWT_ISSUER and CHECKOUT_JWT_AUDIENCE are required"},
		{name: "jwks http remote", env: map[string]string{EnvJWKSURL: "http://idp.example/jwks"}, wantErr: "must use https"},
		{name: "jwks no host", env: map[string]string{EnvJWKSURL: "https:///jwks"}, wantErr: "no host"},
		{name: "jwks garbage", env: map[string]string{EnvJWKSURL: "::not a url"}, wantErr: "CHECKOUT_JWKS_URL"},
		{name: "leeway", env: map[string]string{EnvSecret: testSecret, EnvLeeway: "2m"}, want: func(c Config) bool { return c.Leeway == 2*time.Minute }},
		{name: "leeway zero is strict", env: map[string]string{EnvSecret: testSecret, EnvLeeway: "0s"}, want: func(c Config) bool { return c.Leeway > 0 && c.Leeway < time.Microsecond }},
		{name: "leeway bad", env: map[string]string{EnvSecret: testSecret, EnvLeeway: "soon"}, wantErr: "CHECKOUT_JWT_LEEWAY"},
		{name: "leeway too big", env: map[string]string{EnvSecret: testSecret, EnvLeeway: "1h"}, wantErr: "out of range"},
		{name: "usage plan key", env: map[string]string{EnvSecret: testSecret, EnvUsagePlanKey: " key-1 "}, want: func(c Config) bool { return c.UsagePlanKey == "key-1" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := ConfigFromEnv(func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.want(cfg) {
				t.Errorf("config = %+v", cfg)
			}
			if _, err := NewVerifier(cfg); err != nil {
				t.Errorf("NewVerifier: %v", err)
			}
		})
	}
	_, err := ConfigFromEnv(func(string) string { return "" })
	if !errors.Is(err, ErrNoKeySource) {
		t.Errorf("err = %v, want ErrNoKeySource", err)
	}
}

func TestNewVerifierRejectsBadConfig(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{
		{},
		{Secret: []byte(testSecret), Leeway: -time.Second},
		{Secret: []byte(testSecret), JWKSTimeout: -time.Second},
		{JWKSURL: "ftp://idp.example/jwks"},
	} {
		if _, err := NewVerifier(cfg); err == nil {
			t.Errorf("NewVerifier(%+v) succeeded", cfg)
		}
	}
}
