package auth

import (
	"errors"
	"fmt"
)

// ErrUnauthorized is the one error the TOKEN authorizer returns for a
// missing or invalid token: API Gateway maps exactly the message
// "Unauthorized" to a 401 response. Every *Error matches it with errors.Is.
var ErrUnauthorized = errors.New("Unauthorized")

// Reason says why a token was rejected. It is meant for logs and metrics,
// never for API clients.
type Reason string

// Reasons a token is rejected.
const (
	ReasonMissingToken    Reason = "missing_token"      // no bearer token at all
	ReasonMalformed       Reason = "malformed"          // not a well-formed JWT (encoding, JSON, claim types, size)
	ReasonUnsupportedAlg  Reason = "unsupported_alg"    // alg is "none" or not one the configuration accepts
	ReasonUnknownKey      Reason = "unknown_key"        // no JWKS key with the token's kid (or kid missing)
	ReasonKeysUnavailable Reason = "keys_unavailable"   // the JWKS could not be fetched and no cached key fits
	ReasonBadSignature    Reason = "bad_signature"      // the signature does not verify
	ReasonExpired         Reason = "expired"            // exp is in the past (beyond the leeway)
	ReasonMissingExp      Reason = "missing_exp"        // no exp claim
	ReasonNotYetValid     Reason = "not_yet_valid"      // nbf is in the future (beyond the leeway)
	ReasonIssuedInFuture  Reason = "issued_in_future"   // iat is in the future (beyond the leeway)
	ReasonBadTimes        Reason = "inconsistent_times" // nbf or iat after exp
	ReasonMissingSub      Reason = "missing_sub"        // sub missing or blank
	ReasonInvalidSub      Reason = "invalid_sub"        // sub longer than 255 characters or with control characters
	ReasonWrongIssuer     Reason = "wrong_issuer"       // iss differs from the configured issuer
	ReasonWrongAudience   Reason = "wrong_audience"     // aud lacks the configured audience
)

// Error is a rejected token. Reason is stable; Err (the underlying cause,
// possibly from the JWT library or the JWKS fetch) is for logs only. Neither
// ever contains the token itself.
type Error struct {
	Reason Reason
	Err    error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("auth: token rejected (%s): %v", e.Reason, e.Err)
	}
	return fmt.Sprintf("auth: token rejected (%s)", e.Reason)
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes every *Error match ErrUnauthorized.
func (e *Error) Is(target error) bool { return target == ErrUnauthorized }

// ReasonOf returns the Reason of err, or "" when err is not an *Error.
func ReasonOf(err error) Reason {
	var ae *Error
	if errors.As(err, &ae) {
		return ae.Reason
	}
	return ""
}

func reject(reason Reason, err error) *Error { return &Error{Reason: reason, Err: err} }
