package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultMintTTL is the lifetime of a minted token when MintOptions.TTL is 0.
const DefaultMintTTL = time.Hour

// MintOptions describe a development token.
type MintOptions struct {
	Subject  string        // the user id; required, 1–255 characters
	Admin    bool          // adds scope "admin"
	TTL      time.Duration // lifetime; 0 means DefaultMintTTL; negative is an error
	Issuer   string        // iss, omitted when empty
	Audience string        // aud, omitted when empty
	Now      time.Time     // issue time; zero means time.Now()
}

// Mint signs a development token with HS256 and secret: claims sub, iat,
// nbf, exp (= now + TTL), plus iss and aud when given and scope "admin" when
// Admin. A Verifier configured with the same secret (and the same issuer and
// audience, if it checks them) accepts it until it expires.
func Mint(secret []byte, o MintOptions) (string, error) {
	if len(secret) == 0 {
		return "", errors.New("auth: mint: empty secret")
	}
	if err := checkSubject(o.Subject); err != nil {
		return "", fmt.Errorf("auth: mint: bad subject: %w", err)
	}
	if o.TTL < 0 {
		return "", fmt.Errorf("auth: mint: negative TTL %s", o.TTL)
	}
	if o.TTL == 0 {
		o.TTL = DefaultMintTTL
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	now = now.Truncate(time.Second)
	claims := mintClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   o.Subject,
			Issuer:    o.Issuer,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(o.TTL)),
		},
	}
	if o.Audience != "" {
		claims.Audience = jwt.ClaimStrings{o.Audience}
	}
	if o.Admin {
		claims.Scope = "admin"
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("auth: mint: sign: %w", err)
	}
	return s, nil
}

type mintClaims struct {
	jwt.RegisteredClaims
	Scope string `json:"scope,omitempty"`
}
