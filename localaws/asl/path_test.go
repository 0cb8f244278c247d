package asl

import (
	"testing"
)

func TestPathGet(t *testing.T) {
	t.Parallel()
	doc, _ := decodeJSON([]byte(`{"a":{"b c":[10,{"d":true}],"e":null},"vals":[0,10,20,30,40,50],"x.y":1}`))
	tests := []struct {
		path    string
		want    string
		wantErr bool
	}{
		{"$", `{"a":{"b c":[10,{"d":true}],"e":null},"vals":[0,10,20,30,40,50],"x.y":1}`, false},
		{"$.a.e", `null`, false},
		{"$.a['b c'][0]", `10`, false},
		{`$.a["b c"][1].d`, `true`, false},
		{"$['x.y']", `1`, false},
		{"$.vals[0]", `0`, false},
		// the spec's Parameters example: "last3.$": "$.vals[-3:]"
		{"$.vals[-3:]", `[30,40,50]`, false},
		{"$.vals[1:3]", `[10,20]`, false},
		{"$.vals[*]", `[0,10,20,30,40,50]`, false},
		{"$.missing", ``, true},
		{"$.a.e.f", ``, true},
		{"$.vals[6]", ``, true},
		{"$.a.b", ``, true},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			p, err := ParsePath(tt.path)
			if err != nil {
				t.Fatalf("ParsePath: %v", err)
			}
			got, err := p.Get(doc)
			if tt.wantErr {
				te, ok := err.(*TaskError)
				if !ok || te.ErrorName != ErrRuntime {
					t.Fatalf("want States.Runtime, got %v (%v)", err, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			jsonEq(t, mustEncode(got), tt.want)
		})
	}
}

func TestParsePathRejects(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "a.b", "$.", "$[", "$['a'", "$[x]", "$..", "$[?(@.a >=)]"} {
		if _, err := ParsePath(s); err == nil {
			t.Errorf("ParsePath(%q) succeeded", s)
		}
	}
}

func TestPathSet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, input, path, value, want string
		wantErr                        bool
	}{
		{"root replaces", `{"a":1}`, "$", `"x"`, `"x"`, false},
		{"new field", `{"a":1}`, "$.b", `2`, `{"a":1,"b":2}`, false},
		{"overwrite", `{"a":1}`, "$.a", `{"z":0}`, `{"a":{"z":0}}`, false},
		{"creates intermediates", `{"a":1}`, "$.strings.lambdaresult", `"hi"`, `{"a":1,"strings":{"lambdaresult":"hi"}}`, false},
		{"into array element", `{"l":[{"k":1}]}`, "$.l[0].k", `2`, `{"l":[{"k":2}]}`, false},
		{"scalar input", `"str"`, "$.a", `1`, ``, true},
		{"through scalar", `{"a":1}`, "$.a.b", `1`, ``, true},
		{"index out of range", `{"l":[]}`, "$.l[0]", `1`, ``, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, _ := decodeJSON([]byte(tt.input))
			v, _ := decodeJSON([]byte(tt.value))
			got, err := MustParsePath(tt.path).Set(in, v)
			if tt.wantErr {
				if te, ok := err.(*TaskError); !ok || te.ErrorName != ErrRuntime {
					t.Fatalf("want States.Runtime, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			jsonEq(t, mustEncode(got), tt.want)
		})
	}
}

// TestJSONPathSyntax: the JSONPath forms of the AWS developer guide
// ("Paths in Step Functions": "$.store.book[0,1]", "$..author",
// "$.store.book[?(@.price < 10)]", "$.abc.['def ghi']") select what the
// guide says, an array for every path that is not a reference path.
func TestJSONPathSyntax(t *testing.T) {
	t.Parallel()
	doc, _ := decodeJSON([]byte(`{"store":{"book":[
		{"category":"reference","author":"Nigel Rees","title":"Sayings of the Century","price":8.95},
		{"category":"fiction","author":"Evelyn Waugh","title":"Sword of Honour","price":12.99},
		{"category":"fiction","author":"Herman Melville","title":"Moby Dick","price":8.99}]},
		"a":[{"a":5,"b":"x"},{"a":4,"b":"y"},{"a":7,"b":"z"}],
		"abc":{"def ghi":"spaced"}}`))
	tests := []struct{ path, want string }{
		{"$.store.book[0,1].author", `["Nigel Rees","Evelyn Waugh"]`},
		{"$.a[0,2].b", `["x","z"]`},
		{"$..author", `["Nigel Rees","Evelyn Waugh","Herman Melville"]`},
		{"$.store.book[?(@.price < 10)].title", `["Sayings of the Century","Moby Dick"]`},
		{"$.a[?(@.a >= 5)]", `[{"a":5,"b":"x"},{"a":7,"b":"z"}]`},
		{"$.abc.['def ghi']", `"spaced"`},
		{"$.abc['def ghi']", `"spaced"`},
		{"$.a[1:]", `[{"a":4,"b":"y"},{"a":7,"b":"z"}]`},
		{"$.nothing[?(@.a > 1)]", `[]`},
	}
	for _, tt := range tests {
		p, err := ParsePath(tt.path)
		if err != nil {
			t.Errorf("ParsePath(%q): %v", tt.path, err)
			continue
		}
		got, err := p.Get(doc)
		if err != nil {
			t.Errorf("Get(%q): %v", tt.path, err)
			continue
		}
		if g, w := string(mustEncode(got)), tt.want; g != w {
			t.Errorf("Get(%q) = %s, want %s", tt.path, g, w)
		}
	}
	// ResultPath must stay a reference path.
	if _, err := MustParsePath("$.a[0,1]").Set(map[string]any{}, 1); err == nil {
		t.Error("Set through a union succeeded")
	}
}
