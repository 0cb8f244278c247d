package asl

import (
	"strings"
	"testing"
)

// TestVariablesJSONPath: developer guide, "Passing data between states with
// variables": "To set variables, provide a JSON object with variable names
// and values: "Assign": {"productName": "product1", "count": 42,
// "available": true}"; "To reference a variable, prepend the name with a
// dollar sign ($), for example, $productName." Variables reach later states
// (not only the next one), Choice rules and intrinsic functions; a state's
// references read the values from its entry; a Parallel branch reads the
// enclosing variables but its own assignments stay in the branch.
func TestVariablesJSONPath(t *testing.T) {
	t.Parallel()
	def := mustParse(t, `{"StartAt":"Init","States":{
	  "Init":{"Type":"Pass","Assign":{"productName":"product1","count":42,"available":true,"sku.$":"$.sku"},"Next":"Other"},
	  "Other":{"Type":"Pass","Result":{"unrelated":true},"Next":"Use"},
	  "Use":{"Type":"Task","Resource":"echo","Parameters":{"name.$":"$productName","sku.$":"$sku","greeting.$":"States.Format('{} x {}', $productName, $count)"},
	         "Assign":{"count":43,"previous.$":"$count"},"Next":"Check"},
	  "Check":{"Type":"Choice","Choices":[{"Variable":"$count","NumericEquals":43,"Next":"Branch"}],"Default":"Bad"},
	  "Branch":{"Type":"Parallel","Branches":[{"StartAt":"B","States":{"B":{"Type":"Pass","Parameters":{"seen.$":"$productName"},"Assign":{"productName":"inner"},"Next":"B2"},
	      "B2":{"Type":"Pass","Parameters":{"inner.$":"$productName"},"End":true}}}],"ResultPath":"$.branch","Next":"Done"},
	  "Done":{"Type":"Pass","Parameters":{"branch.$":"$.branch","name.$":"$productName","count.$":"$count","previous.$":"$previous"},"End":true},
	  "Bad":{"Type":"Fail","Error":"Bad"}}}`)
	var taskInput string
	env := &Env{Runner: runnerMap{"echo": func(req TaskRequest) (any, error) {
		taskInput = string(req.Input)
		return map[string]any{"ok": true}, nil
	}}}
	final, _ := run(t, def, env, `{"sku":"TEE"}`)
	if final.Status != StatusSucceeded {
		t.Fatalf("final %+v", final)
	}
	jsonEq(t, []byte(taskInput), `{"name":"product1","sku":"TEE","greeting":"product1 x 42"}`)
	jsonEq(t, final.Output, `{"branch":[{"inner":"inner"}],"name":"product1","count":43,"previous":42}`)

	_, err := Parse([]byte(`{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"a.$":"$nope"},"End":true}}}`))
	if err != nil {
		t.Fatal(err)
	}
	undefined, _ := run(t, mustParse(t, `{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"a.$":"$nope"},"End":true}}}`), &Env{}, `{}`)
	if undefined.Status != StatusFailed || undefined.Error != ErrRuntime {
		t.Errorf("an undefined variable: %+v", undefined)
	}
}

// TestJSONata: developer guide, "Transforming data with JSONata in Step
// Functions": with QueryLanguage JSONata, "{% %}" strings in Arguments,
// Output, Assign, Items, ItemSelector, Condition and a Fail's Error/Cause are
// JSONata expressions; "$states.input" is the state input, "$states.result"
// a Task's, Parallel's or Map's result, "$states.errorOutput" the error in a
// Catch, "$states.context" the context object; a Task's output defaults to
// its result; "Step Functions evaluates Assign and Output ... the value of a
// variable in Output is its value before the state's Assign".
func TestJSONata(t *testing.T) {
	t.Parallel()
	def := mustParse(t, `{"QueryLanguage":"JSONata","StartAt":"Prepare","States":{
	  "Prepare":{"Type":"Pass","Assign":{"total":"{% $sum($states.input.items.price) %}","n":1},
	             "Output":{"customer":"{% $states.input.customer %}","items":"{% $states.input.items %}"},"Next":"Charge"},
	  "Charge":{"Type":"Task","Resource":"charge","Arguments":{"amount":"{% $total %}","who":"{% $states.input.customer %}","execution":"{% $states.context.Execution.Name %}"},
	            "Assign":{"n":"{% $n + 1 %}","charged":"{% $states.result.charged %}"},
	            "Output":{"receipt":"{% $states.result.id %}","nSeenByOutput":"{% $n %}"},"Next":"Big?"},
	  "Big?":{"Type":"Choice","Choices":[{"Condition":"{% $charged > 100 %}","Next":"Big","Output":{"size":"big","n":"{% $n %}"}}],
	          "Default":"Small"},
	  "Big":{"Type":"Map","Items":"{% $range(1, 3, 1) %}","ItemSelector":{"value":"{% $states.context.Map.Item.Value * 10 %}"},
	         "ItemProcessor":{"StartAt":"Echo","States":{"Echo":{"Type":"Pass","Output":"{% $states.input.value + $n %}","End":true}}},
	         "Output":{"mapped":"{% $states.result %}","partitioned":"{% $partition($states.result, 2) %}"},"Next":"Fails"},
	  "Fails":{"Type":"Task","Resource":"boom","Catch":[{"ErrorEquals":["States.ALL"],"Next":"Done",
	            "Output":{"caught":"{% $states.errorOutput.Error %}","before":"{% $states.input.mapped %}"}}],"End":true},
	  "Done":{"Type":"Succeed","Output":{"caught":"{% $states.input.caught %}","before":"{% $states.input.before %}",
	          "parsed":"{% $parse('{\"foo\": \"bar\"}') %}","hash":"{% $hash('input data', 'SHA-1') %}","uuid":"{% $length($uuid()) %}",
	          "sameSeed":"{% $random(42) = $random(42) %}"}},
	  "Small":{"Type":"Fail","Error":"{% 'Too' & 'Small' %}","Cause":"{% $string($charged) %}"}}}`)
	var chargeInput string
	env := &Env{Runner: runnerMap{
		"charge": func(req TaskRequest) (any, error) {
			chargeInput = string(req.Input)
			return map[string]any{"id": "ch_1", "charged": 150}, nil
		},
		"boom": func(TaskRequest) (any, error) { return nil, &TaskError{ErrorName: "Boom", Cause: "bang"} },
	}}
	env.Execution.Name = "exec-1"
	final, _ := run(t, def, env, `{"customer":"ann","items":[{"price":100},{"price":50}]}`)
	if final.Status != StatusSucceeded {
		t.Fatalf("final %+v", final)
	}
	jsonEq(t, []byte(chargeInput), `{"amount":150,"who":"ann","execution":"exec-1"}`)
	jsonEq(t, final.Output, `{"caught":"Boom","before":[12,22,32],"parsed":{"foo":"bar"},
		"hash":"aaff4a450a104cd177d28d18d74485e8cae074b7","uuid":36,"sameSeed":true}`)

	small, _ := run(t, def, &Env{Runner: runnerMap{"charge": func(TaskRequest) (any, error) {
		return map[string]any{"id": "ch_2", "charged": 5}, nil
	}}}, `{"customer":"bob","items":[{"price":5}]}`)
	if small.Status != StatusFailed || small.Error != "TooSmall" || small.Cause != "5" {
		t.Errorf("Fail with JSONata Error/Cause: %+v", small)
	}
}

// TestJSONataOutputSeesOldVariables: the Output of a state reads the
// variables as they were when it was entered, and a failing expression is
// States.QueryEvaluationError.
func TestJSONataOutputSeesOldVariables(t *testing.T) {
	t.Parallel()
	def := mustParse(t, `{"QueryLanguage":"JSONata","StartAt":"A","States":{
	  "A":{"Type":"Pass","Assign":{"x":1},"Next":"B"},
	  "B":{"Type":"Pass","Assign":{"x":"{% $x + 1 %}"},"Output":{"old":"{% $x %}"},"Next":"C"},
	  "C":{"Type":"Pass","Output":{"old":"{% $states.input.old %}","new":"{% $x %}"},"End":true}}}`)
	final, _ := run(t, def, &Env{}, `{}`)
	jsonEq(t, final.Output, `{"old":1,"new":2}`)

	bad, _ := run(t, mustParse(t, `{"QueryLanguage":"JSONata","StartAt":"A","States":{"A":{"Type":"Pass","Output":"{% $states.input.missing %}","End":true}}}`), &Env{}, `{}`)
	if bad.Status != StatusFailed || bad.Error != ErrQueryEvaluation || !strings.Contains(bad.Cause, "missing") {
		t.Errorf("undefined expression: %+v", bad)
	}
}

// TestJSONataNumberFields: developer guide, JSONata: in JSONata states
// "TimeoutSeconds", "HeartbeatSeconds", a Wait's "Seconds" and "Timestamp"
// and a Map's "MaxConcurrency" and failure tolerances may be "{% %}"
// expressions; in JSONPath states they may not.
func TestJSONataNumberFields(t *testing.T) {
	t.Parallel()
	def := mustParse(t, `{"QueryLanguage":"JSONata","StartAt":"W","States":{
	  "W":{"Type":"Wait","Seconds":"{% $states.input.delay %}","Next":"T"},
	  "T":{"Type":"Task","Resource":"t","TimeoutSeconds":"{% $states.input.delay * 10 %}","Next":"M",
	       "Catch":[{"ErrorEquals":["States.Timeout"],"Next":"M"}]},
	  "M":{"Type":"Map","Items":"{% [1,2,3] %}","MaxConcurrency":"{% 1 %}","ToleratedFailureCount":"{% 0 %}",
	       "ItemProcessor":{"StartAt":"E","States":{"E":{"Type":"Pass","End":true}}},"Next":"Until"},
	  "Until":{"Type":"Wait","Timestamp":"{% '2030-01-01T00:00:00Z' %}","End":true}}}`)
	// (The test clock fires the 30 s timeout at once: the catcher goes on.)
	env := &Env{Runner: runnerMap{"t": func(req TaskRequest) (any, error) { return map[string]any{}, nil }}}
	final, evs := run(t, def, env, `{"delay":3}`)
	if final.Status != StatusSucceeded {
		t.Fatalf("final %+v", final)
	}
	var waited []string
	for _, e := range evs {
		if e.Type == "TaskScheduled" && !strings.Contains(string(e.Details), `"timeoutInSeconds":30`) {
			t.Errorf("TaskScheduled %s, want timeoutInSeconds 30", e.Details)
		}
		if e.Type == "WaitStateExited" {
			waited = append(waited, e.Timestamp.Format("2006-01-02T15:04:05Z"))
		}
	}
	if len(waited) != 2 || waited[1] != "2030-01-01T00:00:00Z" {
		t.Errorf("wait exits at %v", waited)
	}
	if _, err := Parse([]byte(`{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":"{% 1 %}","End":true}}}`)); err == nil ||
		!strings.Contains(err.Error(), "only allowed in JSONata states") {
		t.Errorf("an expression in a JSONPath Wait: %v", err)
	}
}

// TestStepFunctionsJSONataFunctions: the functions Step Functions adds to
// JSONata, on the developer guide's examples ("JSONata functions provided
// by Step Functions"): $partition([1,2,3,4], 2) is [[1,2],[3,4]];
// $range(0, 10, 2) is [0,2,4,6,8,10]; $hash(value, algorithm) is the hex
// digest; $random(seed) repeats for a seed; $uuid() is a v4 UUID;
// $parse(string) the JSON value it holds.
func TestStepFunctionsJSONataFunctions(t *testing.T) {
	t.Parallel()
	tests := []struct{ expr, want string }{
		{`$partition([1,2,3,4], 2)`, `[[1,2],[3,4]]`},
		{`$partition([1,2,3,4,5], 2)`, `[[1,2],[3,4],[5]]`},
		{`$range(0, 10, 2)`, `[0,2,4,6,8,10]`},
		{`$range(3, 1, -1)`, `[3,2,1]`},
		{`$hash('input data', 'SHA-1')`, `"aaff4a450a104cd177d28d18d74485e8cae074b7"`},
		{`$random(7) = $random(7)`, `true`},
		{`$random() >= 0 and $random() < 1`, `true`},
		{`$length($uuid()) = 36 and $substring($uuid(), 14, 1) = '4'`, `true`},
		{`$parse('{"foo": [1, "bar"]}')`, `{"foo":[1,"bar"]}`},
	}
	for _, tt := range tests {
		got, err := evalJSONata(tt.expr, map[string]any{"input": map[string]any{}}, nil)
		if err != nil {
			t.Errorf("%s: %v", tt.expr, err)
			continue
		}
		if g := string(mustEncode(got)); g != tt.want {
			t.Errorf("%s = %s, want %s", tt.expr, g, tt.want)
		}
	}
}
