package asl

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Definition is a parsed and validated state machine (or Parallel branch,
// or Map item processor).
type Definition struct {
	Comment        string            `json:"Comment,omitempty"`
	StartAt        string            `json:"StartAt"`
	States         map[string]*State `json:"States"`
	TimeoutSeconds *int              `json:"TimeoutSeconds,omitempty"`
	Version        string            `json:"Version,omitempty"`
	QueryLanguage  string            `json:"QueryLanguage,omitempty"`
}

// OptPath is a path field that distinguishes absent, null and a value:
// absent InputPath/OutputPath/ResultPath mean "$"; null means {} for
// InputPath/OutputPath and "discard the result" for ResultPath.
type OptPath struct {
	Set  bool
	Null bool
	Path Path
}

// UnmarshalJSON implements json.Unmarshaler.
func (o *OptPath) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		o.Null = true
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("path must be a string or null")
	}
	p, err := ParsePath(s)
	if err != nil {
		return err
	}
	o.Path = p
	return nil
}

// MarshalJSON implements json.Marshaler.
func (o OptPath) MarshalJSON() ([]byte, error) {
	if o.Null {
		return []byte("null"), nil
	}
	return json.Marshal(o.Path.raw)
}

// Retrier is one element of a Retry field.
type Retrier struct {
	ErrorEquals     []string `json:"ErrorEquals"`
	IntervalSeconds *float64 `json:"IntervalSeconds,omitempty"`
	MaxAttempts     *int     `json:"MaxAttempts,omitempty"`
	BackoffRate     *float64 `json:"BackoffRate,omitempty"`
	MaxDelaySeconds *float64 `json:"MaxDelaySeconds,omitempty"`
	JitterStrategy  string   `json:"JitterStrategy,omitempty"`
}

// Catcher is one element of a Catch field.
type Catcher struct {
	ErrorEquals []string        `json:"ErrorEquals"`
	Next        string          `json:"Next"`
	ResultPath  OptPath         `json:"ResultPath"`
	Assign      json.RawMessage `json:"Assign,omitempty"`
	Output      json.RawMessage `json:"Output,omitempty"`

	assign *assignment
	output any
}

// State is one state. Which fields apply depends on Type.
type State struct {
	Type          string `json:"Type"`
	Comment       string `json:"Comment,omitempty"`
	Next          string `json:"Next,omitempty"`
	End           bool   `json:"End,omitempty"`
	QueryLanguage string `json:"QueryLanguage,omitempty"`

	// Variables and JSONata.
	Assign    json.RawMessage `json:"Assign,omitempty"`
	Arguments json.RawMessage `json:"Arguments,omitempty"`
	Output    json.RawMessage `json:"Output,omitempty"`
	Items     json.RawMessage `json:"Items,omitempty"`

	InputPath      OptPath         `json:"InputPath"`
	OutputPath     OptPath         `json:"OutputPath"`
	ResultPath     OptPath         `json:"ResultPath"`
	Parameters     json.RawMessage `json:"Parameters,omitempty"`
	ResultSelector json.RawMessage `json:"ResultSelector,omitempty"`
	Result         json.RawMessage `json:"Result,omitempty"`

	// Task
	Resource             string `json:"Resource,omitempty"`
	TimeoutSeconds       *int   `json:"TimeoutSeconds,omitempty"`
	TimeoutSecondsPath   string `json:"TimeoutSecondsPath,omitempty"`
	HeartbeatSeconds     *int   `json:"HeartbeatSeconds,omitempty"`
	HeartbeatSecondsPath string `json:"HeartbeatSecondsPath,omitempty"`

	Retry []Retrier `json:"Retry,omitempty"`
	Catch []Catcher `json:"Catch,omitempty"`

	// Choice
	Choices []*ChoiceRule `json:"Choices,omitempty"`
	Default string        `json:"Default,omitempty"`

	// Wait
	Seconds       *json.Number `json:"Seconds,omitempty"`
	Timestamp     string       `json:"Timestamp,omitempty"`
	SecondsPath   string       `json:"SecondsPath,omitempty"`
	TimestampPath string       `json:"TimestampPath,omitempty"`

	// Fail
	Error     string `json:"Error,omitempty"`
	Cause     string `json:"Cause,omitempty"`
	ErrorPath string `json:"ErrorPath,omitempty"`
	CausePath string `json:"CausePath,omitempty"`

	// Parallel
	Branches []*Definition `json:"Branches,omitempty"`

	// Map (inline)
	ItemsPath      OptPath         `json:"ItemsPath"`
	ItemSelector   json.RawMessage `json:"ItemSelector,omitempty"`
	ItemProcessor  *Definition     `json:"ItemProcessor,omitempty"`
	Iterator       *Definition     `json:"Iterator,omitempty"`
	MaxConcurrency int             `json:"MaxConcurrency,omitempty"`
	// MaxConcurrencyPath and the failure tolerance of a Map state.
	MaxConcurrencyPath             string   `json:"MaxConcurrencyPath,omitempty"`
	ToleratedFailurePercentage     *float64 `json:"ToleratedFailurePercentage,omitempty"`
	ToleratedFailurePercentagePath string   `json:"ToleratedFailurePercentagePath,omitempty"`
	ToleratedFailureCount          *int     `json:"ToleratedFailureCount,omitempty"`
	ToleratedFailureCountPath      string   `json:"ToleratedFailureCountPath,omitempty"`

	name           string
	exprs          map[string]string // JSONata: number and timestamp fields given as "{% %}"
	lang           string            // the effective QueryLanguage
	assign         *assignment
	arguments      any // JSONata templates (decoded JSON with "{% %}" strings)
	output         any
	hasOutput      bool
	items          any
	hasItems       bool
	itemSelectorJ  any
	params         *template
	resultSelector *template
	itemSelector   *template
	result         any
	hasResult      bool
}

var stateTypes = map[string]bool{
	"Task": true, "Pass": true, "Choice": true, "Wait": true, "Succeed": true,
	"Fail": true, "Parallel": true, "Map": true,
}

// Parse parses and validates a state machine definition. The error names
// the first problem found.
func Parse(data []byte) (*Definition, error) {
	if err := checkDefinitionFields(data, "", true); err != nil {
		return nil, fmt.Errorf("asl: %w", err)
	}
	var d Definition
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("asl: invalid definition JSON: %w", err)
	}
	if err := d.validate("", langJSONPath); err != nil {
		return nil, fmt.Errorf("asl: %w", err)
	}
	return &d, nil
}

func (d *Definition) validate(where, parentLang string) error {
	lang := parentLang
	if d.QueryLanguage != "" {
		lang = d.QueryLanguage
	}
	if d.StartAt == "" {
		return fmt.Errorf("%sStartAt is required", where)
	}
	if len(d.States) == 0 {
		return fmt.Errorf("%sStates must not be empty", where)
	}
	if _, ok := d.States[d.StartAt]; !ok {
		return fmt.Errorf("%sStartAt %q is not a state", where, d.StartAt)
	}
	for name, st := range d.States {
		if st == nil {
			return fmt.Errorf("%sstate %q is null", where, name)
		}
		st.name = name
		if len(name) > 80 {
			return fmt.Errorf("%sstate name %q is longer than 80 characters", where, name)
		}
		st.lang = lang
		if st.QueryLanguage != "" {
			if lang == langJSONata && st.QueryLanguage == langJSONPath {
				// Developer guide: "you can't set a state to JSONPath when the
				// state machine's QueryLanguage is JSONata".
				return fmt.Errorf("%sstate %q: QueryLanguage JSONPath is not allowed in a JSONata state machine", where, name)
			}
			st.lang = st.QueryLanguage
		}
		if err := st.validate(d); err != nil {
			return fmt.Errorf("%sstate %q: %w", where, name, err)
		}
	}
	return nil
}

func (st *State) validate(d *Definition) error {
	if !stateTypes[st.Type] {
		return fmt.Errorf("unknown Type %q", st.Type)
	}
	target := func(field, next string) error {
		if _, ok := d.States[next]; !ok {
			return fmt.Errorf("%s %q is not a state", field, next)
		}
		return nil
	}
	switch st.Type {
	case "Choice", "Succeed", "Fail":
		if st.Next != "" || st.End {
			return fmt.Errorf("a %s state cannot have Next or End", st.Type)
		}
	default:
		if (st.Next == "") == !st.End {
			return errors.New("exactly one of Next and End is required")
		}
		if st.Next != "" {
			if err := target("Next", st.Next); err != nil {
				return err
			}
		}
	}
	if err := st.validateLanguage(); err != nil {
		return err
	}
	var err error
	if st.params, err = compileTemplate(st.Parameters); err != nil {
		return fmt.Errorf("field Parameters: %w", err)
	}
	if st.resultSelector, err = compileTemplate(st.ResultSelector); err != nil {
		return fmt.Errorf("field ResultSelector: %w", err)
	}
	if st.itemSelector, err = compileTemplate(st.ItemSelector); err != nil {
		return fmt.Errorf("field ItemSelector: %w", err)
	}
	if len(st.Result) > 0 {
		if st.result, err = decodeJSON(st.Result); err != nil {
			return fmt.Errorf("field Result: %w", err)
		}
		st.hasResult = true
	}
	if st.ResultPath.Set && !st.ResultPath.Null && (!st.ResultPath.Path.isReference() || st.ResultPath.Path.IsContext()) {
		return errors.New("field ResultPath must be a reference path")
	}
	if err := validateRetryCatch(st, target); err != nil {
		return err
	}
	switch st.Type {
	case "Task":
		if st.Resource == "" {
			return errors.New("field Resource is required")
		}
		if st.TimeoutSeconds != nil && st.TimeoutSecondsPath != "" {
			return errors.New("field TimeoutSeconds and TimeoutSecondsPath are exclusive")
		}
		if st.HeartbeatSeconds != nil && st.HeartbeatSecondsPath != "" {
			return errors.New("field HeartbeatSeconds and HeartbeatSecondsPath are exclusive")
		}
		if st.TimeoutSeconds != nil && *st.TimeoutSeconds <= 0 || st.HeartbeatSeconds != nil && *st.HeartbeatSeconds <= 0 {
			return errors.New("field TimeoutSeconds and HeartbeatSeconds must be positive")
		}
		if st.TimeoutSeconds != nil && st.HeartbeatSeconds != nil && *st.HeartbeatSeconds >= *st.TimeoutSeconds {
			return errors.New("field HeartbeatSeconds must be smaller than TimeoutSeconds")
		}
		for _, p := range []string{st.TimeoutSecondsPath, st.HeartbeatSecondsPath} {
			if p != "" {
				if _, err := ParsePath(p); err != nil {
					return err
				}
			}
		}
	case "Choice":
		if len(st.Choices) == 0 {
			return errors.New("field Choices must not be empty")
		}
		for i, r := range st.Choices {
			if r.Next == "" {
				return fmt.Errorf("field Choices[%d]: Next is required", i)
			}
			if err := target("Choices Next", r.Next); err != nil {
				return err
			}
			if err := r.validateIn(st.lang); err != nil {
				return fmt.Errorf("field Choices[%d]: %w", i, err)
			}
		}
		if st.Default != "" {
			if err := target("Default", st.Default); err != nil {
				return err
			}
		}
	case "Wait":
		n := 0
		if st.Seconds != nil || st.exprs["Seconds"] != "" {
			n++
		}
		if st.exprs["Timestamp"] != "" {
			n++
		}
		for _, s := range []string{st.Timestamp, st.SecondsPath, st.TimestampPath} {
			if s != "" {
				n++
			}
		}
		if n != 1 {
			return errors.New("exactly one of Seconds, Timestamp, SecondsPath and TimestampPath is required")
		}
		if st.Timestamp != "" {
			if _, err := time.Parse(time.RFC3339Nano, st.Timestamp); err != nil {
				return fmt.Errorf("field Timestamp: %w", err)
			}
		}
		if st.Seconds != nil {
			if v, ok := toInt(*st.Seconds); !ok || v < 0 {
				return errors.New("field Seconds must be a non-negative integer")
			}
		}
		for _, p := range []string{st.SecondsPath, st.TimestampPath} {
			if p != "" {
				if _, err := ParsePath(p); err != nil {
					return err
				}
			}
		}
	case "Fail":
		if st.Error != "" && st.ErrorPath != "" || st.Cause != "" && st.CausePath != "" {
			return errors.New("field Error/ErrorPath and Cause/CausePath are exclusive")
		}
		for _, p := range []string{st.ErrorPath, st.CausePath} {
			if p != "" && !isIntrinsic(p) {
				if _, err := ParsePath(p); err != nil {
					return err
				}
			}
		}
	case "Parallel":
		if len(st.Branches) == 0 {
			return errors.New("field Branches must not be empty")
		}
		for i, b := range st.Branches {
			if b == nil {
				return fmt.Errorf("field Branches[%d] is null", i)
			}
			if err := b.validate(fmt.Sprintf("Branches[%d]: ", i), st.lang); err != nil {
				return err
			}
		}
	case "Map":
		if st.ItemProcessor == nil {
			st.ItemProcessor = st.Iterator
		}
		if st.ItemProcessor == nil {
			return errors.New("field ItemProcessor (or Iterator) is required")
		}
		if st.itemSelector == nil && st.params != nil {
			st.itemSelector = st.params // Parameters is the legacy name of ItemSelector
			st.params = nil
		}
		if err := st.ItemProcessor.validate("ItemProcessor: ", st.lang); err != nil {
			return err
		}
		if st.MaxConcurrency < 0 {
			return errors.New("field MaxConcurrency must be a non-negative integer")
		}
		if st.MaxConcurrency != 0 && st.MaxConcurrencyPath != "" {
			return errors.New("field MaxConcurrency and MaxConcurrencyPath are exclusive")
		}
		if st.ToleratedFailurePercentage != nil && st.ToleratedFailurePercentagePath != "" ||
			st.ToleratedFailureCount != nil && st.ToleratedFailureCountPath != "" {
			return errors.New("field ToleratedFailurePercentage/ToleratedFailureCount and their Path fields are exclusive")
		}
		if p := st.ToleratedFailurePercentage; p != nil && (*p < 0 || *p > 100) {
			return errors.New("field ToleratedFailurePercentage must be between 0 and 100")
		}
		if c := st.ToleratedFailureCount; c != nil && *c < 0 {
			return errors.New("field ToleratedFailureCount must be a non-negative integer")
		}
		for _, p := range []string{st.MaxConcurrencyPath, st.ToleratedFailurePercentagePath, st.ToleratedFailureCountPath} {
			if p == "" {
				continue
			}
			pp, err := ParsePath(p)
			if err != nil {
				return err
			}
			if !pp.isReference() {
				return fmt.Errorf("field %q must be a reference path", p)
			}
		}
	}
	return nil
}

func validateRetryCatch(st *State, target func(string, string) error) error {
	if (len(st.Retry) > 0 || len(st.Catch) > 0) && st.Type != "Task" && st.Type != "Parallel" && st.Type != "Map" {
		return errors.New("only Task, Parallel and Map states may have Retry or Catch")
	}
	check := func(kind string, i, n int, eq []string) error {
		if len(eq) == 0 {
			return fmt.Errorf("%s[%d]: ErrorEquals must not be empty", kind, i)
		}
		for _, e := range eq {
			if e == ErrAll && (len(eq) != 1 || i != n-1) {
				return fmt.Errorf("%s[%d]: States.ALL must appear alone and in the last %s", kind, i, strings.ToLower(kind))
			}
		}
		return nil
	}
	for i, r := range st.Retry {
		if err := check("Retrier", i, len(st.Retry), r.ErrorEquals); err != nil {
			return err
		}
		if r.MaxAttempts != nil && *r.MaxAttempts < 0 {
			return fmt.Errorf("field Retrier[%d]: MaxAttempts must be non-negative", i)
		}
		if r.IntervalSeconds != nil && *r.IntervalSeconds < 1 {
			return fmt.Errorf("field Retrier[%d]: IntervalSeconds must be a positive integer", i)
		}
		if r.BackoffRate != nil && *r.BackoffRate < 1 {
			return fmt.Errorf("field Retrier[%d]: BackoffRate must be at least 1.0", i)
		}
		if r.MaxDelaySeconds != nil && *r.MaxDelaySeconds < 1 {
			return fmt.Errorf("field Retrier[%d]: MaxDelaySeconds must be a positive integer", i)
		}
		if r.JitterStrategy != "" && r.JitterStrategy != "FULL" && r.JitterStrategy != "NONE" {
			return fmt.Errorf("field Retrier[%d]: JitterStrategy must be FULL or NONE", i)
		}
	}
	for i, c := range st.Catch {
		if err := check("Catcher", i, len(st.Catch), c.ErrorEquals); err != nil {
			return err
		}
		if err := target(fmt.Sprintf("Catcher[%d] Next", i), c.Next); err != nil {
			return err
		}
		if c.ResultPath.Set && !c.ResultPath.Null && (!c.ResultPath.Path.isReference() || c.ResultPath.Path.IsContext()) {
			return fmt.Errorf("field Catcher[%d]: ResultPath must be a reference path", i)
		}
	}
	return nil
}
