package stripefake

import (
	"net/http"
	"strings"
)

// authenticate returns the request's API key, or Stripe's 401 error.
func (f *Fake) authenticate(r *http.Request) (string, *apiError) {
	key := ""
	if user, _, ok := r.BasicAuth(); ok {
		key = user
	} else if a := r.Header.Get("Authorization"); a != "" {
		scheme, rest, _ := strings.Cut(a, " ")
		if strings.EqualFold(scheme, "Bearer") {
			key = strings.TrimSpace(rest)
		} else {
			key = "\x00invalid"
		}
	}
	if key == "" {
		e := invalidRequest(http.StatusUnauthorized, "", "", "You did not provide an API key. You need to provide your API key "+
			"in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). "+
			"See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.")
		e.noStore = true
		return "", e
	}
	valid := false
	if f.opts.APIKey != "" {
		valid = key == f.opts.APIKey
	} else {
		valid = (strings.HasPrefix(key, "sk_test_") || strings.HasPrefix(key, "rk_test_")) && len(key) > len("sk_test_")
	}
	if !valid {
		e := invalidRequest(http.StatusUnauthorized, "", "", "Invalid API Key provided: "+redactKey(key))
		e.noStore = true
		return "", e
	}
	return key, nil
}

func redactKey(k string) string {
	if strings.HasPrefix(k, "\x00") {
		return "(malformed Authorization header)"
	}
	if len(k) <= 12 {
		return strings.Repeat("*", len(k))
	}
	return k[:8] + strings.Repeat("*", len(k)-12) + k[len(k)-4:]
}
