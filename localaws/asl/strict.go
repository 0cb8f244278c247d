package asl

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Every field of a definition must be one this interpreter implements:
// AWS Step Functions runs a definition only if it understands all of it, and
// a field silently dropped here (JSONata's Arguments or Output, a variable's
// Assign, a Distributed Map's ItemReader) would make the local run give a
// different answer than AWS. An unknown or unimplemented field is an error
// naming the field and where it is, as AWS's validator does
// ("SCHEMA_VALIDATION_FAILED: Field 'X' is not supported at /States/S").

// stateFields lists the fields each state type accepts (Amazon States
// Language specification, and the AWS developer guide for the fields AWS
// added: Assign, Arguments, Output, QueryLanguage, Items, the Map's
// concurrency and failure-tolerance fields).
var stateFields = map[string][]string{
	"Pass":     {"Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "Result", "Assign", "Output"},
	"Task":     {"Next", "End", "Resource", "InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector", "Retry", "Catch", "TimeoutSeconds", "TimeoutSecondsPath", "HeartbeatSeconds", "HeartbeatSecondsPath", "Assign", "Arguments", "Output"},
	"Choice":   {"Choices", "Default", "InputPath", "OutputPath", "Assign", "Output"},
	"Wait":     {"Next", "End", "Seconds", "Timestamp", "SecondsPath", "TimestampPath", "InputPath", "OutputPath", "Assign", "Output"},
	"Succeed":  {"InputPath", "OutputPath", "Output"},
	"Fail":     {"Error", "Cause", "ErrorPath", "CausePath"},
	"Parallel": {"Next", "End", "Branches", "InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector", "Retry", "Catch", "Assign", "Arguments", "Output"},
	"Map": {"Next", "End", "ItemProcessor", "Iterator", "ItemsPath", "Items", "ItemSelector", "Parameters", "MaxConcurrency", "MaxConcurrencyPath",
		"ToleratedFailurePercentage", "ToleratedFailurePercentagePath", "ToleratedFailureCount", "ToleratedFailureCountPath",
		"InputPath", "OutputPath", "ResultPath", "ResultSelector", "Retry", "Catch", "Assign", "Output"},
}

// unimplemented are fields AWS accepts that this interpreter does not run:
// refused with their own message rather than as unknown.
var unimplemented = map[string]string{
	"Credentials":  "cross-account task credentials",
	"ItemReader":   "Distributed Map (ItemReader)",
	"ItemBatcher":  "Distributed Map (ItemBatcher)",
	"ResultWriter": "Distributed Map (ResultWriter)",
	"Label":        "Distributed Map (Label)",
}

// commonStateFields apply to every state type.
var commonStateFields = []string{"Type", "Comment", "QueryLanguage"}

// fieldError is the InvalidDefinition text for a field at a JSON pointer.
func fieldError(field, at, why string) error {
	return fmt.Errorf("SCHEMA_VALIDATION_FAILED: Field '%s' is not supported at %s%s", field, at, why)
}

// checkKeys refuses every key of obj that is not in allowed.
func checkKeys(obj map[string]json.RawMessage, at string, allowed ...[]string) error {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ok := false
		for _, a := range allowed {
			if slices.Contains(a, k) {
				ok = true
				break
			}
		}
		if ok {
			continue
		}
		if what, known := unimplemented[k]; known {
			return fieldError(k, at, ": "+what+" is not implemented by the local Step Functions")
		}
		return fieldError(k, at, "")
	}
	return nil
}

// checkDefinitionFields walks a raw definition (or branch, or item
// processor) and refuses the fields it cannot run. at is its JSON pointer.
func checkDefinitionFields(raw json.RawMessage, at string, top bool) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return fmt.Errorf("%s must be an object", pointerOrRoot(at))
	}
	allowed := []string{"StartAt", "States", "Comment", "QueryLanguage"}
	if top {
		allowed = append(allowed, "TimeoutSeconds", "Version")
	} else {
		allowed = append(allowed, "ProcessorConfig")
	}
	if err := checkKeys(obj, pointerOrRoot(at), allowed); err != nil {
		return err
	}
	if err := checkQueryLanguage(obj, pointerOrRoot(at)); err != nil {
		return err
	}
	if pc, ok := obj["ProcessorConfig"]; ok {
		var cfg map[string]json.RawMessage
		if err := json.Unmarshal(pc, &cfg); err != nil {
			return fmt.Errorf("%s/ProcessorConfig must be an object", at)
		}
		if err := checkKeys(cfg, at+"/ProcessorConfig", []string{"Mode", "ExecutionType"}); err != nil {
			return err
		}
		var mode string
		if m, ok := cfg["Mode"]; ok && json.Unmarshal(m, &mode) == nil && mode != "INLINE" {
			return fmt.Errorf("SCHEMA_VALIDATION_FAILED: ProcessorConfig Mode %q at %s is not implemented by the local Step Functions (only INLINE)", mode, at)
		}
	}
	var states map[string]json.RawMessage
	if s, ok := obj["States"]; ok {
		if err := json.Unmarshal(s, &states); err != nil {
			return fmt.Errorf("%s/States must be an object", at)
		}
	}
	for name, sraw := range states {
		sat := at + "/States/" + name
		var st map[string]json.RawMessage
		if err := json.Unmarshal(sraw, &st); err != nil || st == nil {
			continue // validate reports it
		}
		var typ string
		_ = json.Unmarshal(st["Type"], &typ)
		fields, known := stateFields[typ]
		if !known {
			continue // validate reports the unknown type
		}
		if err := checkKeys(st, sat, commonStateFields, fields); err != nil {
			return err
		}
		if err := checkQueryLanguage(st, sat); err != nil {
			return err
		}
		for _, f := range []string{"Retry", "Catch"} {
			var items []map[string]json.RawMessage
			if r, ok := st[f]; ok && json.Unmarshal(r, &items) == nil {
				allowed := []string{"ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate", "MaxDelaySeconds", "JitterStrategy", "Comment"}
				if f == "Catch" {
					allowed = []string{"ErrorEquals", "Next", "ResultPath", "Assign", "Output", "Comment"}
				}
				for i, it := range items {
					if err := checkKeys(it, fmt.Sprintf("%s/%s[%d]", sat, f, i), allowed); err != nil {
						return err
					}
				}
			}
		}
		if typ == "Choice" {
			var rules []json.RawMessage
			if c, ok := st["Choices"]; ok && json.Unmarshal(c, &rules) == nil {
				for i, r := range rules {
					if err := checkChoiceFields(r, fmt.Sprintf("%s/Choices[%d]", sat, i), true); err != nil {
						return err
					}
				}
			}
		}
		for _, f := range []string{"ItemProcessor", "Iterator"} {
			if p, ok := st[f]; ok {
				if err := checkDefinitionFields(p, sat+"/"+f, false); err != nil {
					return err
				}
			}
		}
		if b, ok := st["Branches"]; ok {
			var branches []json.RawMessage
			if json.Unmarshal(b, &branches) == nil {
				for i, br := range branches {
					if err := checkDefinitionFields(br, fmt.Sprintf("%s/Branches[%d]", sat, i), false); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// checkChoiceFields refuses unknown fields of a choice rule (top-level rules
// may carry Next, Assign and Output; JSONata rules a Condition).
func checkChoiceFields(raw json.RawMessage, at string, top bool) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil // validate reports it
	}
	allowed := []string{"Variable", "And", "Or", "Not", "Comment", "Condition"}
	for k := range comparators {
		allowed = append(allowed, k)
	}
	if top {
		allowed = append(allowed, "Next", "Assign", "Output")
	}
	if err := checkKeys(obj, at, allowed); err != nil {
		return err
	}
	for _, f := range []string{"And", "Or"} {
		var subs []json.RawMessage
		if s, ok := obj[f]; ok && json.Unmarshal(s, &subs) == nil {
			for i, sub := range subs {
				if err := checkChoiceFields(sub, fmt.Sprintf("%s/%s[%d]", at, f, i), false); err != nil {
					return err
				}
			}
		}
	}
	if n, ok := obj["Not"]; ok {
		return checkChoiceFields(n, at+"/Not", false)
	}
	return nil
}

func pointerOrRoot(at string) string {
	if at == "" {
		return "/"
	}
	return at
}

// checkQueryLanguage refuses a QueryLanguage other than JSONPath and JSONata.
func checkQueryLanguage(obj map[string]json.RawMessage, at string) error {
	raw, ok := obj["QueryLanguage"]
	if !ok {
		return nil
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil || (v != "JSONPath" && v != "JSONata") {
		return fmt.Errorf("SCHEMA_VALIDATION_FAILED: QueryLanguage at %s must be JSONPath or JSONata, not %s", at, strings.TrimSpace(string(raw)))
	}
	return nil
}
