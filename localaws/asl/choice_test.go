package asl

import (
	"testing"
)

func TestChoiceRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, rule, input string
		want              bool
		wantErr           bool
	}{
		{"StringEquals", `{"Variable":"$.s","StringEquals":"a"}`, `{"s":"a"}`, true, false},
		{"StringEquals wrong type is false", `{"Variable":"$.s","StringEquals":"1"}`, `{"s":1}`, false, false},
		{"StringLessThan", `{"Variable":"$.s","StringLessThan":"b"}`, `{"s":"a"}`, true, false},
		{"StringGreaterThanEquals", `{"Variable":"$.s","StringGreaterThanEquals":"b"}`, `{"s":"b"}`, true, false},
		{"StringMatches star", `{"Variable":"$.f","StringMatches":"log-*.txt"}`, `{"f":"log-2020-01.txt"}`, true, false},
		{"StringMatches no match", `{"Variable":"$.f","StringMatches":"log-*.txt"}`, `{"f":"log-2020.csv"}`, false, false},
		{"StringMatches escaped star", `{"Variable":"$.f","StringMatches":"a\\*b"}`, `{"f":"a*b"}`, true, false},
		{"StringMatches escaped star literal only", `{"Variable":"$.f","StringMatches":"a\\*b"}`, `{"f":"axxb"}`, false, false},
		{"StringMatches leading star", `{"Variable":"$.f","StringMatches":"*.log"}`, `{"f":"x.log"}`, true, false},
		{"NumericEquals int/float", `{"Variable":"$.n","NumericEquals":20}`, `{"n":20.0}`, true, false},
		{"NumericLessThan", `{"Variable":"$.n","NumericLessThan":30}`, `{"n":22}`, true, false},
		{"NumericGreaterThan false", `{"Variable":"$.n","NumericGreaterThan":30}`, `{"n":22}`, false, false},
		{"NumericLessThanEquals", `{"Variable":"$.n","NumericLessThanEquals":22}`, `{"n":22}`, true, false},
		{"BooleanEquals", `{"Variable":"$.b","BooleanEquals":false}`, `{"b":false}`, true, false},
		{"TimestampEquals zones", `{"Variable":"$.t","TimestampEquals":"2016-03-14T01:59:00Z"}`, `{"t":"2016-03-14T02:59:00+01:00"}`, true, false},
		{"TimestampLessThan", `{"Variable":"$.t","TimestampLessThan":"2016-03-14T01:59:00Z"}`, `{"t":"2016-03-14T01:58:00Z"}`, true, false},
		{"TimestampGreaterThan non-timestamp false", `{"Variable":"$.t","TimestampGreaterThan":"2016-03-14T01:59:00Z"}`, `{"t":"yesterday"}`, false, false},
		{"IsPresent true", `{"Variable":"$.x","IsPresent":true}`, `{"x":null}`, true, false},
		{"IsPresent false on missing", `{"Variable":"$.x","IsPresent":false}`, `{}`, true, false},
		{"IsNull", `{"Variable":"$.x","IsNull":true}`, `{"x":null}`, true, false},
		{"IsNumeric", `{"Variable":"$.x","IsNumeric":true}`, `{"x":"1"}`, false, false},
		{"IsString", `{"Variable":"$.x","IsString":true}`, `{"x":"1"}`, true, false},
		{"IsBoolean", `{"Variable":"$.x","IsBoolean":false}`, `{"x":1}`, true, false},
		{"IsTimestamp", `{"Variable":"$.x","IsTimestamp":true}`, `{"x":"2016-03-14T01:59:00Z"}`, true, false},
		{"IsTimestamp date only", `{"Variable":"$.x","IsTimestamp":true}`, `{"x":"2016-03-14"}`, false, false},
		{"StringEqualsPath", `{"Variable":"$.a","StringEqualsPath":"$.b"}`, `{"a":"x","b":"x"}`, true, false},
		{"NumericGreaterThanPath", `{"Variable":"$.a","NumericGreaterThanPath":"$.b"}`, `{"a":2,"b":1}`, true, false},
		{"BooleanEqualsPath", `{"Variable":"$.a","BooleanEqualsPath":"$.b"}`, `{"a":true,"b":false}`, false, false},
		{"TimestampLessThanEqualsPath", `{"Variable":"$.a","TimestampLessThanEqualsPath":"$.b"}`, `{"a":"2016-03-14T01:59:00Z","b":"2016-03-14T01:59:00Z"}`, true, false},
		{"And", `{"And":[{"Variable":"$.n","NumericGreaterThanEquals":20},{"Variable":"$.n","NumericLessThan":30}]}`, `{"n":25}`, true, false},
		{"Or", `{"Or":[{"Variable":"$.n","NumericLessThan":20},{"Variable":"$.n","NumericGreaterThan":30}]}`, `{"n":25}`, false, false},
		{"Not", `{"Not":{"Variable":"$.type","StringEquals":"Private"}}`, `{"type":"Public"}`, true, false},
		{"context object variable", `{"Variable":"$$.State.Name","StringEquals":"C"}`, `{}`, true, false},
		{"missing Variable is States.Runtime", `{"Variable":"$.nope","StringEquals":"a"}`, `{}`, false, true},
		{"missing operand path is States.Runtime", `{"Variable":"$.a","StringEqualsPath":"$.nope"}`, `{"a":"x"}`, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			def := mustParse(t, `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[`+
				tt.rule[:len(tt.rule)-1]+`,"Next":"Yes"}],"Default":"No"},"Yes":{"Type":"Succeed"},"No":{"Type":"Fail","Error":"No"}}}`)
			final, _ := run(t, def, &Env{}, tt.input)
			if tt.wantErr {
				if final.Error != ErrRuntime {
					t.Fatalf("want States.Runtime, got %+v", final)
				}
				return
			}
			if got := final.Status == StatusSucceeded; got != tt.want {
				t.Fatalf("got %v (%+v), want %v", got, final, tt.want)
			}
		})
	}
}

// The spec's Choice example: input {"type":"Private","value":22} goes to
// ValueInTwenties; a Choice with no match and no Default fails with
// States.NoChoiceMatched (States Language, Choice State: "If no Choice Rule
// matches and no Default transition was specified, the interpreter MUST
// raise a States.NoChoiceMatched error").
func TestChoiceSpecExample(t *testing.T) {
	t.Parallel()
	def := mustParse(t, `{"StartAt":"ChoiceStateX","States":{
	 "ChoiceStateX":{"Type":"Choice","Choices":[
	   {"Not":{"Variable":"$.type","StringEquals":"Private"},"Next":"Public"},
	   {"And":[{"Variable":"$.value","IsPresent":true},{"Variable":"$.value","IsNumeric":true},
	           {"Variable":"$.value","NumericGreaterThanEquals":20},{"Variable":"$.value","NumericLessThan":30}],
	    "Next":"ValueInTwenties"}],"OutputPath":"$.value"},
	 "Public":{"Type":"Pass","Result":"Public","End":true},
	 "ValueInTwenties":{"Type":"Pass","Result":"ValueInTwenties","ResultPath":"$","End":true}}}`)
	tests := []struct{ input, want, wantErr string }{
		{`{"type":"Private","value":22}`, `"ValueInTwenties"`, ""},
		{`{"type":"Public","value":22}`, `"Public"`, ""},
		{`{"type":"Private","value":35}`, ``, ErrNoChoiceMatched},
	}
	for _, tt := range tests {
		final, evs := run(t, def, &Env{}, tt.input)
		if tt.wantErr != "" {
			if final.Error != tt.wantErr {
				t.Errorf("%s: want %s, got %+v", tt.input, tt.wantErr, final)
			}
			continue
		}
		jsonEq(t, final.Output, tt.want)
		if evs[0].Type != "ChoiceStateEntered" || evs[1].Type != "ChoiceStateExited" {
			t.Errorf("events %v", eventTypes(evs))
		}
	}
}
