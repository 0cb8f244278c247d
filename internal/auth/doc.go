// Package auth verifies the bearer JWTs that callers of the checkout API
// present, and implements the API Gateway TOKEN authorizer built on top of it.
//
// Two key sources are supported, chosen by Config:
//
//   - RS256 with public keys from a JWKS URL (production identity providers).
//     Keys are cached by "kid" for a TTL; an unknown kid triggers a refresh,
//     at most once per refresh interval (one minute by default).
//   - HS256 with a shared secret (CHECKOUT_JWT_SECRET, the local runtime), so
//     any JWT library can mint a development token; Mint does it for us.
//
// Every verification failure is an *Error carrying a Reason for the logs;
// errors.Is(err, ErrUnauthorized) holds for all of them, and callers show
// clients nothing more than "unauthorized". Tokens are never logged.
package auth
