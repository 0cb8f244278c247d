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
	for _, s := range []string{"", "a.b", "$.", "$[", "$['a'", "$[x]", "$..a"} {
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
