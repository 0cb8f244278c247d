package postgres

import (
	"bytes"
	"encoding/json"
	"strings"
)

// JSONB returns raw as text PostgreSQL's jsonb accepts, or ok=false when raw
// is not JSON. jsonb refuses the escape \u0000 (it cannot hold a NUL in a
// string), which valid JSON from outside (a webhook payload, a gateway
// response) may contain: such documents are re-encoded with every NUL
// written as the six visible characters \u0000, so the rest of the document
// is kept and stays queryable. Everything else is returned unchanged.
func JSONB(raw []byte) (doc string, ok bool) {
	if !json.Valid(raw) {
		return "", false
	}
	if !bytes.Contains(raw, []byte(`\u0000`)) {
		return string(raw), true
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", false
	}
	out, err := json.Marshal(stripNUL(v))
	if err != nil {
		return "", false
	}
	return string(out), true
}

func stripNUL(v any) any {
	switch v := v.(type) {
	case string:
		return strings.ReplaceAll(v, "\x00", `\u0000`)
	case []any:
		for i := range v {
			v[i] = stripNUL(v[i])
		}
		return v
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[strings.ReplaceAll(k, "\x00", `\u0000`)] = stripNUL(x)
		}
		return m
	}
	return v
}
