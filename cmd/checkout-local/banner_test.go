package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/checkout-dev/checkout/internal/local/stack"
)

// TestBannerNamesTheDashboard: the banner says where the API and the local
// dashboard (/_dev/ on the API's address) are.
func TestBannerNamesTheDashboard(t *testing.T) {
	s := &stack.Stack{APIURL: "http://127.0.0.1:3000", DashboardURL: "http://127.0.0.1:3000/_dev/",
		SFNURL: "http://127.0.0.1:8083", SQSURL: "http://127.0.0.1:9324"}
	var b strings.Builder
	if err := banner(&b, s, stack.Options{APIKey: "k", JWTSecret: stack.DefaultJWTSecret, DataDir: ".data"}, 0); err != nil {
		t.Fatal(err)
	}
	for _, re := range []string{`(?m)^  API             http://127\.0\.0\.1:3000 `, `(?m)^  Dashboard       http://127\.0\.0\.1:3000/_dev/$`} {
		if !regexp.MustCompile(re).MatchString(b.String()) {
			t.Errorf("banner does not match %s:\n%s", re, b.String())
		}
	}
}
