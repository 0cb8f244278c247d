package auth

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"
)

// Environment variables read by ConfigFromEnv.
const (
	EnvSecret       = "CHECKOUT_JWT_SECRET"     // HS256 shared secret (local runtime)
	EnvJWKSURL      = "CHECKOUT_JWKS_URL"       // RS256 key set URL (production)
	EnvIssuer       = "CHECKOUT_JWT_ISSUER"     // expected iss; required with a JWKS, unchecked when empty with a local secret
	EnvAudience     = "CHECKOUT_JWT_AUDIENCE"   // expected aud; required with a JWKS, unchecked when empty with a local secret
	EnvLeeway       = "CHECKOUT_JWT_LEEWAY"     // clock-skew leeway, Go duration ("30s"); optional
	EnvUsagePlanKey = "CHECKOUT_USAGE_PLAN_KEY" // API key the authorizer returns as UsageIdentifierKey; optional
)

// Defaults applied by Config.withDefaults.
const (
	DefaultLeeway              = 30 * time.Second
	DefaultJWKSCacheTTL        = time.Hour
	DefaultJWKSRefreshInterval = time.Minute
	DefaultJWKSTimeout         = 5 * time.Second

	// MinSecretLen is the shortest HS256 secret accepted (bytes).
	MinSecretLen = 16
	// MaxLeeway bounds the configurable clock-skew leeway.
	MaxLeeway = 10 * time.Minute
)

// Config says which tokens a Verifier accepts. At least one of Secret and
// JWKSURL must be set; when both are, HS256 tokens are checked against the
// secret and RS256 tokens against the JWKS (never the other way round).
type Config struct {
	Secret   []byte // HS256 shared secret; enables HS256
	JWKSURL  string // https URL of a JWKS; enables RS256 (http only for loopback hosts)
	Issuer   string // when set, iss must equal it
	Audience string // when set, aud must contain it

	Leeway              time.Duration // clock skew allowed on exp/nbf/iat; 0 means DefaultLeeway (CHECKOUT_JWT_LEEWAY=0s sets 1ns: strict)
	JWKSCacheTTL        time.Duration // how long fetched keys are trusted without refetching; 0 means default
	JWKSRefreshInterval time.Duration // minimum time between two JWKS fetches; 0 means default
	JWKSTimeout         time.Duration // timeout of one JWKS fetch; 0 means default

	// UsagePlanKey is returned by the TOKEN authorizer as UsageIdentifierKey
	// (only used by API Gateway when the API key source is AUTHORIZER).
	UsagePlanKey string
}

// ErrNoKeySource is returned when neither a secret nor a JWKS URL is configured.
var ErrNoKeySource = errors.New("auth: no token key configured: set " + EnvSecret +
	" (HS256, local) or " + EnvJWKSURL + " (RS256, production)")

// LoadConfig reads the configuration from the process environment. See
// ConfigFromEnv.
func LoadConfig() (Config, error) { return ConfigFromEnv(os.Getenv) }

// ConfigFromEnv builds and validates a Config from getenv (os.Getenv in
// production). It fails with ErrNoKeySource (wrapped) when neither
// CHECKOUT_JWT_SECRET nor CHECKOUT_JWKS_URL is set, and with a descriptive
// error for a short secret, a bad URL or a bad leeway.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	cfg := Config{
		JWKSURL:      strings.TrimSpace(getenv(EnvJWKSURL)),
		Issuer:       strings.TrimSpace(getenv(EnvIssuer)),
		Audience:     strings.TrimSpace(getenv(EnvAudience)),
		UsagePlanKey: strings.TrimSpace(getenv(EnvUsagePlanKey)),
	}
	if s := getenv(EnvSecret); s != "" {
		cfg.Secret = []byte(s)
	}
	if s := strings.TrimSpace(getenv(EnvLeeway)); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return Config{}, fmt.Errorf("auth: %s=%q: %w", EnvLeeway, s, err)
		}
		if d == 0 {
			d = time.Nanosecond // explicit zero: as strict as the library allows
		}
		cfg.Leeway = d
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Validate reports the first problem with c, or nil.
func (c Config) Validate() error {
	if len(c.Secret) == 0 && c.JWKSURL == "" {
		return ErrNoKeySource
	}
	if len(c.Secret) > 0 && len(c.Secret) < MinSecretLen {
		return fmt.Errorf("auth: %s is %d bytes; use at least %d", EnvSecret, len(c.Secret), MinSecretLen)
	}
	if c.JWKSURL != "" {
		if err := validateJWKSURL(c.JWKSURL); err != nil {
			return err
		}
		// An identity provider's keys sign tokens for every app it serves:
		// without iss and aud, a token minted for another app would pass.
		if c.Issuer == "" || c.Audience == "" {
			return fmt.Errorf("auth: with %s set, %s and %s are required (the issuer and this API's audience), or tokens minted for other apps would be accepted",
				EnvJWKSURL, EnvIssuer, EnvAudience)
		}
	}
	if c.Leeway < 0 || c.Leeway > MaxLeeway {
		return fmt.Errorf("auth: leeway %s out of range [0, %s]", c.Leeway, MaxLeeway)
	}
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"JWKS cache TTL", c.JWKSCacheTTL}, {"JWKS refresh interval", c.JWKSRefreshInterval}, {"JWKS timeout", c.JWKSTimeout}} {
		if f.d < 0 {
			return fmt.Errorf("auth: %s must not be negative, got %s", f.name, f.d)
		}
	}
	return nil
}

// validateJWKSURL accepts https URLs, and http URLs whose host is loopback
// (a local identity provider).
func validateJWKSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("auth: %s: %w", EnvJWKSURL, err)
	}
	if u.Host == "" {
		return fmt.Errorf("auth: %s=%q has no host", EnvJWKSURL, raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
	}
	return fmt.Errorf("auth: %s=%q must use https", EnvJWKSURL, raw)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// algorithms lists the JWT algs c enables.
func (c Config) algorithms() []string {
	var algs []string
	if len(c.Secret) > 0 {
		algs = append(algs, "HS256")
	}
	if c.JWKSURL != "" {
		algs = append(algs, "RS256")
	}
	return algs
}

func (c Config) withDefaults() Config {
	if c.Leeway == 0 {
		c.Leeway = DefaultLeeway
	}
	if c.JWKSCacheTTL == 0 {
		c.JWKSCacheTTL = DefaultJWKSCacheTTL
	}
	if c.JWKSRefreshInterval == 0 {
		c.JWKSRefreshInterval = DefaultJWKSRefreshInterval
	}
	if c.JWKSTimeout == 0 {
		c.JWKSTimeout = DefaultJWKSTimeout
	}
	return c
}
