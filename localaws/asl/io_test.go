package asl

import (
	"encoding/json"
	"fmt"
	"testing"
)

// taskMachine wraps one Task state (fields given as JSON members) that
// calls resource "r".
func taskMachine(fields string) string {
	if fields != "" {
		fields = "," + fields
	}
	return fmt.Sprintf(`{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"r","End":true%s}}}`, fields)
}

func TestInputOutputProcessing(t *testing.T) {
	t.Parallel()
	// The AWS guide's ResultPath examples: input below, the Lambda returns
	// "Hello, AWS Step Functions!".
	helloInput := `{"comment":"This is a test of the input and output of a Task state.","details":"Default example","who":"AWS Step Functions"}`
	tests := []struct {
		name      string
		fields    string
		input     string
		result    string // what the task returns
		wantTask  string // the effective input the task must receive
		wantOut   string
		wantError string // terminal error name, if the run must fail
	}{
		{
			name:   "spec filters example: InputPath, ResultPath, OutputPath",
			fields: `"InputPath":"$.numbers","ResultPath":"$.sum","OutputPath":"$"`,
			input:  `{"title":"Numbers to add","numbers":{"val1":3,"val2":4}}`, result: `7`,
			wantTask: `{"val1":3,"val2":4}`,
			wantOut:  `{"title":"Numbers to add","numbers":{"val1":3,"val2":4},"sum":7}`,
		},
		{
			name:  "ResultPath $ (default) replaces the input",
			input: helloInput, result: `"Hello, AWS Step Functions!"`,
			wantTask: helloInput, wantOut: `"Hello, AWS Step Functions!"`,
		},
		{
			name:   "ResultPath $.taskresult adds the result to the input",
			fields: `"ResultPath":"$.taskresult"`,
			input:  helloInput, result: `"Hello, AWS Step Functions!"`,
			wantTask: helloInput,
			wantOut:  `{"comment":"This is a test of the input and output of a Task state.","details":"Default example","who":"AWS Step Functions","taskresult":"Hello, AWS Step Functions!"}`,
		},
		{
			name:   "ResultPath null discards the result",
			fields: `"ResultPath":null`,
			input:  helloInput, result: `"Hello, AWS Step Functions!"`,
			wantTask: helloInput, wantOut: helloInput,
		},
		{
			name:   "ResultPath $.strings.lambdaresult creates the parent",
			fields: `"ResultPath":"$.strings.lambdaresult"`,
			input:  helloInput, result: `"Hello, AWS Step Functions!"`,
			wantTask: helloInput,
			wantOut:  `{"comment":"This is a test of the input and output of a Task state.","details":"Default example","who":"AWS Step Functions","strings":{"lambdaresult":"Hello, AWS Step Functions!"}}`,
		},
		{
			name:   "ResultPath merges into the RAW input, not the InputPath selection",
			fields: `"InputPath":"$.a","ResultPath":"$.r"`,
			input:  `{"a":{"x":1},"b":2}`, result: `"res"`,
			wantTask: `{"x":1}`, wantOut: `{"a":{"x":1},"b":2,"r":"res"}`,
		},
		{
			name:   "InputPath null gives {} and OutputPath null gives {}",
			fields: `"InputPath":null,"OutputPath":null`,
			input:  `{"a":1}`, result: `{"z":1}`,
			wantTask: `{}`, wantOut: `{}`,
		},
		{
			name: "Parameters with paths, context object, nested objects and arrays, intrinsic",
			fields: `"Parameters":{"flagged":true,"parts":{"first.$":"$.vals[0]","last3.$":"$.vals[-3:]"},
				"list":[{"v.$":"$.vals[1]"},"lit"],"sm.$":"$$.StateMachine.Name","state.$":"$$.State.Name",
				"formatted.$":"States.Format('first is {}', $.vals[0])"}`,
			input: `{"flagged":7,"vals":[0,10,20,30,40,50]}`, result: `{}`,
			wantTask: `{"flagged":true,"parts":{"first":0,"last3":[30,40,50]},"list":[{"v":10},"lit"],"sm":"SM","state":"T","formatted":"first is 0"}`,
			wantOut:  `{}`,
		},
		{
			name:     "ResultSelector (AWS guide example) then ResultPath",
			fields:   `"ResultSelector":{"ClusterId.$":"$.output.ClusterId","ResourceType.$":"$.resourceType"},"ResultPath":"$.EMROutput"`,
			input:    `{"in":1}`,
			result:   `{"resourceType":"elasticmapreduce","resource":"createCluster.sync","output":{"SdkHttpMetadata":{"HttpStatusCode":200},"SdkResponseMetadata":{"RequestId":"1234-5678-9012"},"ClusterId":"AKIAIOSFODNN7EXAMPLE"}}`,
			wantTask: `{"in":1}`,
			wantOut:  `{"in":1,"EMROutput":{"ClusterId":"AKIAIOSFODNN7EXAMPLE","ResourceType":"elasticmapreduce"}}`,
		},
		{
			name:   "OutputPath selects from the merged output",
			fields: `"ResultPath":"$.r","OutputPath":"$.r.k"`,
			input:  `{"a":1}`, result: `{"k":[1,2]}`,
			wantTask: `{"a":1}`, wantOut: `[1,2]`,
		},
		{name: "missing InputPath is States.Runtime", fields: `"InputPath":"$.nope"`, input: `{}`, wantError: ErrRuntime},
		{name: "missing Parameters path is States.Runtime", fields: `"Parameters":{"x.$":"$.nope"}`, input: `{}`, wantError: ErrRuntime},
		{name: "missing OutputPath is States.Runtime", fields: `"OutputPath":"$.nope"`, input: `{}`, result: `{}`, wantError: ErrRuntime},
		{name: "missing ResultSelector path is States.Runtime", fields: `"ResultSelector":{"x.$":"$.nope"}`, input: `{}`, result: `{}`, wantError: ErrRuntime},
		{name: "ResultPath into a non-object input is States.Runtime", fields: `"ResultPath":"$.r"`, input: `[1]`, result: `{}`, wantError: ErrRuntime},
		{
			name:   "States.Runtime is not caught by States.ALL",
			fields: `"OutputPath":"$.nope","Catch":[{"ErrorEquals":["States.ALL"],"Next":"T"}]`,
			input:  `{}`, result: `{}`, wantError: ErrRuntime,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			def := mustParse(t, taskMachine(tt.fields))
			var got json.RawMessage
			env := &Env{
				Execution: ExecutionInfo{ID: "exec", StateMachineName: "SM"},
				Runner: runnerMap{"r": func(req TaskRequest) (any, error) {
					got = req.Input
					return json.RawMessage(tt.result), nil
				}},
			}
			final, _ := run(t, def, env, tt.input)
			if tt.wantError != "" {
				if final.Status != StatusFailed || final.Error != tt.wantError {
					t.Fatalf("want failure %s, got %+v", tt.wantError, final)
				}
				return
			}
			if final.Status != StatusSucceeded {
				t.Fatalf("execution failed: %s: %s", final.Error, final.Cause)
			}
			jsonEq(t, got, tt.wantTask)
			jsonEq(t, final.Output, tt.wantOut)
		})
	}
}

func TestPassState(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, state, input, want string
	}{
		// spec Pass example: Result placed at ResultPath
		{"Result at ResultPath", `"Result":{"x-datum":0.381018,"y-datum":622.2269926397355},"ResultPath":"$.coords"`,
			`{"georefOf":"Home"}`, `{"georefOf":"Home","coords":{"x-datum":0.381018,"y-datum":622.2269926397355}}`},
		{"no Result passes input", ``, `{"a":1}`, `{"a":1}`},
		{"Parameters", `"Parameters":{"b.$":"$.a","c":"lit"}`, `{"a":1}`, `{"b":1,"c":"lit"}`},
		{"ResultPath null keeps input", `"Result":"x","ResultPath":null`, `{"a":1}`, `{"a":1}`},
		{"large integers stay exact", ``, `{"n":9007199254740993}`, `{"n":9007199254740993}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := `{"Type":"Pass","End":true`
			if tt.state != "" {
				st += "," + tt.state
			}
			def := mustParse(t, `{"StartAt":"P","States":{"P":`+st+`}}}`)
			final, _ := run(t, def, &Env{}, tt.input)
			if final.Status != StatusSucceeded {
				t.Fatalf("failed: %+v", final)
			}
			if tt.name == "large integers stay exact" {
				if string(final.Output) != tt.want {
					t.Fatalf("got %s want %s", final.Output, tt.want)
				}
				return
			}
			jsonEq(t, final.Output, tt.want)
		})
	}
}
