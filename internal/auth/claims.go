package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
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
	Scope scopeString `json:"scope,omitempty"`
}

// scopeString is the "scope" claim in its one documented form (RFC 8693
// section 4.2, RFC 9068): a string of space-separated scopes. An array, or
// the "scp" convention of some identity providers, is not read: a token
// that carries its scopes another way grants none here, and one whose
// "scope" is not a string is malformed.
type scopeString []string

func (s *scopeString) UnmarshalJSON(data []byte) error {
	var str string
	if err := json.Unmarshal(data, &str); err != nil {
		return errors.New("scope must be a string of space-separated scopes")
	}
	*s = strings.Fields(str)
	return nil
}

// scopes returns the token's scopes without duplicates, in order.
func (t *tokenClaims) scopes() []string {
	var out []string
	for _, s := range t.Scope {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// checkNumericDates rejects a payload whose exp, nbf or iat is not a JSON
// number (RFC 7519 section 2, NumericDate). The JWT library decodes a quoted
// "1767225600" as a date too; a token that spells its expiry as a string
// was not made by a conforming issuer.
func checkNumericDates(token string) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil // the parser reports the malformed token
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil
	}
	var raw map[string]json.RawMessage
	if json.Unmarshal(payload, &raw) != nil {
		return nil
	}
	for _, name := range []string{"exp", "nbf", "iat"} {
		v, ok := raw[name]
		if !ok || string(v) == "null" {
			continue
		}
		var n json.Number
		dec := json.NewDecoder(bytes.NewReader(v))
		dec.UseNumber()
		var x any
		if dec.Decode(&x) != nil {
			return fmt.Errorf("%s is not a JSON number", name)
		}
		if n, ok = x.(json.Number); !ok || n == "" {
			return fmt.Errorf("%s must be a number of seconds (NumericDate), not %s", name, jsonKindOf(x))
		}
	}
	return nil
}

func jsonKindOf(x any) string {
	switch x.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return "this"
}
