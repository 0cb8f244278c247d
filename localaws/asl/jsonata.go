package asl

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"math"
	"math/rand/v2"
	"regexp"
	"strings"

	"github.com/google/uuid"
	jsonata "github.com/xiatechs/jsonata-go"
	"github.com/xiatechs/jsonata-go/jtypes"
)

// JSONata (developer guide, "Transforming data with JSONata in Step
// Functions"): in a state whose QueryLanguage is JSONata (its own, else the
// state machine's), every string of Arguments, Output, Assign, Items,
// ItemSelector, Condition, and of a Fail's Error and Cause, that is
// entirely "{% expression %}" is replaced by the expression's value (so
// are TimeoutSeconds, HeartbeatSeconds, a Wait's Seconds and Timestamp, a
// Map's MaxConcurrency and failure tolerances given as such a string), with
// $states = {input, result, errorOutput, context} and every workflow
// variable bound. Expressions are evaluated by github.com/xiatechs/jsonata-go
// with the functions Step Functions adds to JSONata ($partition, $range,
// $hash, $random with a seed, $uuid, $parse). A failing or undefined
// expression fails the state with States.QueryEvaluationError.

// ErrQueryEvaluation is the error of a JSONata expression that failed.
const ErrQueryEvaluation = "States.QueryEvaluationError"

const (
	langJSONPath = "JSONPath"
	langJSONata  = "JSONata"
)

var jsonataRE = regexp.MustCompile(`(?s)^\{%(.*)%\}$`)

// jsonataExpr returns the expression of a "{% ... %}" string.
func jsonataExpr(v any) (string, bool) {
	s, ok := v.(string)
	if !ok {
		return "", false
	}
	m := jsonataRE.FindStringSubmatch(s)
	if m == nil {
		return "", false
	}
	return strings.TrimSpace(m[1]), true
}

// checkJSONata compiles every expression in v (a decoded template).
func checkJSONata(v any) error {
	switch x := v.(type) {
	case string:
		if expr, ok := jsonataExpr(x); ok {
			if _, err := jsonata.Compile(expr); err != nil {
				return fmt.Errorf("invalid JSONata expression %q: %v", expr, err)
			}
		}
	case map[string]any:
		for _, e := range x {
			if err := checkJSONata(e); err != nil {
				return err
			}
		}
	case []any:
		for _, e := range x {
			if err := checkJSONata(e); err != nil {
				return err
			}
		}
	}
	return nil
}

// toJSONata converts decoded JSON (json.Number numbers) into the float64
// numbers the JSONata library computes with.
func toJSONata(v any) any {
	switch x := v.(type) {
	case json.Number:
		f, _ := x.Float64()
		return f
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = toJSONata(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = toJSONata(e)
		}
		return s
	}
	return v
}

// fromJSONata converts a JSONata result back to decoded JSON.
func fromJSONata(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return decodeJSON(b)
}

func queryErr(format string, args ...any) *TaskError {
	return &TaskError{ErrorName: ErrQueryEvaluation, Cause: fmt.Sprintf(format, args...)}
}

// evalJSONata evaluates one expression with $states and the variables.
func evalJSONata(expr string, states map[string]any, vars map[string]any) (any, error) {
	e, err := jsonata.Compile(expr)
	if err != nil {
		return nil, queryErr("The JSONata expression '%s' is invalid: %v", expr, err)
	}
	bind := make(map[string]any, len(vars)+1)
	for k, v := range vars {
		bind[k] = toJSONata(v)
	}
	bind["states"] = toJSONata(states)
	if err := e.RegisterVars(bind); err != nil {
		return nil, queryErr("%v", err)
	}
	if err := e.RegisterExts(stepFunctionsExts); err != nil {
		return nil, queryErr("%v", err)
	}
	out, err := e.Eval(bind["states"].(map[string]any)["input"])
	if errors.Is(err, jsonata.ErrUndefined) {
		return nil, queryErr("The JSONata expression '%s' specified for the field returned nothing (undefined).", expr)
	}
	if err != nil {
		return nil, queryErr("An error occurred while evaluating the JSONata expression '%s': %v", expr, err)
	}
	v, err := fromJSONata(out)
	if err != nil {
		return nil, queryErr("The JSONata expression '%s' returned a value that is not JSON: %v", expr, err)
	}
	return v, nil
}

// evalJSONataTemplate replaces every "{% %}" string of v.
func evalJSONataTemplate(v any, states map[string]any, vars map[string]any) (any, error) {
	switch x := v.(type) {
	case string:
		if expr, ok := jsonataExpr(x); ok {
			return evalJSONata(expr, states, vars)
		}
		return x, nil
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			r, err := evalJSONataTemplate(e, states, vars)
			if err != nil {
				return nil, err
			}
			m[k] = r
		}
		return m, nil
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			r, err := evalJSONataTemplate(e, states, vars)
			if err != nil {
				return nil, err
			}
			s[i] = r
		}
		return s, nil
	}
	return deepCopy(v), nil
}

// stepFunctionsExts are the JSONata functions Step Functions adds
// (developer guide, "JSONata functions provided by Step Functions").
var stepFunctionsExts = map[string]jsonata.Extension{
	// $partition(array, size): chunks of size.
	"partition": {Func: func(arr []any, size float64) ([]any, error) {
		n := int(math.Floor(size + 0.5))
		if n <= 0 {
			return nil, errors.New("$partition: the chunk size must be a positive integer")
		}
		out := []any{}
		for i := 0; i < len(arr); i += n {
			out = append(out, append([]any(nil), arr[i:min(i+n, len(arr))]...))
		}
		return out, nil
	}},
	// $range(start, end, step): from start to end inclusive.
	"range": {Func: func(start, end, step float64) ([]any, error) {
		if step == 0 {
			return nil, errors.New("$range: the step must not be 0")
		}
		out := []any{}
		for v := start; (step > 0 && v <= end) || (step < 0 && v >= end); v += step {
			out = append(out, v)
			if len(out) > 1000 {
				return nil, errors.New("$range: more than 1000 items")
			}
		}
		return out, nil
	}},
	// $hash(value, algorithm): hex digest.
	"hash": {Func: func(v any, algo string) (string, error) {
		data, ok := v.(string)
		if !ok {
			b, err := json.Marshal(v)
			if err != nil {
				return "", err
			}
			data = string(b)
		}
		var h hash.Hash
		switch algo {
		case "MD5":
			h = md5.New()
		case "SHA-1":
			h = sha1.New()
		case "SHA-256":
			h = sha256.New()
		case "SHA-384":
			h = sha512.New384()
		case "SHA-512":
			h = sha512.New()
		default:
			return "", fmt.Errorf("$hash: unsupported algorithm %q", algo)
		}
		h.Write([]byte(data))
		return hex.EncodeToString(h.Sum(nil)), nil
	}},
	// $random([seed]): a number in [0, 1); the same seed, the same number.
	"random": {Func: func(seed jtypes.OptionalFloat64) float64 {
		if seed.IsSet() {
			s := uint64(int64(seed.Float64))
			return rand.New(rand.NewPCG(s, 0x5f3759df)).Float64()
		}
		return rand.Float64()
	}},
	// $uuid(): a version 4 UUID.
	"uuid": {Func: func() string { return uuid.NewString() }},
	// $parse(json string): the value it holds.
	"parse": {Func: func(s string) (any, error) {
		var v any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			return nil, fmt.Errorf("$parse: %v", err)
		}
		return v, nil
	}},
}
