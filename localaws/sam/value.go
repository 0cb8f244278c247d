package sam

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// Kind says what a Value holds.
type Kind int

// The kinds of Value.
const (
	KindNull      Kind = iota // YAML null or an absent value
	KindScalar                // a string, number or boolean (kept as its text)
	KindSeq                   // a YAML sequence
	KindMap                   // a YAML mapping
	KindIntrinsic             // a CloudFormation intrinsic function call
)

// Value is one node of a CloudFormation/SAM template: a scalar, a sequence, a
// mapping or an intrinsic function call (short form such as "!Ref X" or long
// form such as {"Fn::GetAtt": ["X", "Arn"]}). The zero Value is null.
type Value struct {
	Kind   Kind
	Scalar string     // KindScalar: the text as written ("10", "true", "dev")
	Seq    []Value    // KindSeq
	Map    []KeyValue // KindMap, in document order
	Fn     *Intrinsic // KindIntrinsic
	Line   int        // 1-based source line, 0 when synthesized
}

// KeyValue is one entry of a mapping Value.
type KeyValue struct {
	Key   string
	Value Value
}

// Intrinsic is a CloudFormation intrinsic function call. Name is the long
// form ("Ref", "Fn::GetAtt", "Fn::Sub", "Condition", ...). Arg is the
// argument in long form: for Fn::GetAtt always a two-element sequence
// [resource, attribute] (the short form "X.Attr.Sub" becomes ["X", "Attr.Sub"]).
type Intrinsic struct {
	Name string
	Arg  Value
}

// Str returns a scalar Value.
func Str(s string) Value { return Value{Kind: KindScalar, Scalar: s} }

// IsNull reports whether v is null (or absent).
func (v Value) IsNull() bool { return v.Kind == KindNull }

// Get returns the entry key of a mapping Value; ok is false when v is not a
// mapping or has no such key.
func (v Value) Get(key string) (Value, bool) {
	if v.Kind != KindMap {
		return Value{}, false
	}
	for _, kv := range v.Map {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return Value{}, false
}

// Path follows keys through nested mappings.
func (v Value) Path(keys ...string) (Value, bool) {
	cur := v
	for _, k := range keys {
		next, ok := cur.Get(k)
		if !ok {
			return Value{}, false
		}
		cur = next
	}
	return cur, true
}

// Ref returns the target of a "Ref" intrinsic.
func (v Value) Ref() (string, bool) {
	if v.Kind != KindIntrinsic || v.Fn.Name != "Ref" || v.Fn.Arg.Kind != KindScalar {
		return "", false
	}
	return v.Fn.Arg.Scalar, true
}

// GetAtt returns the resource and attribute of an "Fn::GetAtt" intrinsic.
func (v Value) GetAtt() (resource, attribute string, ok bool) {
	if v.Kind != KindIntrinsic || v.Fn.Name != "Fn::GetAtt" || v.Fn.Arg.Kind != KindSeq || len(v.Fn.Arg.Seq) != 2 {
		return "", "", false
	}
	r, a := v.Fn.Arg.Seq[0], v.Fn.Arg.Seq[1]
	if r.Kind != KindScalar || a.Kind != KindScalar {
		return "", "", false
	}
	return r.Scalar, a.Scalar, true
}

// String renders v compactly for error messages ("!GetAtt X.Arn", "[a, b]").
func (v Value) String() string {
	switch v.Kind {
	case KindNull:
		return "null"
	case KindScalar:
		return fmt.Sprintf("%q", v.Scalar)
	case KindSeq:
		parts := make([]string, len(v.Seq))
		for i, e := range v.Seq {
			parts[i] = e.String()
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case KindMap:
		parts := make([]string, len(v.Map))
		for i, kv := range v.Map {
			parts[i] = kv.Key + ": " + kv.Value.String()
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case KindIntrinsic:
		if r, a, ok := v.GetAtt(); ok {
			return "!GetAtt " + r + "." + a
		}
		if r, ok := v.Ref(); ok {
			return "!Ref " + r
		}
		return "!" + strings.TrimPrefix(v.Fn.Name, "Fn::") + " " + v.Fn.Arg.String()
	}
	return "?"
}

// UnmarshalYAML implements yaml.Unmarshaler: it converts the node, with its
// CloudFormation short-form tags, into a Value.
func (v *Value) UnmarshalYAML(n *yaml.Node) error {
	out, err := fromNode(n)
	if err != nil {
		return err
	}
	*v = out
	return nil
}

// shortTags maps each CloudFormation short-form YAML tag to its long name.
var shortTags = map[string]string{
	"!Ref":          "Ref",
	"!Condition":    "Condition",
	"!GetAtt":       "Fn::GetAtt",
	"!Sub":          "Fn::Sub",
	"!If":           "Fn::If",
	"!Equals":       "Fn::Equals",
	"!Not":          "Fn::Not",
	"!And":          "Fn::And",
	"!Or":           "Fn::Or",
	"!Select":       "Fn::Select",
	"!Join":         "Fn::Join",
	"!Split":        "Fn::Split",
	"!FindInMap":    "Fn::FindInMap",
	"!Base64":       "Fn::Base64",
	"!Cidr":         "Fn::Cidr",
	"!GetAZs":       "Fn::GetAZs",
	"!ImportValue":  "Fn::ImportValue",
	"!Transform":    "Fn::Transform",
	"!Length":       "Fn::Length",
	"!ToJsonString": "Fn::ToJsonString",
}

// longNames is the set of intrinsic names recognized in long form (a mapping
// with exactly one of these keys).
var longNames = func() map[string]bool {
	m := map[string]bool{}
	for _, n := range shortTags {
		if n != "Condition" { // {"Condition": X} is only an intrinsic inside conditions
			m[n] = true
		}
	}
	return m
}()

func fromNode(n *yaml.Node) (Value, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return Value{}, nil
		}
		return fromNode(n.Content[0])
	case yaml.AliasNode:
		return fromNode(n.Alias)
	}
	tag := n.Tag
	if strings.HasPrefix(tag, "!") && !strings.HasPrefix(tag, "!!") {
		name, ok := shortTags[tag]
		if !ok {
			return Value{}, fmt.Errorf("line %d: unknown YAML tag %s", n.Line, tag)
		}
		inner := *n
		inner.Tag = ""
		switch n.Kind {
		case yaml.ScalarNode:
			inner.Tag = "!!str"
		case yaml.SequenceNode:
			inner.Tag = "!!seq"
		case yaml.MappingNode:
			inner.Tag = "!!map"
		}
		arg, err := fromNode(&inner)
		if err != nil {
			return Value{}, err
		}
		return intrinsic(name, arg, n.Line)
	}
	switch n.Kind {
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return Value{Line: n.Line}, nil
		}
		return Value{Kind: KindScalar, Scalar: n.Value, Line: n.Line}, nil
	case yaml.SequenceNode:
		v := Value{Kind: KindSeq, Seq: make([]Value, 0, len(n.Content)), Line: n.Line}
		for _, c := range n.Content {
			e, err := fromNode(c)
			if err != nil {
				return Value{}, err
			}
			v.Seq = append(v.Seq, e)
		}
		return v, nil
	case yaml.MappingNode:
		v := Value{Kind: KindMap, Line: n.Line}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.ScalarNode && k.Value == "<<" { // merge key
				m, err := fromNode(val)
				if err != nil {
					return Value{}, err
				}
				v.Map = append(v.Map, m.Map...)
				continue
			}
			e, err := fromNode(val)
			if err != nil {
				return Value{}, err
			}
			v.Map = append(v.Map, KeyValue{Key: k.Value, Value: e})
		}
		if len(v.Map) == 1 && longNames[v.Map[0].Key] {
			return intrinsic(v.Map[0].Key, v.Map[0].Value, n.Line)
		}
		return v, nil
	}
	return Value{}, fmt.Errorf("line %d: unsupported YAML node", n.Line)
}

// intrinsic builds an Intrinsic Value, normalizing Fn::GetAtt's short form.
func intrinsic(name string, arg Value, line int) (Value, error) {
	if name == "Fn::GetAtt" {
		switch arg.Kind {
		case KindScalar:
			res, attr, ok := strings.Cut(arg.Scalar, ".")
			if !ok || res == "" || attr == "" {
				return Value{}, fmt.Errorf("line %d: !GetAtt %q: want Resource.Attribute", line, arg.Scalar)
			}
			arg = Value{Kind: KindSeq, Seq: []Value{Str(res), Str(attr)}, Line: line}
		case KindSeq:
			if len(arg.Seq) != 2 {
				return Value{}, fmt.Errorf("line %d: Fn::GetAtt takes [resource, attribute], got %d elements", line, len(arg.Seq))
			}
		default:
			return Value{}, fmt.Errorf("line %d: Fn::GetAtt takes Resource.Attribute or [resource, attribute]", line)
		}
	}
	if name == "Ref" && arg.Kind != KindScalar {
		return Value{}, fmt.Errorf("line %d: Ref takes a name, got %s", line, arg)
	}
	return Value{Kind: KindIntrinsic, Fn: &Intrinsic{Name: name, Arg: arg}, Line: line}, nil
}
