package api_test

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/checkout-dev/checkout/internal/api"
	"github.com/checkout-dev/checkout/internal/saga"
	"github.com/checkout-dev/checkout/internal/webhook"
)

type doc = map[string]any

func loadSpec(t *testing.T) doc {
	t.Helper()
	raw, err := os.ReadFile("../../api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var d doc
	if err := yaml.Unmarshal(raw, &d); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	return d
}

// resolve follows a local $ref ("#/components/...") in d.
func resolve(t *testing.T, d doc, v any) doc {
	t.Helper()
	m, _ := v.(doc)
	for m != nil {
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		var cur any = d
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			cm, _ := cur.(doc)
			cur = cm[part]
		}
		if cur == nil {
			t.Fatalf("unresolvable $ref %s", ref)
		}
		m, _ = cur.(doc)
	}
	return m
}

type routeSpec struct {
	method, path, access string
	statuses             []int
}

// handlerRoutes is every route the two HTTP handlers serve, from their own
// route tables.
func handlerRoutes() []routeSpec {
	var out []routeSpec
	for _, r := range api.Routes() {
		out = append(out, routeSpec{r.Method, r.Path, r.Access, r.Statuses})
	}
	return append(out, routeSpec{webhook.Method, webhook.Path, "public", webhook.Statuses})
}

func TestOpenAPIMatchesTheHandlers(t *testing.T) {
	t.Parallel()
	d := loadSpec(t)
	if v, _ := d["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		t.Fatalf("openapi version %q; want 3.1.x", v)
	}
	paths, _ := d["paths"].(doc)
	var documented []string
	for p, item := range paths {
		for m := range item.(doc) {
			switch m {
			case "get", "put", "post", "delete", "patch", "head", "options":
				documented = append(documented, strings.ToUpper(m)+" "+p)
			}
		}
	}
	var served []string
	for _, r := range handlerRoutes() {
		served = append(served, r.method+" "+r.path)
	}
	sort.Strings(documented)
	sort.Strings(served)
	if !slices.Equal(documented, served) {
		t.Fatalf("documented routes\n  %v\nserved routes\n  %v", documented, served)
	}

	for _, r := range handlerRoutes() {
		t.Run(r.method+" "+r.path, func(t *testing.T) {
			op := paths[r.path].(doc)[strings.ToLower(r.method)].(doc)
			responses, _ := op["responses"].(doc)
			for _, s := range r.statuses {
				resp := resolve(t, d, responses[strconv.Itoa(s)])
				if resp == nil {
					t.Errorf("status %d is answered but not documented", s)
					continue
				}
				if s >= 400 {
					content, _ := resp["content"].(doc)
					js := resolve(t, d, content["application/json"])
					schema, _ := js["schema"].(doc)
					if schema["$ref"] != "#/components/schemas/Error" {
						t.Errorf("status %d does not use the Error schema", s)
					}
				}
			}
			// Path parameters are declared.
			declared := map[string]bool{}
			params, _ := op["parameters"].([]any)
			for _, p := range params {
				pm := resolve(t, d, p)
				if pm["in"] == "path" {
					declared[pm["name"].(string)] = true
				}
			}
			for _, seg := range strings.Split(r.path, "/") {
				if strings.HasPrefix(seg, "{") && !declared[strings.Trim(seg, "{}")] {
					t.Errorf("path parameter %s is not declared", seg)
				}
			}
			// Security follows the route's access.
			sec := fmt.Sprint(op["security"])
			want := map[string]string{
				"public":  "[]",
				"api_key": "[map[apiKey:[]]]",
				"user":    "[map[apiKey:[] bearerAuth:[]]]",
				"admin":   "[map[apiKey:[] bearerAuth:[]]]",
			}[r.access]
			if sec != want {
				t.Errorf("security %s; want %s for %s access", sec, want, r.access)
			}
		})
	}
}

func TestOpenAPIHeadersAndSchemes(t *testing.T) {
	t.Parallel()
	d := loadSpec(t)
	schemes := d["components"].(doc)["securitySchemes"].(doc)
	if b := schemes["bearerAuth"].(doc); b["type"] != "http" || b["scheme"] != "bearer" || b["bearerFormat"] != "JWT" {
		t.Errorf("bearerAuth %v", b)
	}
	if k := schemes["apiKey"].(doc); k["type"] != "apiKey" || k["in"] != "header" || k["name"] != "x-api-key" {
		t.Errorf("apiKey %v", k)
	}
	post := d["paths"].(doc)["/v1/checkouts"].(doc)["post"].(doc)
	var hasKey bool
	for _, p := range post["parameters"].([]any) {
		pm := resolve(t, d, p)
		hasKey = hasKey || (pm["name"] == "Idempotency-Key" && pm["in"] == "header" && pm["required"] == true)
	}
	if !hasKey {
		t.Error("POST /v1/checkouts does not require the Idempotency-Key header")
	}
	accepted := resolve(t, d, post["responses"].(doc)["202"])
	headers, _ := accepted["headers"].(doc)
	for _, h := range []string{"Location", "Retry-After"} {
		if resolve(t, d, headers[h]) == nil {
			t.Errorf("202 does not document %s", h)
		}
	}
	unavailable := resolve(t, d, post["responses"].(doc)["503"])
	if h, _ := unavailable["headers"].(doc); resolve(t, d, h["Retry-After"]) == nil {
		t.Error("503 does not document Retry-After")
	}
	// Every $ref anywhere resolves.
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case doc:
			if _, ok := x["$ref"]; ok {
				resolve(t, d, x)
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(d)
}

// TestOpenAPIListsEveryFailureCode: the spec's failure.code enum is exactly
// the set of codes a checkout can end with, so a client can switch on it.
func TestOpenAPIListsEveryFailureCode(t *testing.T) {
	t.Parallel()
	d := loadSpec(t)
	co := resolve(t, d, d["components"].(doc)["schemas"].(doc)["Checkout"])
	failure := resolve(t, d, co["properties"].(doc)["failure"])
	code := resolve(t, d, failure["properties"].(doc)["code"])
	var documented []string
	for _, v := range code["enum"].([]any) {
		documented = append(documented, v.(string))
	}
	sort.Strings(documented)
	if want := saga.FailureCodes(); !slices.Equal(documented, want) {
		t.Fatalf("openapi failure.code enum = %v\nthe saga records %v", documented, want)
	}
}
