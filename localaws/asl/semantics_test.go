package asl

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMapMaxConcurrencyOneRunsInOrder: States Language, Map State:
// MaxConcurrency "provides an upper bound on how many invocations of the
// Iterator may run in parallel"; with 1, iterations run one at a time, in
// the order of the input array (each starts when the one before it ended).
func TestMapMaxConcurrencyOneRunsInOrder(t *testing.T) {
	t.Parallel()
	for _, def := range []string{
		`{"StartAt":"M","States":{"M":{"Type":"Map","MaxConcurrency":1,"End":true,
		  "ItemProcessor":{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"t","End":true}}}}}}`,
		`{"StartAt":"M","States":{"M":{"Type":"Map","MaxConcurrencyPath":"$.limit","ItemsPath":"$.items","End":true,
		  "ItemProcessor":{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"t","End":true}}}}}}`,
	} {
		var mu sync.Mutex
		var order []string
		running, peak := 0, 0
		env := &Env{Runner: runnerMap{"t": func(req TaskRequest) (any, error) {
			mu.Lock()
			order = append(order, string(req.Input))
			running++
			peak = max(peak, running)
			mu.Unlock()
			time.Sleep(200 * time.Microsecond) // overlap, were two to run at once
			mu.Lock()
			running--
			mu.Unlock()
			return string(req.Input), nil
		}}}
		items := make([]string, 30)
		for i := range items {
			items[i] = fmt.Sprint(i)
		}
		input := "[" + strings.Join(items, ",") + "]"
		if strings.Contains(def, "MaxConcurrencyPath") {
			input = `{"limit":1,"items":` + input + `}`
		}
		final, _ := run(t, mustParse(t, def), env, input)
		if final.Status != StatusSucceeded {
			t.Fatalf("final %+v", final)
		}
		if got := strings.Join(order, ","); got != strings.Join(items, ",") || peak != 1 {
			t.Errorf("iterations ran in order %s with %d at once; want input order one at a time", got, peak)
		}
	}
}

// TestMapToleratedFailures: States Language, Map State:
// ToleratedFailurePercentage / ToleratedFailureCount (and their Path
// forms) let that many iterations fail; beyond either, the Map fails with
// States.ExceedToleratedFailureThreshold.
func TestMapToleratedFailures(t *testing.T) {
	t.Parallel()
	env := func() *Env {
		return &Env{Runner: runnerMap{"t": func(req TaskRequest) (any, error) {
			var n int
			_ = json.Unmarshal(req.Input, &n)
			if n < 0 {
				return nil, &TaskError{ErrorName: "Bad", Cause: fmt.Sprint(n)}
			}
			return n, nil
		}}}
	}
	mapDef := func(fields string) *Definition {
		return mustParse(t, `{"StartAt":"M","States":{"M":{"Type":"Map","End":true,"ItemsPath":"$.items",`+fields+`,
		  "ItemProcessor":{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"t","End":true}}}}}}`)
	}
	tests := []struct {
		name, fields, input, wantErr, wantOut string
	}{
		{"count tolerates", `"ToleratedFailureCount":1`, `{"items":[1,-2,3]}`, "", `[1,{"Error":"Bad","Cause":"-2"},3]`},
		{"count exceeded", `"ToleratedFailureCount":1`, `{"items":[1,-2,-3]}`, ErrExceedToleratedFailureThreshold, ""},
		{"percentage tolerates", `"ToleratedFailurePercentage":50`, `{"items":[1,-2,3,-4]}`, "", `[1,{"Error":"Bad","Cause":"-2"},3,{"Error":"Bad","Cause":"-4"}]`},
		{"percentage exceeded", `"ToleratedFailurePercentage":50`, `{"items":[1,-2,-3,4]}`, "", `[1,{"Error":"Bad","Cause":"-2"},{"Error":"Bad","Cause":"-3"},4]`},
		{"percentage exceeded for real", `"ToleratedFailurePercentage":49`, `{"items":[1,-2,-3,4]}`, ErrExceedToleratedFailureThreshold, ""},
		{"count path", `"ToleratedFailureCountPath":"$.tolerate"`, `{"tolerate":2,"items":[-1,-2]}`, "", `[{"Error":"Bad","Cause":"-1"},{"Error":"Bad","Cause":"-2"}]`},
		{"no tolerance: the iteration's error", `"MaxConcurrency":0`, `{"items":[1,-2]}`, "Bad", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			final, _ := run(t, mapDef(tt.fields), env(), tt.input)
			if tt.wantErr != "" {
				if final.Status != StatusFailed || final.Error != tt.wantErr {
					t.Fatalf("final %+v, want %s", final, tt.wantErr)
				}
				return
			}
			if final.Status != StatusSucceeded {
				t.Fatalf("final %+v", final)
			}
			jsonEq(t, final.Output, tt.wantOut)
		})
	}
}

// TestDataLimitExceeded: developer guide, quotas: "Maximum input or output
// size for a task, state, or execution: 256 KiB"; beyond it the state fails
// with States.DataLimitExceeded, which "can't be caught by the States.ALL
// error type".
func TestDataLimitExceeded(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", MaxPayload)
	def := mustParse(t, `{"StartAt":"T","States":{
	  "T":{"Type":"Task","Resource":"big","Next":"Done","Catch":[{"ErrorEquals":["States.ALL"],"Next":"Caught"}]},
	  "Caught":{"Type":"Pass","End":true},"Done":{"Type":"Pass","End":true}}}`)
	final, _ := run(t, def, &Env{Runner: runnerMap{"big": func(TaskRequest) (any, error) { return big, nil }}}, `{}`)
	if final.Status != StatusFailed || final.Error != ErrDataLimitExceeded {
		t.Fatalf("task result over 256 KiB: %+v", final.Status+" "+final.Error)
	}
	pass := mustParse(t, `{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"a.$":"States.Format('{}{}', $.s, $.s)"},"End":true}}}`)
	final, _ = run(t, pass, &Env{}, `{"s":"`+big[:MaxPayload/2+1]+`"}`)
	if final.Status != StatusFailed || final.Error != ErrDataLimitExceeded {
		t.Fatalf("state output over 256 KiB: %s %s", final.Status, final.Error)
	}
	ok, _ := run(t, pass, &Env{}, `{"s":"`+big[:MaxPayload/4]+`"}`)
	if ok.Status != StatusSucceeded {
		t.Fatalf("an output under the limit failed: %s %s", ok.Status, ok.Error)
	}
}

// TestDuplicateTemplateKeys: developer guide, "Parameters": a key ending
// in ".$" produces the key without it, so "a" and "a.$" in one template
// name the same field twice: the definition is invalid.
func TestDuplicateTemplateKeys(t *testing.T) {
	t.Parallel()
	for _, field := range []string{"Parameters", "ResultSelector"} {
		def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"r","End":true,"` + field + `":{"x":{"a":1,"a.$":"$.b"}}}}}`
		if _, err := Parse([]byte(def)); err == nil || !strings.Contains(err.Error(), `"a" and "a.$"`) {
			t.Errorf("%s with a and a.$: %v", field, err)
		}
	}
}
