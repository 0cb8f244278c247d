package asl

import (
	"regexp"
	"testing"
)

// Examples from the AWS guide "Intrinsic functions for JSONPath in Step
// Functions", each evaluated as a Parameters field against the given input.
func TestIntrinsics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, expr, input, want string
		wantErr                 bool
	}{
		{"Format", `States.Format('Hello, my name is {}.', $.name)`, `{"name":"Arnav"}`, `"Hello, my name is Arnav."`, false},
		{"Format numbers and escapes", `States.Format('{} \{\} it\'s {}', $.n, true)`, `{"n":3}`, `"3 {} it's true"`, false},
		{"Format too few args", `States.Format('{} {}', 1)`, `{}`, ``, true},
		{"Format too many args", `States.Format('x', 1)`, `{}`, ``, true},
		{"StringToJson", `States.StringToJson($.escapedJsonString)`, `{"escapedJsonString":"{\"foo\": \"bar\"}"}`, `{"foo":"bar"}`, false},
		{"JsonToString", `States.JsonToString($.unescapedJson)`, `{"unescapedJson":{"foo":"bar"}}`, `"{\"foo\":\"bar\"}"`, false},
		{"Array", `States.Array('Foo', 2020, $.someJson, null)`, `{"someJson":{"random":"abcdefghij"}}`, `["Foo",2020,{"random":"abcdefghij"},null]`, false},
		{"ArrayPartition", `States.ArrayPartition($.inputArray,4)`, `{"inputArray":[1,2,3,4,5,6,7,8,9]}`, `[[1,2,3,4],[5,6,7,8],[9]]`, false},
		{"ArrayContains", `States.ArrayContains($.inputArray, $.lookingFor)`, `{"inputArray":[1,2,3,4,5,6,7,8,9],"lookingFor":5}`, `true`, false},
		{"ArrayRange", `States.ArrayRange(1, 9, 2)`, `{}`, `[1,3,5,7,9]`, false},
		{"ArrayGetItem", `States.ArrayGetItem($.inputArray, $.index)`, `{"inputArray":[1,2,3,4,5,6,7,8,9],"index":5}`, `6`, false},
		{"ArrayGetItem out of range", `States.ArrayGetItem($.a, 3)`, `{"a":[1]}`, ``, true},
		{"ArrayLength", `States.ArrayLength($.inputArray)`, `{"inputArray":[1,2,3,4,5,6,7,8,9]}`, `9`, false},
		{"ArrayUnique", `States.ArrayUnique($.inputArray)`, `{"inputArray":[1,2,3,3,3,3,3,3,4]}`, `[1,2,3,4]`, false},
		{"Base64Encode", `States.Base64Encode($.input)`, `{"input":"Data to encode"}`, `"RGF0YSB0byBlbmNvZGU="`, false},
		{"Base64Decode", `States.Base64Decode($.base64)`, `{"base64":"RGF0YSB0byBlbmNvZGU="}`, `"Data to encode"`, false},
		{"Hash", `States.Hash($.Data, $.Algorithm)`, `{"Data":"input data","Algorithm":"SHA-1"}`, `"aaff4a450a104cd177d28d18d74485e8cae074b7"`, false},
		{"JsonMerge", `States.JsonMerge($.json1, $.json2, false)`, `{"json1":{"a":{"a1":1,"a2":2},"b":2},"json2":{"a":{"a3":1,"a4":2},"c":3}}`, `{"a":{"a3":1,"a4":2},"b":2,"c":3}`, false},
		{"MathAdd", `States.MathAdd($.value1, $.step)`, `{"value1":111,"step":-1}`, `110`, false},
		{"StringSplit", `States.StringSplit($.inputString, $.splitter)`, `{"inputString":"1,2,3,4,5","splitter":","}`, `["1","2","3","4","5"]`, false},
		{"StringSplit many delimiters", `States.StringSplit($.inputString, $.splitter)`, `{"inputString":"This.is+a,test=string","splitter":".+,="}`, `["This","is","a","test","string"]`, false},
		{"nested calls", `States.ArrayLength(States.StringSplit('a b c', ' '))`, `{}`, `3`, false},
		{"context path", `States.Format('{}', $$.Execution.Name)`, `{}`, `"exec-name"`, false},
		{"missing path", `States.ArrayLength($.nope)`, `{}`, ``, true},
		{"wrong type", `States.MathAdd('a', 1)`, `{}`, ``, true},
		// "If you specify a non-integer value for one or both the arguments,
		// Step Functions will round it to the nearest integer" (MathAdd,
		// ArrayRange, ArrayPartition).
		{"MathAdd rounds", `States.MathAdd(1.5, 2.4)`, `{}`, `4`, false},
		{"ArrayRange rounds", `States.ArrayRange(0.6, 4.4, 1.7)`, `{}`, `[1,3]`, false},
		{"ArrayPartition rounds", `States.ArrayPartition($.a, 1.6)`, `{"a":[1,2,3]}`, `[[1,2],[3]]`, false},
		// "values in the range of -2147483648 to 2147483647".
		{"MathAdd 32-bit bound", `States.MathAdd(2147483647, 0)`, `{}`, `2147483647`, false},
		{"MathAdd argument above 32 bits", `States.MathAdd(2147483648, -1)`, `{}`, ``, true},
		{"MathAdd sum above 32 bits", `States.MathAdd(2147483647, 1)`, `{}`, ``, true},
		// "If you use the same seed value, the function returns identical numbers."
		{"MathRandom with a seed", `States.Array(States.MathRandom(1, 1000000, 42), States.MathRandom(1, 1000000, 42))`, `{}`, `SAME`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := parseIntrinsic(tt.expr)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			in, _ := decodeJSON([]byte(tt.input))
			ctxObj := map[string]any{"Execution": map[string]any{"Name": "exec-name"}}
			got, err := evalIntrinsic(c, in, ctxObj, &Env{})
			if tt.wantErr {
				if te, ok := err.(*TaskError); !ok || te.ErrorName != ErrRuntime {
					t.Fatalf("want States.Runtime, got %v / %v", err, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == "SAME" {
				if a := got.([]any); len(a) != 2 || !jsonEqual(a[0], a[1]) {
					t.Fatalf("seeded MathRandom gave %v", got)
				}
				return
			}
			jsonEq(t, mustEncode(got), tt.want)
		})
	}
}

func TestIntrinsicUUIDAndParseErrors(t *testing.T) {
	t.Parallel()
	c, err := parseIntrinsic(`States.UUID()`)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := evalIntrinsic(c, nil, nil, &Env{})
	b, _ := evalIntrinsic(c, nil, nil, &Env{})
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	if !re.MatchString(a.(string)) || a == b {
		t.Fatalf("UUIDs %v %v", a, b)
	}
	for _, bad := range []string{`States.Nope()`, `States.Format('x'`, `States.Format('x)`, `States.Array(1,,2)`, `States.Array(abc)`} {
		if _, err := parseIntrinsic(bad); err == nil {
			t.Errorf("parseIntrinsic(%q) succeeded", bad)
		}
	}
}
