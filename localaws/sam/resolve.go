package sam

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// Pseudo-parameter values used locally unless overridden through the
// parameter map passed to Resolve (key "AWS::Region" and so on).
const (
	DefaultRegion    = "us-east-1"
	DefaultAccountID = "000000000000"
	DefaultStackName = "checkout"
)

// evaluator reduces intrinsic functions with the effective parameter values.
// It is lenient where the template legitimately points at AWS-only values:
// a Ref/GetAtt to a resource, or a Ref to a parameter without a value, stays
// an unreduced intrinsic; the typed accessors (str, integer, ...) then fail
// with ErrUnresolved. Malformed intrinsics are errors.
type evaluator struct {
	params     map[string]string // effective values of template parameters
	listParams map[string]bool   // parameters whose Ref yields a list
	declared   map[string]bool   // every declared parameter
	pseudo     map[string]string
	resources  map[string]rawResource
	mappings   map[string]Value
	conditions map[string]Value
	condCache  map[string]bool
	condBusy   map[string]bool
}

// noValue marks AWS::NoValue after resolution; mappings and sequences drop it.
var noValue = Value{Kind: KindIntrinsic, Fn: &Intrinsic{Name: "Ref", Arg: Str("AWS::NoValue")}}

func isNoValue(v Value) bool { r, ok := v.Ref(); return ok && r == "AWS::NoValue" }

// resolve returns v with every reducible intrinsic reduced.
func (e *evaluator) resolve(v Value) (Value, error) {
	switch v.Kind {
	case KindSeq:
		out := Value{Kind: KindSeq, Line: v.Line, Seq: make([]Value, 0, len(v.Seq))}
		for _, el := range v.Seq {
			r, err := e.resolve(el)
			if err != nil {
				return Value{}, err
			}
			if !isNoValue(r) {
				out.Seq = append(out.Seq, r)
			}
		}
		return out, nil
	case KindMap:
		out := Value{Kind: KindMap, Line: v.Line, Map: make([]KeyValue, 0, len(v.Map))}
		for _, kv := range v.Map {
			r, err := e.resolve(kv.Value)
			if err != nil {
				return Value{}, fmt.Errorf("%s: %w", kv.Key, err)
			}
			if !isNoValue(r) {
				out.Map = append(out.Map, KeyValue{Key: kv.Key, Value: r})
			}
		}
		return out, nil
	case KindIntrinsic:
		return e.resolveFn(v)
	}
	return v, nil
}

func (e *evaluator) resolveFn(v Value) (Value, error) {
	fn := v.Fn
	switch fn.Name {
	case "Ref":
		name := fn.Arg.Scalar
		if name == "AWS::NoValue" {
			return noValue, nil
		}
		if s, ok := e.pseudo[name]; ok {
			return Value{Kind: KindScalar, Scalar: s, Line: v.Line}, nil
		}
		if e.declared[name] {
			s, ok := e.params[name]
			if !ok {
				return v, nil // no default, no override: stays a Ref
			}
			if e.listParams[name] {
				return splitList(s, v.Line), nil
			}
			return Value{Kind: KindScalar, Scalar: s, Line: v.Line}, nil
		}
		if _, ok := e.resources[name]; ok {
			return v, nil
		}
		if strings.HasPrefix(name, "AWS::") {
			return Value{}, fmt.Errorf("line %d: unknown pseudo parameter %s", v.Line, name)
		}
		return Value{}, fmt.Errorf("line %d: Ref to %s, which is neither a parameter nor a resource", v.Line, name)
	case "Fn::GetAtt":
		res, _, _ := v.GetAtt()
		if _, ok := e.resources[res]; !ok {
			return Value{}, fmt.Errorf("line %d: %s: no resource %s", v.Line, v, res)
		}
		return v, nil
	case "Fn::If":
		args, err := e.args(v, 3)
		if err != nil {
			return Value{}, err
		}
		if args[0].Kind != KindScalar {
			return Value{}, fmt.Errorf("line %d: Fn::If: first argument must be a condition name", v.Line)
		}
		ok, err := e.condition(args[0].Scalar)
		if err != nil {
			return Value{}, err
		}
		if ok {
			return e.resolve(args[1])
		}
		return e.resolve(args[2])
	case "Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Condition":
		b, err := e.truth(v)
		if err != nil {
			return Value{}, err
		}
		return Str(strconv.FormatBool(b)), nil
	case "Fn::Sub":
		return e.sub(v)
	case "Fn::Join":
		args, err := e.resolvedArgs(v, 2)
		if err != nil {
			return Value{}, err
		}
		sep, list := args[0], args[1]
		if sep.Kind != KindScalar || list.Kind != KindSeq {
			return v, nil
		}
		parts := make([]string, len(list.Seq))
		for i, p := range list.Seq {
			if p.Kind != KindScalar {
				return v, nil
			}
			parts[i] = p.Scalar
		}
		return Value{Kind: KindScalar, Scalar: strings.Join(parts, sep.Scalar), Line: v.Line}, nil
	case "Fn::Split":
		args, err := e.resolvedArgs(v, 2)
		if err != nil {
			return Value{}, err
		}
		sep, s := args[0], args[1]
		if sep.Kind != KindScalar || s.Kind != KindScalar {
			return v, nil
		}
		out := Value{Kind: KindSeq, Line: v.Line}
		for _, p := range strings.Split(s.Scalar, sep.Scalar) {
			out.Seq = append(out.Seq, Str(p))
		}
		return out, nil
	case "Fn::Select":
		args, err := e.resolvedArgs(v, 2)
		if err != nil {
			return Value{}, err
		}
		idx, list := args[0], args[1]
		if idx.Kind != KindScalar || list.Kind != KindSeq {
			return v, nil
		}
		i, err := strconv.Atoi(idx.Scalar)
		if err != nil || i < 0 || i >= len(list.Seq) {
			return Value{}, fmt.Errorf("line %d: Fn::Select: index %s out of range for %d elements", v.Line, idx.Scalar, len(list.Seq))
		}
		return list.Seq[i], nil
	case "Fn::FindInMap":
		args, err := e.args(v, 3)
		if err != nil {
			return Value{}, err
		}
		keys := make([]string, 3)
		for i, a := range args {
			r, err := e.resolve(a)
			if err != nil {
				return Value{}, err
			}
			if r.Kind != KindScalar {
				return v, nil
			}
			keys[i] = r.Scalar
		}
		m, ok := e.mappings[keys[0]]
		if !ok {
			return Value{}, fmt.Errorf("line %d: Fn::FindInMap: no mapping %s", v.Line, keys[0])
		}
		out, ok := m.Path(keys[1], keys[2])
		if !ok {
			return Value{}, fmt.Errorf("line %d: Fn::FindInMap: mapping %s has no %s.%s", v.Line, keys[0], keys[1], keys[2])
		}
		return e.resolve(out)
	case "Fn::Base64":
		arg, err := e.resolve(fn.Arg)
		if err != nil {
			return Value{}, err
		}
		if arg.Kind != KindScalar {
			return v, nil
		}
		return Str(base64.StdEncoding.EncodeToString([]byte(arg.Scalar))), nil
	}
	// Fn::GetAZs, Fn::ImportValue, Fn::Cidr, Fn::Transform, ...: AWS-only.
	return v, nil
}

// args returns the n arguments of a list-taking intrinsic.
func (e *evaluator) args(v Value, n int) ([]Value, error) {
	if v.Fn.Arg.Kind != KindSeq || len(v.Fn.Arg.Seq) != n {
		return nil, fmt.Errorf("line %d: %s takes a list of %d arguments, got %s", v.Line, v.Fn.Name, n, v.Fn.Arg)
	}
	return v.Fn.Arg.Seq, nil
}

// resolvedArgs is args with each argument resolved, in order.
func (e *evaluator) resolvedArgs(v Value, n int) ([]Value, error) {
	args, err := e.args(v, n)
	if err != nil {
		return nil, err
	}
	out := make([]Value, n)
	for i, a := range args {
		if out[i], err = e.resolve(a); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// condition evaluates the named template condition.
func (e *evaluator) condition(name string) (bool, error) {
	if b, ok := e.condCache[name]; ok {
		return b, nil
	}
	def, ok := e.conditions[name]
	if !ok {
		return false, fmt.Errorf("unknown condition %s", name)
	}
	if e.condBusy[name] {
		return false, fmt.Errorf("condition %s refers to itself", name)
	}
	e.condBusy[name] = true
	defer delete(e.condBusy, name)
	b, err := e.truth(def)
	if err != nil {
		return false, fmt.Errorf("condition %s: %w", name, err)
	}
	e.condCache[name] = b
	return b, nil
}

// truth evaluates a condition expression strictly: every operand must resolve.
func (e *evaluator) truth(v Value) (bool, error) {
	if v.Kind == KindMap && len(v.Map) == 1 && v.Map[0].Key == "Condition" { // long-form {"Condition": X}
		v = Value{Kind: KindIntrinsic, Fn: &Intrinsic{Name: "Condition", Arg: v.Map[0].Value}, Line: v.Line}
	}
	if v.Kind != KindIntrinsic {
		if v.Kind == KindScalar && (v.Scalar == "true" || v.Scalar == "false") {
			return v.Scalar == "true", nil
		}
		return false, fmt.Errorf("line %d: not a condition: %s", v.Line, v)
	}
	switch v.Fn.Name {
	case "Condition":
		if v.Fn.Arg.Kind != KindScalar {
			return false, fmt.Errorf("line %d: Condition takes a name", v.Line)
		}
		return e.condition(v.Fn.Arg.Scalar)
	case "Fn::Equals":
		args, err := e.args(v, 2)
		if err != nil {
			return false, err
		}
		var s [2]string
		for i, a := range args {
			r, err := e.resolve(a)
			if err != nil {
				return false, err
			}
			if r.Kind != KindScalar {
				return false, fmt.Errorf("line %d: Fn::Equals: %w: %s", v.Line, ErrUnresolved, describeUnresolved(r))
			}
			s[i] = r.Scalar
		}
		return s[0] == s[1], nil
	case "Fn::Not":
		args, err := e.args(v, 1)
		if err != nil {
			return false, err
		}
		b, err := e.truth(args[0])
		return !b, err
	case "Fn::And", "Fn::Or":
		if v.Fn.Arg.Kind != KindSeq || len(v.Fn.Arg.Seq) < 2 {
			return false, fmt.Errorf("line %d: %s takes 2 to 10 conditions", v.Line, v.Fn.Name)
		}
		and := v.Fn.Name == "Fn::And"
		for _, a := range v.Fn.Arg.Seq {
			b, err := e.truth(a)
			if err != nil {
				return false, err
			}
			if b != and {
				return b, nil
			}
		}
		return and, nil
	}
	return false, fmt.Errorf("line %d: %s is not a condition function", v.Line, v.Fn.Name)
}

// sub reduces Fn::Sub when every variable has a local value; otherwise it
// returns v unchanged.
func (e *evaluator) sub(v Value) (Value, error) {
	tmpl := v.Fn.Arg
	vars := map[string]Value{}
	if tmpl.Kind == KindSeq {
		if len(tmpl.Seq) != 2 || tmpl.Seq[1].Kind != KindMap {
			return Value{}, fmt.Errorf("line %d: Fn::Sub takes a string or [string, {vars}]", v.Line)
		}
		for _, kv := range tmpl.Seq[1].Map {
			r, err := e.resolve(kv.Value)
			if err != nil {
				return Value{}, err
			}
			vars[kv.Key] = r
		}
		tmpl = tmpl.Seq[0]
	}
	if tmpl.Kind != KindScalar {
		return Value{}, fmt.Errorf("line %d: Fn::Sub: template must be a string", v.Line)
	}
	out, complete, err := e.substitute(tmpl.Scalar, vars)
	if err != nil {
		return Value{}, fmt.Errorf("line %d: Fn::Sub: %w", v.Line, err)
	}
	if !complete {
		return v, nil
	}
	return Value{Kind: KindScalar, Scalar: out, Line: v.Line}, nil
}

// substitute expands ${Name}, ${Resource.Attr} and ${!Literal}; complete is
// false when some variable has no local value.
func (e *evaluator) substitute(s string, vars map[string]Value) (out string, complete bool, err error) {
	var b strings.Builder
	complete = true
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), complete, nil
		}
		b.WriteString(s[:i])
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return "", false, fmt.Errorf("unterminated ${ in %q", s)
		}
		name := s[i+2 : i+j]
		s = s[i+j+1:]
		if strings.HasPrefix(name, "!") {
			b.WriteString("${" + name[1:] + "}")
			continue
		}
		val, ok := vars[name]
		if !ok {
			ref := Value{Kind: KindIntrinsic, Fn: &Intrinsic{Name: "Ref", Arg: Str(name)}}
			if res, attr, dotted := strings.Cut(name, "."); dotted {
				if _, isRes := e.resources[res]; !isRes {
					return "", false, fmt.Errorf("${%s}: no resource %s", name, res)
				}
				ref = Value{Kind: KindIntrinsic, Fn: &Intrinsic{Name: "Fn::GetAtt", Arg: Value{Kind: KindSeq, Seq: []Value{Str(res), Str(attr)}}}}
			}
			r, err := e.resolve(ref)
			if err != nil {
				return "", false, err
			}
			val = r
		}
		if val.Kind != KindScalar {
			complete = false
			continue
		}
		b.WriteString(val.Scalar)
	}
}

func splitList(s string, line int) Value {
	out := Value{Kind: KindSeq, Line: line}
	if s == "" {
		return out
	}
	for _, p := range strings.Split(s, ",") {
		out.Seq = append(out.Seq, Str(strings.TrimSpace(p)))
	}
	return out
}

// describeUnresolved explains why a resolved value is not a scalar.
func describeUnresolved(v Value) string {
	if r, ok := v.Ref(); ok {
		return fmt.Sprintf("!Ref %s (a resource, or a parameter with no Default and no override)", r)
	}
	return v.String() + " has no local value"
}

// Typed accessors: resolve, then demand a concrete value.

func (e *evaluator) str(v Value) (string, error) {
	r, err := e.resolve(v)
	if err != nil {
		return "", err
	}
	if r.Kind != KindScalar {
		if r.Kind == KindIntrinsic {
			return "", fmt.Errorf("%w: %s", ErrUnresolved, describeUnresolved(r))
		}
		return "", fmt.Errorf("expected a string, got %s", r)
	}
	return r.Scalar, nil
}

func (e *evaluator) integer(v Value) (int64, error) {
	s, err := e.str(v)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("expected an integer, got %q", s)
	}
	return n, nil
}

func (e *evaluator) number(v Value) (float64, error) {
	s, err := e.str(v)
	if err != nil {
		return 0, err
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0, fmt.Errorf("expected a number, got %q", s)
	}
	return f, nil
}

func (e *evaluator) boolean(v Value) (bool, error) {
	s, err := e.str(v)
	if err != nil {
		return false, err
	}
	b, err := strconv.ParseBool(strings.ToLower(strings.TrimSpace(s)))
	if err != nil {
		return false, fmt.Errorf("expected true or false, got %q", s)
	}
	return b, nil
}

func (e *evaluator) strList(v Value) ([]string, error) {
	r, err := e.resolve(v)
	if err != nil {
		return nil, err
	}
	if r.Kind == KindScalar {
		return []string{r.Scalar}, nil
	}
	if r.Kind != KindSeq {
		return nil, fmt.Errorf("expected a list of strings, got %s", r)
	}
	out := make([]string, len(r.Seq))
	for i, el := range r.Seq {
		if el.Kind != KindScalar {
			return nil, fmt.Errorf("element %d: %w: %s", i, ErrUnresolved, describeUnresolved(el))
		}
		out[i] = el.Scalar
	}
	return out, nil
}
