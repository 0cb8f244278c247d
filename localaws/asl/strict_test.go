package asl

import (
	"os"
	"strings"
	"testing"
)

// TestUnknownFieldsAreInvalid: a field the interpreter does not implement
// must make the definition invalid, naming the field and where it is (AWS's
// validator: "SCHEMA_VALIDATION_FAILED: Field 'X' is not supported at
// /States/S"), never be silently dropped: a definition using JSONata or
// variables would otherwise run with those fields ignored and give wrong
// answers.
func TestUnknownFieldsAreInvalid(t *testing.T) {
	t.Parallel()
	pass := `"P":{"Type":"Pass","End":true}`
	tests := []struct {
		name, def, want string
	}{
		{"top-level field", `{"StartAt":"P","Strange":1,"States":{` + pass + `}}`, "Field 'Strange' is not supported at /"},
		{"state field", `{"StartAt":"P","States":{"P":{"Type":"Pass","End":true,"Paramaters":{}}}}`, "Field 'Paramaters' is not supported at /States/P"},
		{"field of another state type", `{"StartAt":"P","States":{"P":{"Type":"Pass","End":true,"Resource":"x"}}}`, "Field 'Resource' is not supported at /States/P"},
		{"JSONata field in a JSONPath state", `{"StartAt":"P","States":{"P":{"Type":"Pass","End":true,"Output":{"a":1}}}}`, "field Output is only allowed in JSONata states"},
		{"JSONPath field in a JSONata state", `{"QueryLanguage":"JSONata","StartAt":"P","States":{"P":{"Type":"Pass","End":true,"InputPath":"$.a"}}}`, "field InputPath is not supported in JSONata states"},
		{"bad JSONata", `{"QueryLanguage":"JSONata","StartAt":"P","States":{"P":{"Type":"Pass","End":true,"Output":"{% $states.input. %}"}}}`, "invalid JSONata expression"},
		{"bad query language", `{"QueryLanguage":"XPath","StartAt":"P","States":{` + pass + `}}`, "QueryLanguage at / must be JSONPath or JSONata"},
		{"Distributed Map reader", `{"StartAt":"M","States":{"M":{"Type":"Map","End":true,"ItemReader":{},"ItemProcessor":{"StartAt":"P","States":{` + pass + `}}}}}`, "Field 'ItemReader' is not supported at /States/M: Distributed Map (ItemReader) is not implemented"},
		{"Distributed mode", `{"StartAt":"M","States":{"M":{"Type":"Map","End":true,"ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED"},"StartAt":"P","States":{` + pass + `}}}}}`, `ProcessorConfig Mode "DISTRIBUTED" at /States/M/ItemProcessor`},
		{"bad variable name", `{"StartAt":"P","States":{"P":{"Type":"Pass","End":true,"Assign":{"1x":1}}}}`, `"1x" is not a valid variable name`},
		{"task credentials", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"r","End":true,"Credentials":{}}}}`, "Field 'Credentials' is not supported at /States/T: cross-account"},
		{"retrier field", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"r","End":true,"Retry":[{"ErrorEquals":["States.ALL"],"MaxAttempt":2}]}}}`, "Field 'MaxAttempt' is not supported at /States/T/Retry[0]"},
		{"nested choice rule field", `{"StartAt":"C","States":{"C":{"Type":"Choice","Default":"P","Choices":[{"Next":"P","And":[{"Variable":"$.a","IsPresent":true,"Nxt":"P"}]}]},` + pass + `}}`, "Field 'Nxt' is not supported at /States/C/Choices[0]/And[0]"},
		{"branch state field", `{"StartAt":"Par","States":{"Par":{"Type":"Parallel","End":true,"Branches":[{"StartAt":"P","States":{"P":{"Type":"Pass","End":true,"Bogus":1}}}]}}}`, "Field 'Bogus' is not supported at /States/Par/Branches[0]/States/P"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.def))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse: %v; want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestCheckoutSagaParses keeps the product's state machine valid under the
// strict decoder, when this module is tested inside its repository.
func TestCheckoutSagaParses(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../statemachine/checkout.asl.json")
	if err != nil {
		t.Skip("not inside the checkout repository")
	}
	if _, err := Parse(b); err != nil {
		t.Fatal(err)
	}
}
