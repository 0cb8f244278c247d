package main

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/checkout-dev/checkout/internal/local/stack"
)

// parameterOverrides reads CHECKOUT_PARAMETER_OVERRIDES: template parameter
// values as `sam deploy --parameter-overrides` takes them, space-separated
// Key=Value pairs (a value may be quoted), e.g.
// "WafIpRateLimit=100000000 ThrottleRateLimit=5000".
func parameterOverrides() (map[string]string, error) {
	raw := strings.TrimSpace(os.Getenv("CHECKOUT_PARAMETER_OVERRIDES"))
	if raw == "" {
		return nil, nil
	}
	out := map[string]string{}
	for _, f := range fieldsQuoted(raw) {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("CHECKOUT_PARAMETER_OVERRIDES: %q is not Key=Value (write e.g. \"WafIpRateLimit=100000000 ThrottleRateLimit=5000\")", f)
		}
		out[k] = strings.Trim(v, `"'`)
	}
	return out, nil
}

// fieldsQuoted splits s at spaces outside single or double quotes.
func fieldsQuoted(s string) []string {
	var out []string
	var cur strings.Builder
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
			cur.WriteRune(r)
		case quote == 0 && (r == '"' || r == '\''):
			quote = r
			cur.WriteRune(r)
		case quote == 0 && (r == ' ' || r == '\t' || r == '\n'):
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// lambdaFaults reads CHECKOUT_LAMBDA_FAULT_RATE (0..1): the share of saga
// step invocations whose local Lambda runtime fails like AWS's (torture
// runs only).
func lambdaFaults() (*stack.LambdaFaults, error) {
	raw := os.Getenv("CHECKOUT_LAMBDA_FAULT_RATE")
	if raw == "" {
		return nil, nil
	}
	rate, err := strconv.ParseFloat(raw, 64)
	if err != nil || rate < 0 || rate > 1 {
		return nil, fmt.Errorf("CHECKOUT_LAMBDA_FAULT_RATE=%q: want a number between 0 and 1", raw)
	}
	return &stack.LambdaFaults{Rate: rate}, nil
}

// describeOverrides prints the overrides in a stable order for the banner.
func describeOverrides(p map[string]string) string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + p[k]
	}
	return strings.Join(parts, " ")
}
