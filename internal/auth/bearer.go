package auth

import "strings"

// BearerToken extracts the token from an Authorization header value of the
// form "Bearer <token>" (scheme case-insensitive, surrounding blanks
// ignored). It returns false for an empty header, another scheme, an empty
// token or a token containing blanks.
func BearerToken(header string) (string, bool) {
	header = strings.TrimSpace(header)
	scheme, token, found := strings.Cut(header, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	if token == "" || strings.ContainsAny(token, " \t\r\n") {
		return "", false
	}
	return token, true
}
