// Package sam is a small typed model of an AWS SAM template, read by a local
// runtime so it runs the same functions, routes, authorizer, usage plan, WAF
// rate rules, queues, redrive policies, schedules and state machine
// substitutions as the deployed stack.
//
// It reads YAML with gopkg.in/yaml.v3 and understands CloudFormation's
// short-form tags (!Ref, !GetAtt, !Sub, !If, ...). Intrinsics that depend only
// on parameters, pseudo parameters, mappings and conditions are evaluated;
// references to resources are kept as intrinsic Values (the local runtime
// supplies their local values). Anything the model cannot represent is a
// *FieldError naming the resource and the property.
package sam

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Template is the typed model of a template, with parameters resolved.
// It is immutable after Load/Parse/Resolve and safe for concurrent reads.
type Template struct {
	Dir         string // directory of the template file ("" for Parse); relative paths are resolved against it
	Description string

	Parameters map[string]*Parameter
	// Values are the effective parameter values (overrides, else defaults)
	// plus the pseudo parameters (AWS::Region, AWS::AccountId,
	// AWS::StackName, AWS::Partition, AWS::URLSuffix). Parameters with no
	// value are absent.
	Values     map[string]string
	Conditions map[string]bool

	Functions     map[string]*Function // by logical id
	Apis          map[string]*Api      // by logical id
	Routes        []Route              // every Api event, sorted by path then method
	Queues        map[string]*Queue    // by logical id
	StateMachines map[string]*StateMachine
	RateRules     []RateRule // WAF rate-based rules, by WebACL then priority

	raw        *rawTemplate
	overrides  map[string]string
	usagePlans []*UsagePlan // AWS::ApiGateway::UsagePlan resources, attached to their Api by linkUsagePlans
}

// Parameter is a template parameter declaration.
type Parameter struct {
	Name           string
	Type           string
	Description    string
	Default        string
	HasDefault     bool
	AllowedValues  []string
	AllowedPattern string
	MinValue       *float64
	MaxValue       *float64
	NoEcho         bool
}

// IsList reports whether a Ref to the parameter yields a list.
func (p *Parameter) IsList() bool {
	return strings.HasPrefix(p.Type, "List<") || p.Type == "CommaDelimitedList"
}

type rawTemplate struct {
	Description string                  `yaml:"Description"`
	Transform   Value                   `yaml:"Transform"`
	Parameters  map[string]rawParameter `yaml:"Parameters"`
	Mappings    map[string]Value        `yaml:"Mappings"`
	Conditions  map[string]Value        `yaml:"Conditions"`
	Globals     map[string]Value        `yaml:"Globals"`
	Resources   map[string]rawResource  `yaml:"Resources"`
}

type rawParameter struct {
	Type           string  `yaml:"Type"`
	Description    string  `yaml:"Description"`
	Default        Value   `yaml:"Default"`
	AllowedValues  []Value `yaml:"AllowedValues"`
	AllowedPattern string  `yaml:"AllowedPattern"`
	MinValue       Value   `yaml:"MinValue"`
	MaxValue       Value   `yaml:"MaxValue"`
	NoEcho         Value   `yaml:"NoEcho"`
}

type rawResource struct {
	Type       string `yaml:"Type"`
	Condition  string `yaml:"Condition"`
	Properties Value  `yaml:"Properties"`
	Metadata   Value  `yaml:"Metadata"`
}

// Load reads and parses the template at path with parameter defaults.
func Load(path string) (*Template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	raw, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	return build(raw, filepath.Dir(abs), nil)
}

// Parse parses template text with parameter defaults. Relative paths
// (CodeUri, DefinitionUri) stay relative.
func Parse(data []byte) (*Template, error) {
	raw, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	return build(raw, "", nil)
}

// Resolve returns the model rebuilt with params overriding the parameter
// defaults (as `sam deploy --parameter-overrides` would). Keys are parameter
// names or pseudo parameters ("AWS::Region", "AWS::StackName", ...). Overrides
// of t itself are kept unless params replaces them. It fails on an unknown
// parameter and on a value its AllowedValues, AllowedPattern, MinValue or
// MaxValue reject.
func (t *Template) Resolve(params map[string]string) (*Template, error) {
	merged := map[string]string{}
	for k, v := range t.overrides {
		merged[k] = v
	}
	for k, v := range params {
		merged[k] = v
	}
	return build(t.raw, t.Dir, merged)
}

func decode(data []byte) (*rawTemplate, error) {
	var raw rawTemplate
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	if len(raw.Resources) == 0 {
		return nil, errors.New("no Resources")
	}
	return &raw, nil
}

var pseudoNames = []string{"AWS::Region", "AWS::AccountId", "AWS::StackName", "AWS::Partition", "AWS::URLSuffix", "AWS::StackId", "AWS::NotificationARNs"}

func build(raw *rawTemplate, dir string, overrides map[string]string) (*Template, error) {
	t := &Template{
		Dir:           dir,
		Description:   raw.Description,
		Parameters:    map[string]*Parameter{},
		Values:        map[string]string{},
		Conditions:    map[string]bool{},
		Functions:     map[string]*Function{},
		Apis:          map[string]*Api{},
		Queues:        map[string]*Queue{},
		StateMachines: map[string]*StateMachine{},
		raw:           raw,
		overrides:     overrides,
	}
	e := &evaluator{
		params:     map[string]string{},
		listParams: map[string]bool{},
		declared:   map[string]bool{},
		pseudo: map[string]string{
			"AWS::Region":    DefaultRegion,
			"AWS::AccountId": DefaultAccountID,
			"AWS::StackName": DefaultStackName,
			"AWS::Partition": "aws",
			"AWS::URLSuffix": "amazonaws.com",
		},
		resources:  raw.Resources,
		mappings:   raw.Mappings,
		conditions: raw.Conditions,
		condCache:  map[string]bool{},
		condBusy:   map[string]bool{},
	}
	if err := t.buildParameters(raw, e, overrides); err != nil {
		return nil, err
	}
	for _, name := range pseudoNames {
		if v, ok := e.pseudo[name]; ok {
			t.Values[name] = v
		}
	}
	for _, name := range sortedKeys(raw.Conditions) {
		b, err := e.condition(name)
		if err != nil {
			return nil, fieldErr("Conditions", name, err)
		}
		t.Conditions[name] = b
	}

	globalsFn := raw.Globals["Function"]
	globalsAPI := raw.Globals["Api"]
	for _, id := range sortedKeys(raw.Resources) {
		r := raw.Resources[id]
		if r.Condition != "" {
			on, err := e.condition(r.Condition)
			if err != nil {
				return nil, fieldErr(id, "Condition", err)
			}
			if !on {
				continue
			}
		}
		var err error
		switch r.Type {
		case "AWS::Serverless::Function":
			err = t.addFunction(e, id, r, mergeGlobals(globalsFn, r.Properties))
		case "AWS::Serverless::Api":
			err = t.addApi(e, id, mergeGlobals(globalsAPI, r.Properties))
		case "AWS::SQS::Queue":
			err = t.addQueue(e, id, r.Properties)
		case "AWS::Serverless::StateMachine":
			err = t.addStateMachine(e, id, r.Properties)
		case "AWS::WAFv2::WebACL":
			err = t.addWebACL(e, id, r.Properties)
		case "AWS::ApiGateway::UsagePlan":
			err = t.addUsagePlan(e, id, r.Properties)
		case "AWS::Lambda::Function", "AWS::StepFunctions::StateMachine", "AWS::ApiGateway::RestApi":
			err = fieldErr(id, "Type", fmt.Errorf("%w: %s (use the AWS::Serverless equivalent)", ErrUnsupported, r.Type))
		}
		if err != nil {
			return nil, err
		}
	}
	// Cross-references need every resource first.
	if err := t.link(e); err != nil {
		return nil, err
	}
	if err := t.linkUsagePlans(); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Template) buildParameters(raw *rawTemplate, e *evaluator, overrides map[string]string) error {
	for _, name := range sortedKeys(raw.Parameters) {
		rp := raw.Parameters[name]
		p := &Parameter{Name: name, Type: rp.Type, Description: rp.Description, AllowedPattern: rp.AllowedPattern}
		if !rp.Default.IsNull() {
			if rp.Default.Kind != KindScalar {
				return fieldErr("Parameters", name+".Default", errors.New("must be a plain value"))
			}
			p.Default, p.HasDefault = rp.Default.Scalar, true
		}
		for i, av := range rp.AllowedValues {
			if av.Kind != KindScalar {
				return fieldErr("Parameters", fmt.Sprintf("%s.AllowedValues[%d]", name, i), errors.New("must be a plain value"))
			}
			p.AllowedValues = append(p.AllowedValues, av.Scalar)
		}
		for _, b := range []struct {
			v   Value
			dst **float64
			f   string
		}{{rp.MinValue, &p.MinValue, "MinValue"}, {rp.MaxValue, &p.MaxValue, "MaxValue"}} {
			if b.v.IsNull() {
				continue
			}
			f, err := strconv.ParseFloat(b.v.Scalar, 64)
			if err != nil {
				return fieldErr("Parameters", name+"."+b.f, fmt.Errorf("not a number: %q", b.v.Scalar))
			}
			*b.dst = &f
		}
		p.NoEcho = rp.NoEcho.Kind == KindScalar && strings.EqualFold(rp.NoEcho.Scalar, "true")
		t.Parameters[name] = p
		e.declared[name] = true
		e.listParams[name] = p.IsList()
	}
	for _, k := range sortedKeys(overrides) {
		if strings.HasPrefix(k, "AWS::") {
			if _, ok := e.pseudo[k]; !ok {
				return fieldErr("Parameters", k, errors.New("unknown or read-only pseudo parameter"))
			}
			e.pseudo[k] = overrides[k]
			continue
		}
		if _, ok := t.Parameters[k]; !ok {
			return fieldErr("Parameters", k, errors.New("override for a parameter the template does not declare"))
		}
	}
	for _, name := range sortedKeys(t.Parameters) {
		p := t.Parameters[name]
		v, ok := overrides[name]
		if !ok {
			if !p.HasDefault {
				continue
			}
			v = p.Default
		}
		if err := p.check(v); err != nil {
			return fieldErr("Parameters", name, err)
		}
		e.params[name] = v
		t.Values[name] = v
	}
	return nil
}

// check validates a value against the parameter's constraints.
func (p *Parameter) check(v string) error {
	if len(p.AllowedValues) > 0 {
		found := false
		for _, a := range p.AllowedValues {
			if a == v {
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("value %q is not one of AllowedValues %v", v, p.AllowedValues)
		}
	}
	if p.AllowedPattern != "" {
		re, err := regexp.Compile("^(?:" + p.AllowedPattern + ")$")
		if err != nil {
			return fmt.Errorf("AllowedPattern %q: %w", p.AllowedPattern, err)
		}
		if !re.MatchString(v) {
			return fmt.Errorf("value %q does not match AllowedPattern %s", v, p.AllowedPattern)
		}
	}
	if p.Type == "Number" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("value %q is not a Number", v)
		}
		if p.MinValue != nil && f < *p.MinValue {
			return fmt.Errorf("value %s is below MinValue %v", v, *p.MinValue)
		}
		if p.MaxValue != nil && f > *p.MaxValue {
			return fmt.Errorf("value %s is above MaxValue %v", v, *p.MaxValue)
		}
	}
	return nil
}

// mergeGlobals applies SAM's Globals rules: mappings merge key by key (the
// resource wins), lists concatenate (globals first), anything else (scalars,
// intrinsics) is replaced by the resource's value.
func mergeGlobals(global, local Value) Value {
	if global.IsNull() {
		return local
	}
	if local.IsNull() {
		return global
	}
	if global.Kind == KindMap && local.Kind == KindMap {
		out := Value{Kind: KindMap, Line: local.Line}
		seen := map[string]bool{}
		for _, kv := range global.Map {
			if lv, ok := local.Get(kv.Key); ok {
				out.Map = append(out.Map, KeyValue{Key: kv.Key, Value: mergeGlobals(kv.Value, lv)})
			} else {
				out.Map = append(out.Map, kv)
			}
			seen[kv.Key] = true
		}
		for _, kv := range local.Map {
			if !seen[kv.Key] {
				out.Map = append(out.Map, kv)
			}
		}
		return out
	}
	if global.Kind == KindSeq && local.Kind == KindSeq {
		out := Value{Kind: KindSeq, Line: local.Line}
		out.Seq = append(append(out.Seq, global.Seq...), local.Seq...)
		return out
	}
	return local
}

// Function returns the function with logical id id.
func (t *Template) Function(id string) (*Function, bool) {
	f, ok := t.Functions[id]
	return f, ok
}

// FunctionByName returns the function whose CodeUri directory is name
// ("reserve-stock").
func (t *Template) FunctionByName(name string) (*Function, bool) {
	for _, f := range t.Functions {
		if f.Name == name {
			return f, true
		}
	}
	return nil, false
}

// FunctionIDs returns the functions' logical ids, sorted.
func (t *Template) FunctionIDs() []string { return sortedKeys(t.Functions) }

// QueueIDs returns the queues' logical ids, sorted.
func (t *Template) QueueIDs() []string { return sortedKeys(t.Queues) }

// QueueByName returns the queue whose (resolved) QueueName is name.
func (t *Template) QueueByName(name string) (*Queue, bool) {
	for _, q := range t.Queues {
		if q.Name == name {
			return q, true
		}
	}
	return nil, false
}

// Api returns the template's only AWS::Serverless::Api; it fails when there
// are none or several.
func (t *Template) Api() (*Api, error) {
	if len(t.Apis) != 1 {
		return nil, fmt.Errorf("template: want exactly one AWS::Serverless::Api, have %d", len(t.Apis))
	}
	for _, a := range t.Apis {
		return a, nil
	}
	return nil, nil
}

// StateMachine returns the template's only AWS::Serverless::StateMachine; it
// fails when there are none or several.
func (t *Template) StateMachine() (*StateMachine, error) {
	if len(t.StateMachines) != 1 {
		return nil, fmt.Errorf("template: want exactly one AWS::Serverless::StateMachine, have %d", len(t.StateMachines))
	}
	for _, s := range t.StateMachines {
		return s, nil
	}
	return nil, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// props is a helper for reading one resource's properties with errors that
// name the resource and the field.
type props struct {
	e   *evaluator
	id  string
	pre string // field path prefix, e.g. "Events.Sweep.Properties."
	v   Value
}

func (p props) sub(key string) props {
	v, _ := p.v.Get(key)
	return props{e: p.e, id: p.id, pre: p.pre + key + ".", v: v}
}

func (p props) has(key string) bool { _, ok := p.v.Get(key); return ok }

func (p props) field(key string) string { return p.pre + key }

func (p props) err(key string, err error) error { return fieldErr(p.id, p.field(key), err) }

func (p props) raw(key string) Value { v, _ := p.v.Get(key); return v }

func (p props) str(key, def string) (string, error) {
	v, ok := p.v.Get(key)
	if !ok || v.IsNull() {
		return def, nil
	}
	s, err := p.e.str(v)
	if err != nil {
		return "", p.err(key, err)
	}
	return s, nil
}

func (p props) integer(key string, def int64) (int64, error) {
	v, ok := p.v.Get(key)
	if !ok || v.IsNull() {
		return def, nil
	}
	n, err := p.e.integer(v)
	if err != nil {
		return 0, p.err(key, err)
	}
	return n, nil
}

func (p props) number(key string, def float64) (float64, error) {
	v, ok := p.v.Get(key)
	if !ok || v.IsNull() {
		return def, nil
	}
	n, err := p.e.number(v)
	if err != nil {
		return 0, p.err(key, err)
	}
	return n, nil
}

func (p props) boolean(key string, def bool) (bool, error) {
	v, ok := p.v.Get(key)
	if !ok || v.IsNull() {
		return def, nil
	}
	b, err := p.e.boolean(v)
	if err != nil {
		return false, p.err(key, err)
	}
	return b, nil
}

func (p props) strList(key string) ([]string, error) {
	v, ok := p.v.Get(key)
	if !ok || v.IsNull() {
		return nil, nil
	}
	l, err := p.e.strList(v)
	if err != nil {
		return nil, p.err(key, err)
	}
	return l, nil
}

// resourceOf resolves v and returns the logical id it points at through
// !Ref X or !GetAtt X.<attr> with attr in attrs ("" allows Ref).
func (p props) resourceOf(key string, attrs ...string) (id, attr string, err error) {
	v, ok := p.v.Get(key)
	if !ok || v.IsNull() {
		return "", "", p.err(key, errors.New("required"))
	}
	r, err := p.e.resolve(v)
	if err != nil {
		return "", "", p.err(key, err)
	}
	if ref, ok := r.Ref(); ok {
		for _, a := range attrs {
			if a == "" {
				return ref, "", nil
			}
		}
	}
	if res, at, ok := r.GetAtt(); ok {
		for _, a := range attrs {
			if a == at {
				return res, at, nil
			}
		}
	}
	want := make([]string, len(attrs))
	for i, a := range attrs {
		if a == "" {
			want[i] = "!Ref X"
		} else {
			want[i] = "!GetAtt X." + a
		}
	}
	return "", "", p.err(key, fmt.Errorf("%w: want %s, got %s", ErrUnsupported, strings.Join(want, " or "), r))
}
