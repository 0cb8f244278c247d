package auth

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MaxSubjectLen is the longest accepted "sub" claim, in characters.
const MaxSubjectLen = 255

// Claims are the verified facts of a token.
type Claims struct {
	Subject   string    // the user id ("sub"); 1–255 characters
	Scopes    []string  // from "scope" (space-separated) or "scp" (array or string); nil when none
	ExpiresAt time.Time // "exp"; always set on a verified token
	IssuedAt  time.Time // "iat"; zero when absent
	Issuer    string    // "iss"; may be empty when no issuer is configured
	Audience  []string  // "aud"
	ID        string    // "jti"
}

// HasScope reports whether the token grants scope (exact, case-sensitive match).
func (c Claims) HasScope(scope string) bool { return slices.Contains(c.Scopes, scope) }

// tokenClaims is the wire form parsed from the JWT payload.
type tokenClaims struct {
	jwt.RegisteredClaims
	Scope scopeList `json:"scope,omitempty"`
	Scp   scopeList `json:"scp,omitempty"`
}

// scopeList decodes a scope claim given either as a space-separated string
// (RFC 8693 "scope") or as an array of strings (the "scp" convention).
type scopeList []string

func (s *scopeList) UnmarshalJSON(data []byte) error {
	var str string
	if err := json.Unmarshal(data, &str); err == nil {
		*s = strings.Fields(str)
		return nil
	}
	var arr []string
	if err := json.Unmarshal(data, &arr); err != nil {
		return errors.New("scope must be a string or an array of strings")
	}
	out := make([]string, 0, len(arr))
	for _, a := range arr {
		out = append(out, strings.Fields(a)...)
	}
	*s = out
	return nil
}

// scopes merges scope and scp, without duplicates, in order of appearance.
func (t *tokenClaims) scopes() []string {
	var out []string
	for _, s := range slices.Concat(t.Scope, t.Scp) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
