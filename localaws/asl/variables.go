package asl

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Workflow variables (developer guide, "Passing data between states with
// variables"): Pass, Task, Map, Parallel, Choice (state and rules) and Wait
// states, and Catch, may Assign variables; "$name" reads one. A state's
// references read the values from its entry (its own Assign takes effect
// when it finishes, as does Output: both see the old values). The top-level
// states share one scope; each Parallel branch and Map iteration runs in a
// scope of its own that reads the enclosing ones and whose assignments stay
// inside it. Variables travel in the cursor, so they survive a restart.

var varNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// assignment is a compiled Assign field.
type assignment struct {
	jsonPath *template // JSONPath: "name": literal, "name.$": path or intrinsic
	jsonata  any       // JSONata: values with "{% %}" strings
}

// compileAssignment compiles an Assign object for a state in lang.
func compileAssignment(raw json.RawMessage, lang string) (*assignment, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	v, err := decodeJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("field Assign: %w", err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("field Assign must be an object")
	}
	for k := range obj {
		name := strings.TrimSuffix(k, ".$")
		if lang == langJSONata && name != k {
			return nil, fmt.Errorf("field Assign: %q: JSONata states use {%% %%} expressions, not \".$\" keys", k)
		}
		if !varNameRE.MatchString(name) || name == "states" {
			return nil, fmt.Errorf("field Assign: %q is not a valid variable name", name)
		}
	}
	if lang == langJSONata {
		if err := checkJSONata(obj); err != nil {
			return nil, fmt.Errorf("field Assign: %w", err)
		}
		return &assignment{jsonata: obj}, nil
	}
	t, err := compileValue(obj)
	if err != nil {
		return nil, fmt.Errorf("field Assign: %w", err)
	}
	return &assignment{jsonPath: t}, nil
}

// jsonPathFields and jsonataFields are the fields of one query language
// only (developer guide, "Transforming data with JSONata": JSONata states
// "don't support InputPath, Parameters, ResultSelector, ResultPath and
// OutputPath"; Arguments, Output, Items and Condition are JSONata's).
func (st *State) validateLanguage() error {
	var err error
	if st.assign, err = compileAssignment(st.Assign, st.lang); err != nil {
		return err
	}
	for f, expr := range st.exprs {
		if st.lang != langJSONata {
			return fmt.Errorf("field %s: JSONata expressions are only allowed in JSONata states", f)
		}
		if err := checkJSONata(expr); err != nil {
			return fmt.Errorf("field %s: %w", f, err)
		}
	}
	if st.lang != langJSONata {
		for f, set := range map[string]bool{"Arguments": len(st.Arguments) > 0, "Output": len(st.Output) > 0, "Items": len(st.Items) > 0} {
			if set {
				return fmt.Errorf("field %s is only allowed in JSONata states (QueryLanguage JSONata)", f)
			}
		}
		for i, c := range st.Catch {
			if len(c.Output) > 0 {
				return fmt.Errorf("field Catcher[%d]: Output is only allowed in JSONata states", i)
			}
			if st.Catch[i].assign, err = compileAssignment(c.Assign, st.lang); err != nil {
				return fmt.Errorf("field Catcher[%d]: %w", i, err)
			}
		}
		return nil
	}
	for f, set := range map[string]bool{
		"InputPath": st.InputPath.Set, "OutputPath": st.OutputPath.Set, "ResultPath": st.ResultPath.Set,
		"Parameters": len(st.Parameters) > 0, "ResultSelector": len(st.ResultSelector) > 0, "Result": len(st.Result) > 0,
		"ItemsPath": st.ItemsPath.Set, "TimeoutSecondsPath": st.TimeoutSecondsPath != "", "HeartbeatSecondsPath": st.HeartbeatSecondsPath != "",
		"SecondsPath": st.SecondsPath != "", "TimestampPath": st.TimestampPath != "", "ErrorPath": st.ErrorPath != "", "CausePath": st.CausePath != "",
		"MaxConcurrencyPath": st.MaxConcurrencyPath != "", "ToleratedFailurePercentagePath": st.ToleratedFailurePercentagePath != "",
		"ToleratedFailureCountPath": st.ToleratedFailureCountPath != "",
	} {
		if set {
			return fmt.Errorf("field %s is not supported in JSONata states (use Arguments, Output, Assign and {%% %%} expressions)", f)
		}
	}
	decode := func(f string, raw json.RawMessage) (any, bool, error) {
		if len(raw) == 0 {
			return nil, false, nil
		}
		v, err := decodeJSON(raw)
		if err != nil {
			return nil, false, fmt.Errorf("field %s: %w", f, err)
		}
		if err := checkJSONata(v); err != nil {
			return nil, false, fmt.Errorf("field %s: %w", f, err)
		}
		return v, true, nil
	}
	if st.arguments, _, err = decode("Arguments", st.Arguments); err != nil {
		return err
	}
	if st.output, st.hasOutput, err = decode("Output", st.Output); err != nil {
		return err
	}
	if st.items, st.hasItems, err = decode("Items", st.Items); err != nil {
		return err
	}
	if st.itemSelectorJ, _, err = decode("ItemSelector", st.ItemSelector); err != nil {
		return err
	}
	if len(st.Arguments) > 0 && st.Type != "Task" && st.Type != "Parallel" {
		return errors.New("field Arguments is only allowed in Task and Parallel states")
	}
	if st.Type == "Fail" {
		for _, s := range []string{st.Error, st.Cause} {
			if err := checkJSONata(s); err != nil {
				return err
			}
		}
	}
	for i := range st.Catch {
		c := &st.Catch[i]
		if c.ResultPath.Set {
			return fmt.Errorf("field Catcher[%d]: ResultPath is not supported in JSONata states", i)
		}
		if c.assign, err = compileAssignment(c.Assign, st.lang); err != nil {
			return fmt.Errorf("field Catcher[%d]: %w", i, err)
		}
		if len(c.Output) > 0 {
			v, err := decodeJSON(c.Output)
			if err != nil {
				return fmt.Errorf("field Catcher[%d] Output: %w", i, err)
			}
			if err := checkJSONata(v); err != nil {
				return err
			}
			c.output = v
		}
	}
	// The JSONata fields replace Parameters/ItemSelector templates.
	st.Parameters, st.ItemSelector = nil, nil
	return nil
}

// exprFields are the number and timestamp fields a JSONata state may give as
// a "{% %}" expression (developer guide, JSONata: "TimeoutSeconds",
// "HeartbeatSeconds", a Wait's "Seconds" and "Timestamp", a Map's
// "MaxConcurrency", "ToleratedFailurePercentage", "ToleratedFailureCount").
var exprFields = []string{"TimeoutSeconds", "HeartbeatSeconds", "Seconds", "Timestamp", "MaxConcurrency",
	"ToleratedFailurePercentage", "ToleratedFailureCount"}

// UnmarshalJSON implements json.Unmarshaler: it sets aside the exprFields
// given as "{% %}" strings, then decodes the rest as usual.
func (st *State) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	for _, f := range exprFields {
		v, ok := raw[f]
		if !ok {
			continue
		}
		var s string
		if json.Unmarshal(v, &s) != nil {
			continue
		}
		if _, isExpr := jsonataExpr(s); isExpr {
			if st.exprs == nil {
				st.exprs = map[string]string{}
			}
			st.exprs[f] = s
			delete(raw, f)
		}
	}
	type plain State
	rest, err := json.Marshal(raw)
	if err != nil {
		return err
	}
	exprs := st.exprs
	if err := json.Unmarshal(rest, (*plain)(st)); err != nil {
		return err
	}
	st.exprs = exprs
	return nil
}

// exprNumber evaluates the "{% %}" expression of field, if any.
func (s *stepper) exprNumber(field string, ctxObj any) (float64, bool, error) {
	expr, ok := s.st.exprs[field]
	if !ok {
		return 0, false, nil
	}
	v, err := evalJSONataTemplate(expr, s.statesVar(ctxObj), s.env.vars)
	if err != nil {
		return 0, true, err
	}
	f, isNum := toFloat(v)
	if !isNum || f < 0 {
		return 0, true, queryErr("The expression of %s must evaluate to a non-negative number, got %s", field, mustEncode(v))
	}
	return f, true, nil
}

// scopeVars merges variable scopes: outer first, inner values win.
func scopeVars(outer, inner map[string]any) map[string]any {
	if len(outer) == 0 {
		return inner
	}
	m := make(map[string]any, len(outer)+len(inner))
	for k, v := range outer {
		m[k] = v
	}
	for k, v := range inner {
		m[k] = v
	}
	return m
}

// decodeVars decodes a cursor's variables.
func decodeVars(raw json.RawMessage) (map[string]any, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	v, err := decodeJSON(raw)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("variables are not an object")
	}
	return m, nil
}

// applyAssign evaluates a (JSONPath) assignment against doc, or a JSONata
// one with states, and records the values to take effect when the state
// ends.
func (s *stepper) applyAssign(a *assignment, doc, ctxObj any, states map[string]any) error {
	if a == nil {
		return nil
	}
	var v any
	var err error
	if a.jsonata != nil {
		v, err = evalJSONataTemplate(a.jsonata, states, s.env.vars)
	} else {
		v, err = a.jsonPath.eval(doc, ctxObj, s.env)
	}
	if err != nil {
		return err
	}
	if s.assigned == nil {
		s.assigned = map[string]any{}
	}
	for k, val := range v.(map[string]any) {
		s.assigned[k] = val
	}
	return nil
}

// varsAfter is the cursor variables once the state ends: its own scope's
// values with this state's assignments.
func (s *stepper) varsAfter() json.RawMessage {
	if len(s.assigned) == 0 {
		return s.c.Vars
	}
	own, _ := decodeVars(s.c.Vars)
	if own == nil {
		own = map[string]any{}
	}
	for k, v := range s.assigned {
		own[k] = v
	}
	return mustEncode(own)
}

// statesVar is $states for a JSONata expression of this state.
func (s *stepper) statesVar(ctxObj any, extra ...any) map[string]any {
	m := map[string]any{"input": s.input, "context": ctxObj}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i].(string)] = extra[i+1]
	}
	return m
}

// resolvePath evaluates a path against its document: the context object
// for "$$", a variable for "$name", else the input.
func resolvePath(p Path, input, ctxObj any, vars map[string]any) (any, error) {
	doc := input
	switch {
	case p.IsContext():
		doc = ctxObj
	case p.variable != "":
		v, ok := vars[p.variable]
		if !ok {
			return nil, runtimeErr("The variable '$%s' is not defined", p.variable)
		}
		doc = v
	}
	return p.Get(doc)
}
