package asl

import (
	"encoding/json"
	"fmt"
	"strings"
)

// template is a compiled payload template (Parameters, ResultSelector,
// ItemSelector): a JSON value in which every object field whose name ends
// in ".$" is replaced by the value of its path (against the input, or the
// context object for "$$") or intrinsic function, under the name without
// ".$". Templates nest through objects and arrays.
type template struct {
	kind   int // tmplLiteral, tmplObject, tmplArray
	lit    any
	fields []tmplField
	items  []*template
}

const (
	tmplLiteral = iota
	tmplObject
	tmplArray
)

type tmplField struct {
	name string
	// exactly one of the following
	sub  *template
	path *Path
	call *intrinsicCall
}

// compileTemplate compiles raw JSON; nil input yields a nil template.
func compileTemplate(raw json.RawMessage) (*template, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	v, err := decodeJSON(raw)
	if err != nil {
		return nil, err
	}
	return compileValue(v)
}

func compileValue(v any) (*template, error) {
	switch x := v.(type) {
	case map[string]any:
		t := &template{kind: tmplObject}
		for _, k := range sortedKeys(x) {
			// Developer guide, "Parameters": a field "key.$" produces "key";
			// AWS refuses a template holding both "key" and "key.$".
			if _, dup := x[k+".$"]; dup {
				return nil, fmt.Errorf("fields %q and %q are duplicates: both set %q", k, k+".$", k)
			}
			if strings.HasSuffix(k, ".$") {
				s, ok := x[k].(string)
				if !ok {
					return nil, fmt.Errorf("field %q must be a string path or intrinsic function", k)
				}
				f := tmplField{name: strings.TrimSuffix(k, ".$")}
				if isIntrinsic(s) {
					c, err := parseIntrinsic(s)
					if err != nil {
						return nil, fmt.Errorf("field %q: %w", k, err)
					}
					f.call = c
				} else {
					p, err := ParsePath(s)
					if err != nil {
						return nil, fmt.Errorf("field %q: %w", k, err)
					}
					f.path = &p
				}
				t.fields = append(t.fields, f)
				continue
			}
			sub, err := compileValue(x[k])
			if err != nil {
				return nil, err
			}
			t.fields = append(t.fields, tmplField{name: k, sub: sub})
		}
		return t, nil
	case []any:
		t := &template{kind: tmplArray}
		for _, e := range x {
			sub, err := compileValue(e)
			if err != nil {
				return nil, err
			}
			t.items = append(t.items, sub)
		}
		return t, nil
	default:
		return &template{kind: tmplLiteral, lit: v}, nil
	}
}

// eval builds the template's value. Path failures are States.Runtime.
func (t *template) eval(input, ctxObj any, env *Env) (any, error) {
	switch t.kind {
	case tmplObject:
		out := make(map[string]any, len(t.fields))
		for _, f := range t.fields {
			var v any
			var err error
			switch {
			case f.sub != nil:
				v, err = f.sub.eval(input, ctxObj, env)
			case f.call != nil:
				v, err = evalIntrinsic(f.call, input, ctxObj, env)
			default:
				var vars map[string]any
				if env != nil {
					vars = env.vars
				}
				v, err = resolvePath(*f.path, input, ctxObj, vars)
				if err != nil && f.path.variable == "" {
					doc := input
					if f.path.IsContext() {
						doc = ctxObj
					}
					err = runtimeErr("The JSONPath '%s' specified for the field '%s.$' could not be found in the input '%s'", f.path.raw, f.name, mustEncode(doc))
				}
			}
			if err != nil {
				return nil, err
			}
			out[f.name] = deepCopy(v)
		}
		return out, nil
	case tmplArray:
		out := make([]any, len(t.items))
		for i, it := range t.items {
			v, err := it.eval(input, ctxObj, env)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	default:
		return deepCopy(t.lit), nil
	}
}
