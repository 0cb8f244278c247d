package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// MaxTokenLen bounds the size of a token accepted for parsing (bytes).
const MaxTokenLen = 8 << 10

// Verifier checks bearer JWTs. It is safe for concurrent use.
type Verifier struct {
	cfg    Config
	algs   []string
	parser *jwt.Parser
	keys   *keySet // nil unless a JWKS URL is configured
}

// Option adjusts a Verifier.
type Option func(*verifierOptions)

type verifierOptions struct {
	client *http.Client
	now    func() time.Time
}

// WithHTTPClient sets the client used to fetch the JWKS (tests use the
// httptest TLS server's client). The per-fetch timeout still applies.
func WithHTTPClient(c *http.Client) Option { return func(o *verifierOptions) { o.client = c } }

// WithClock sets the clock used for exp/nbf/iat checks and the JWKS cache.
func WithClock(now func() time.Time) Option { return func(o *verifierOptions) { o.now = now } }

// NewVerifier validates cfg and returns a Verifier. It performs no network
// I/O: the JWKS is fetched on the first RS256 token.
func NewVerifier(cfg Config, opts ...Option) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	o := verifierOptions{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if o.client == nil {
		o.client = &http.Client{Timeout: cfg.JWKSTimeout, CheckRedirect: checkJWKSRedirect}
	}
	v := &Verifier{cfg: cfg, algs: cfg.algorithms()}
	popts := []jwt.ParserOption{
		jwt.WithValidMethods(v.algs),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(o.now),
		jwt.WithStrictDecoding(),
	}
	if cfg.Issuer != "" {
		popts = append(popts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		popts = append(popts, jwt.WithAudience(cfg.Audience))
	}
	v.parser = jwt.NewParser(popts...)
	if cfg.JWKSURL != "" {
		v.keys = newKeySet(cfg.JWKSURL, o.client, cfg.JWKSCacheTTL, cfg.JWKSRefreshInterval, cfg.JWKSTimeout, o.now)
	}
	return v, nil
}

// checkJWKSRedirect follows at most 3 redirects, never to a plain-http
// non-loopback URL.
func checkJWKSRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 3 {
		return errors.New("too many JWKS redirects")
	}
	return validateJWKSURL(req.URL.String())
}

// Verify checks token (the bare JWT, without "Bearer ") and returns its
// claims. It checks, in this order: size and encoding, the algorithm (only
// HS256 with a secret and RS256 with a JWKS are ever accepted, never
// "none"), the signature, exp (required, not past beyond the leeway), nbf and
// iat (numbers, not strings; not in the future beyond the leeway, not after
// exp), iss and aud when configured (always, with a JWKS), scope (a
// space-separated string when present), and sub (1–255 characters, no control characters).
//
// Every failure is an *Error (errors.Is(err, ErrUnauthorized) holds) whose
// Reason says why; the error text never contains the token. ctx bounds a
// JWKS fetch, if one is needed.
func (v *Verifier) Verify(ctx context.Context, token string) (Claims, error) {
	if token == "" {
		return Claims{}, reject(ReasonMissingToken, nil)
	}
	if len(token) > MaxTokenLen {
		return Claims{}, reject(ReasonMalformed, fmt.Errorf("token is %d bytes, limit %d", len(token), MaxTokenLen))
	}
	if err := checkNumericDates(token); err != nil {
		return Claims{}, reject(ReasonMalformed, err)
	}
	var tc tokenClaims
	tok, err := v.parser.ParseWithClaims(token, &tc, v.keyFunc(ctx))
	if err != nil {
		return Claims{}, v.classify(tok, &tc, err)
	}
	if err := checkSubject(tc.Subject); err != nil {
		return Claims{}, err
	}
	exp := tc.ExpiresAt.Time
	if tc.NotBefore != nil && tc.NotBefore.After(exp) {
		return Claims{}, reject(ReasonBadTimes, errors.New("nbf is after exp"))
	}
	if tc.IssuedAt != nil && tc.IssuedAt.After(exp) {
		return Claims{}, reject(ReasonBadTimes, errors.New("iat is after exp"))
	}
	c := Claims{
		Subject:   tc.Subject,
		Scopes:    tc.scopes(),
		ExpiresAt: exp,
		Issuer:    tc.Issuer,
		Audience:  []string(tc.Audience),
		ID:        tc.ID,
	}
	if tc.IssuedAt != nil {
		c.IssuedAt = tc.IssuedAt.Time
	}
	return c, nil
}

// keyFunc picks the verification key by the token's alg: the secret for
// HS256, the JWKS key named by kid for RS256. A key of one family is never
// used for the other (no RSA public key used as an HMAC secret).
func (v *Verifier) keyFunc(ctx context.Context) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		switch alg := t.Method.Alg(); {
		case alg == jwt.SigningMethodHS256.Alg() && len(v.cfg.Secret) > 0:
			return v.cfg.Secret, nil
		case alg == jwt.SigningMethodRS256.Alg() && v.keys != nil:
			var kid string
			if raw, ok := t.Header["kid"]; ok {
				if kid, ok = raw.(string); !ok {
					return nil, reject(ReasonMalformed, errors.New("kid header is not a string"))
				}
			}
			return v.keys.key(ctx, kid)
		default:
			return nil, reject(ReasonUnsupportedAlg, fmt.Errorf("alg %q not accepted", alg))
		}
	}
}

// classify turns a parser error into an *Error with the most useful reason.
func (v *Verifier) classify(tok *jwt.Token, tc *tokenClaims, err error) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae // from keyFunc
	}
	if errors.Is(err, jwt.ErrTokenMalformed) {
		return reject(ReasonMalformed, err)
	}
	if tok != nil {
		if alg, _ := tok.Header["alg"].(string); !slices.Contains(v.algs, alg) {
			return reject(ReasonUnsupportedAlg, fmt.Errorf("alg %q not accepted", alg))
		}
	}
	if errors.Is(err, jwt.ErrTokenSignatureInvalid) {
		return reject(ReasonBadSignature, err)
	}
	if !errors.Is(err, jwt.ErrTokenInvalidClaims) {
		return reject(ReasonMalformed, err)
	}
	switch {
	case tc.ExpiresAt == nil:
		return reject(ReasonMissingExp, err)
	case errors.Is(err, jwt.ErrTokenExpired):
		return reject(ReasonExpired, err)
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return reject(ReasonNotYetValid, err)
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return reject(ReasonIssuedInFuture, err)
	case errors.Is(err, jwt.ErrTokenInvalidIssuer),
		v.cfg.Issuer != "" && tc.Issuer == "":
		return reject(ReasonWrongIssuer, err)
	case errors.Is(err, jwt.ErrTokenInvalidAudience),
		v.cfg.Audience != "" && len(tc.Audience) == 0:
		return reject(ReasonWrongAudience, err)
	}
	return reject(ReasonMalformed, err)
}

// checkSubject enforces 1–255 characters, not blank, no control characters.
func checkSubject(sub string) error {
	if strings.TrimSpace(sub) == "" {
		return reject(ReasonMissingSub, nil)
	}
	if n := utf8.RuneCountInString(sub); n > MaxSubjectLen || !utf8.ValidString(sub) {
		return reject(ReasonInvalidSub, fmt.Errorf("sub has %d characters, limit %d", n, MaxSubjectLen))
	}
	if strings.IndexFunc(sub, unicode.IsControl) >= 0 {
		return reject(ReasonInvalidSub, errors.New("sub contains control characters"))
	}
	return nil
}
