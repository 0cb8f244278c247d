package asl

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ChoiceRule is a Choice state rule: a Boolean combination (And, Or, Not)
// or a comparison of Variable with one comparator.
type ChoiceRule struct {
	Variable  string
	Next      string
	And       []*ChoiceRule
	Or        []*ChoiceRule
	Not       *ChoiceRule
	Condition string          // JSONata: "{% boolean expression %}"
	Assign    json.RawMessage // a top-level rule's variables
	Output    json.RawMessage // JSONata: a top-level rule's output

	op        string
	operand   any
	variable  Path
	opPath    Path
	condition string // the expression of Condition
	assign    *assignment
	output    any
	hasOutput bool
}

var comparators = map[string]string{
	// name → operand kind: "string", "number", "bool", "timestamp", "path"
	"StringEquals": "string", "StringLessThan": "string", "StringGreaterThan": "string",
	"StringLessThanEquals": "string", "StringGreaterThanEquals": "string", "StringMatches": "string",
	"NumericEquals": "number", "NumericLessThan": "number", "NumericGreaterThan": "number",
	"NumericLessThanEquals": "number", "NumericGreaterThanEquals": "number",
	"BooleanEquals":   "bool",
	"TimestampEquals": "timestamp", "TimestampLessThan": "timestamp", "TimestampGreaterThan": "timestamp",
	"TimestampLessThanEquals": "timestamp", "TimestampGreaterThanEquals": "timestamp",
	"IsNull": "bool", "IsPresent": "bool", "IsNumeric": "bool", "IsString": "bool",
	"IsBoolean": "bool", "IsTimestamp": "bool",
}

func init() {
	for _, base := range []string{"StringEquals", "StringLessThan", "StringGreaterThan",
		"StringLessThanEquals", "StringGreaterThanEquals", "NumericEquals", "NumericLessThan",
		"NumericGreaterThan", "NumericLessThanEquals", "NumericGreaterThanEquals", "BooleanEquals",
		"TimestampEquals", "TimestampLessThan", "TimestampGreaterThan", "TimestampLessThanEquals",
		"TimestampGreaterThanEquals"} {
		comparators[base+"Path"] = "path"
	}
}

// UnmarshalJSON implements json.Unmarshaler.
func (r *ChoiceRule) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	for k, raw := range m {
		var err error
		switch k {
		case "Variable":
			err = json.Unmarshal(raw, &r.Variable)
		case "Next":
			err = json.Unmarshal(raw, &r.Next)
		case "Comment":
		case "Condition":
			err = json.Unmarshal(raw, &r.Condition)
		case "Assign":
			r.Assign = raw
		case "Output":
			r.Output = raw
		case "And":
			err = json.Unmarshal(raw, &r.And)
		case "Or":
			err = json.Unmarshal(raw, &r.Or)
		case "Not":
			err = json.Unmarshal(raw, &r.Not)
		default:
			if _, ok := comparators[k]; !ok {
				return fmt.Errorf("unknown choice rule field %q", k)
			}
			if r.op != "" {
				return fmt.Errorf("choice rule has two comparators (%s, %s)", r.op, k)
			}
			r.op = k
			r.operand, err = decodeJSON(raw)
		}
		if err != nil {
			return fmt.Errorf("choice rule field %s: %w", k, err)
		}
	}
	return nil
}

// validateIn validates a top-level rule of a state in query language lang:
// a JSONata rule is a Condition (with Next, and optionally Assign and
// Output); a JSONPath rule a comparison or Boolean combination.
func (r *ChoiceRule) validateIn(lang string) error {
	if lang == langJSONata {
		if r.Variable != "" || r.op != "" || r.And != nil || r.Or != nil || r.Not != nil {
			return errors.New("a JSONata choice rule has a Condition, not Variable, comparators, And, Or or Not")
		}
		expr, ok := jsonataExpr(r.Condition)
		if !ok {
			return errors.New(`field Condition is required and must be a JSONata expression "{% ... %}"`)
		}
		if err := checkJSONata(r.Condition); err != nil {
			return err
		}
		r.condition = expr
		if len(r.Output) > 0 {
			v, err := decodeJSON(r.Output)
			if err != nil {
				return fmt.Errorf("field Output: %w", err)
			}
			if err := checkJSONata(v); err != nil {
				return err
			}
			r.output, r.hasOutput = v, true
		}
	} else {
		if r.Condition != "" {
			return errors.New("field Condition is only allowed in JSONata states")
		}
		if len(r.Output) > 0 {
			return errors.New("field Output is only allowed in JSONata states")
		}
		if err := r.validate(true); err != nil {
			return err
		}
	}
	a, err := compileAssignment(r.Assign, lang)
	if err != nil {
		return err
	}
	r.assign = a
	return nil
}

func (r *ChoiceRule) validate(top bool) error {
	if !top && r.Next != "" {
		return errors.New("field Next is only allowed in a top-level choice rule")
	}
	if !top && (len(r.Assign) > 0 || len(r.Output) > 0 || r.Condition != "") {
		return errors.New("fields Assign, Output and Condition are only allowed in a top-level choice rule")
	}
	n := 0
	if r.And != nil {
		n++
	}
	if r.Or != nil {
		n++
	}
	if r.Not != nil {
		n++
	}
	if r.op != "" {
		n++
	}
	if n != 1 {
		return errors.New("a choice rule needs exactly one of And, Or, Not or a comparator")
	}
	for _, sub := range append(append([]*ChoiceRule{}, r.And...), r.Or...) {
		if err := sub.validate(false); err != nil {
			return err
		}
	}
	if (r.And != nil && len(r.And) == 0) || (r.Or != nil && len(r.Or) == 0) {
		return errors.New("field And/Or must not be empty")
	}
	if r.Not != nil {
		return r.Not.validate(false)
	}
	if r.op == "" {
		if r.Variable != "" {
			return errors.New("field Variable without comparator")
		}
		return nil
	}
	p, err := ParsePath(r.Variable)
	if err != nil {
		return fmt.Errorf("field Variable: %w", err)
	}
	r.variable = p
	switch comparators[r.op] {
	case "string":
		if _, ok := r.operand.(string); !ok {
			return fmt.Errorf("%s needs a string", r.op)
		}
	case "number":
		if _, ok := toFloat(r.operand); !ok {
			return fmt.Errorf("%s needs a number", r.op)
		}
	case "bool":
		if _, ok := r.operand.(bool); !ok {
			return fmt.Errorf("%s needs a boolean", r.op)
		}
	case "timestamp":
		s, ok := r.operand.(string)
		if !ok {
			return fmt.Errorf("%s needs a timestamp string", r.op)
		}
		if _, ok := parseTimestamp(s); !ok {
			return fmt.Errorf("%s: %q is not a timestamp", r.op, s)
		}
	case "path":
		s, ok := r.operand.(string)
		if !ok {
			return fmt.Errorf("%s needs a path", r.op)
		}
		if r.opPath, err = ParsePath(s); err != nil {
			return fmt.Errorf("%s: %w", r.op, err)
		}
	}
	return nil
}

// eval evaluates the rule against the effective input. A Variable (or
// *Path operand) that does not exist is a States.Runtime error, except for
// IsPresent, which is the way to test for existence. A value of the wrong
// type for the comparator makes the comparison false.
func (r *ChoiceRule) eval(input, ctxObj any, vars map[string]any) (bool, error) {
	switch {
	case r.And != nil:
		for _, s := range r.And {
			ok, err := s.eval(input, ctxObj, vars)
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	case r.Or != nil:
		for _, s := range r.Or {
			ok, err := s.eval(input, ctxObj, vars)
			if err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	case r.Not != nil:
		ok, err := r.Not.eval(input, ctxObj, vars)
		return !ok && err == nil, err
	}
	v, err := resolvePath(r.variable, input, ctxObj, vars)
	if r.op == "IsPresent" {
		return (err == nil) == r.operand.(bool), nil
	}
	if err != nil {
		return false, runtimeErr("Invalid path '%s': The choice state's condition path references an invalid value.", r.Variable)
	}
	operand := r.operand
	op := r.op
	if comparators[op] == "path" {
		operand, err = resolvePath(r.opPath, input, ctxObj, vars)
		if err != nil {
			return false, runtimeErr("Invalid path '%s': The choice state's condition path references an invalid value.", r.opPath.raw)
		}
		op = strings.TrimSuffix(op, "Path")
	}
	return compare(op, v, operand), nil
}

func compare(op string, v, operand any) bool {
	switch op {
	case "IsNull":
		return (v == nil) == operand.(bool)
	case "IsNumeric":
		_, ok := toFloat(v)
		return ok == operand.(bool)
	case "IsString":
		_, ok := v.(string)
		return ok == operand.(bool)
	case "IsBoolean":
		_, ok := v.(bool)
		return ok == operand.(bool)
	case "IsTimestamp":
		s, ok := v.(string)
		if ok {
			_, ok = parseTimestamp(s)
		}
		return ok == operand.(bool)
	case "BooleanEquals":
		a, ok1 := v.(bool)
		b, ok2 := operand.(bool)
		return ok1 && ok2 && a == b
	case "StringMatches":
		a, ok1 := v.(string)
		b, ok2 := operand.(string)
		return ok1 && ok2 && stringMatches(a, b)
	}
	switch {
	case strings.HasPrefix(op, "String"):
		a, ok1 := v.(string)
		b, ok2 := operand.(string)
		if !ok1 || !ok2 {
			return false
		}
		return ordered(strings.TrimPrefix(op, "String"), strings.Compare(a, b))
	case strings.HasPrefix(op, "Numeric"):
		a, ok1 := toFloat(v)
		b, ok2 := toFloat(operand)
		if !ok1 || !ok2 {
			return false
		}
		c := 0
		if a < b {
			c = -1
		} else if a > b {
			c = 1
		}
		return ordered(strings.TrimPrefix(op, "Numeric"), c)
	case strings.HasPrefix(op, "Timestamp"):
		as, ok1 := v.(string)
		bs, ok2 := operand.(string)
		if !ok1 || !ok2 {
			return false
		}
		a, ok1 := parseTimestamp(as)
		b, ok2 := parseTimestamp(bs)
		if !ok1 || !ok2 {
			return false
		}
		return ordered(strings.TrimPrefix(op, "Timestamp"), a.Compare(b))
	}
	return false
}

func ordered(rel string, c int) bool {
	switch rel {
	case "Equals":
		return c == 0
	case "LessThan":
		return c < 0
	case "GreaterThan":
		return c > 0
	case "LessThanEquals":
		return c <= 0
	case "GreaterThanEquals":
		return c >= 0
	}
	return false
}

// parseTimestamp accepts RFC 3339 timestamps with an uppercase T and a
// zone (Z or an offset), as the spec requires.
func parseTimestamp(s string) (time.Time, bool) {
	if !strings.Contains(s, "T") {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

// stringMatches implements StringMatches: "*" matches any run of
// characters (including none); "\*" is a literal asterisk and "\\" a
// literal backslash.
func stringMatches(s, pattern string) bool {
	type tok struct {
		star bool
		ch   rune
	}
	var toks []tok
	rs := []rune(pattern)
	for i := 0; i < len(rs); i++ {
		switch {
		case rs[i] == '\\' && i+1 < len(rs):
			i++
			toks = append(toks, tok{ch: rs[i]})
		case rs[i] == '*':
			toks = append(toks, tok{star: true})
		default:
			toks = append(toks, tok{ch: rs[i]})
		}
	}
	in := []rune(s)
	// classic wildcard matching with backtracking on the last star
	si, ti, starTi, starSi := 0, 0, -1, 0
	for si < len(in) {
		switch {
		case ti < len(toks) && !toks[ti].star && toks[ti].ch == in[si]:
			si++
			ti++
		case ti < len(toks) && toks[ti].star:
			starTi, starSi = ti, si
			ti++
		case starTi >= 0:
			starSi++
			si, ti = starSi, starTi+1
		default:
			return false
		}
	}
	for ti < len(toks) && toks[ti].star {
		ti++
	}
	return ti == len(toks)
}
