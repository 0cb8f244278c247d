package asl

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/theory/jsonpath"
)

// Path is a parsed JSONPath: a reference path ("$", "$.a.b", "$['a b'][0]",
// "$.abc.['def ghi']") into the state's data, or, when it starts with "$$",
// into the context object. Wildcards ([*], .*) and slices are evaluated
// here; unions ($.a[0,1]), filters ($.a[?(@.b >= 5)]) and recursive descent
// ($..x) by github.com/theory/jsonpath (RFC 9535, which the AWS developer
// guide's JSONPath examples are valid in). Every path that is not a
// reference path selects an array of matches in Get and is refused by Set
// (ResultPath must be a reference path).
type Path struct {
	raw      string
	context  bool
	segs     []segment
	query    *jsonpath.Path // set for the paths the hand-written parser does not handle
	variable string         // "$name...": a path into workflow variable name
}

type segment struct {
	key      string
	index    int
	isIndex  bool
	wildcard bool
	slice    bool // [lo:hi], negative values count from the end
	lo, hi   *int
}

// String returns the path as written.
func (p Path) String() string { return p.raw }

// IsContext reports whether the path starts with "$$".
func (p Path) IsContext() bool { return p.context }

// ParsePath parses a JSONPath. It fails on anything not starting with "$".
// "$name" and "$name.field..." are paths into workflow variable name.
func ParsePath(s string) (Path, error) {
	if len(s) > 1 && s[0] == '$' && (s[1] == '_' || s[1] >= 'a' && s[1] <= 'z' || s[1] >= 'A' && s[1] <= 'Z') {
		end := 1
		for end < len(s) && (s[end] == '_' || s[end] >= 'a' && s[end] <= 'z' || s[end] >= 'A' && s[end] <= 'Z' || s[end] >= '0' && s[end] <= '9') {
			end++
		}
		p, err := ParsePath("$" + s[end:])
		p.raw, p.variable = s, s[1:end]
		return p, err
	}
	p, err := parseSimplePath(s)
	if err == nil || !strings.HasPrefix(s, "$") {
		return p, err
	}
	// Unions, filters, recursive descent: RFC 9535 JSONPath. The Jayway form
	// ".[" (a dot before a bracket) is accepted as "[".
	q := strings.ReplaceAll(s, ".[", "[")
	context := strings.HasPrefix(q, "$$")
	if context {
		q = q[1:]
	}
	jp, jerr := jsonpath.Parse(q)
	if jerr != nil {
		return Path{raw: s}, fmt.Errorf("path %q: %v", s, jerr)
	}
	return Path{raw: s, context: context, query: jp}, nil
}

// parseSimplePath parses reference paths, wildcards and slices.
func parseSimplePath(s string) (Path, error) {
	p := Path{raw: s}
	rest := ""
	switch {
	case strings.HasPrefix(s, "$$"):
		p.context, rest = true, s[2:]
	case strings.HasPrefix(s, "$"):
		rest = s[1:]
	default:
		return p, fmt.Errorf("path %q must start with $", s)
	}
	for len(rest) > 0 {
		switch rest[0] {
		case '.':
			rest = rest[1:]
			if strings.HasPrefix(rest, "[") {
				continue // "$.abc.['def ghi']": a bracket after a dot
			}
			end := strings.IndexAny(rest, ".[")
			if end < 0 {
				end = len(rest)
			}
			name := rest[:end]
			if name == "" {
				return p, fmt.Errorf("path %q: empty field name", s)
			}
			if name == "*" {
				p.segs = append(p.segs, segment{wildcard: true})
			} else {
				p.segs = append(p.segs, segment{key: name})
			}
			rest = rest[end:]
		case '[':
			rest = rest[1:]
			if len(rest) > 0 && (rest[0] == '\'' || rest[0] == '"') {
				q := rest[0]
				var b strings.Builder
				i := 1
				for ; i < len(rest) && rest[i] != q; i++ {
					if rest[i] == '\\' && i+1 < len(rest) {
						i++
					}
					b.WriteByte(rest[i])
				}
				if i >= len(rest) || i+1 >= len(rest) || rest[i+1] != ']' {
					return p, fmt.Errorf("path %q: unterminated bracket", s)
				}
				p.segs = append(p.segs, segment{key: b.String()})
				rest = rest[i+2:]
				continue
			}
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return p, fmt.Errorf("path %q: unterminated bracket", s)
			}
			inner := strings.TrimSpace(rest[:end])
			if inner == "*" {
				p.segs = append(p.segs, segment{wildcard: true})
			} else if lo, hi, ok := strings.Cut(inner, ":"); ok {
				seg := segment{slice: true}
				for i, part := range []string{lo, hi} {
					if part = strings.TrimSpace(part); part == "" {
						continue
					}
					n, err := strconv.Atoi(part)
					if err != nil {
						return p, fmt.Errorf("path %q: bad slice [%s]", s, inner)
					}
					if i == 0 {
						seg.lo = &n
					} else {
						seg.hi = &n
					}
				}
				p.segs = append(p.segs, seg)
			} else {
				n, err := strconv.Atoi(inner)
				if err != nil || n < 0 {
					return p, fmt.Errorf("path %q: unsupported bracket expression [%s]", s, inner)
				}
				p.segs = append(p.segs, segment{index: n, isIndex: true})
			}
			rest = rest[end+1:]
		default:
			return p, fmt.Errorf("path %q: unexpected %q", s, rest[0])
		}
	}
	return p, nil
}

// MustParsePath is ParsePath for constants; it panics on a bad path.
func MustParsePath(s string) Path {
	p, err := ParsePath(s)
	if err != nil {
		panic(err)
	}
	return p
}

// isReference reports whether the path has no wildcard.
func (p Path) isReference() bool {
	if p.query != nil {
		return false
	}
	for _, s := range p.segs {
		if s.wildcard || s.slice {
			return false
		}
	}
	return true
}

// Get selects the value at the path. A missing field, an index out of range
// or a step into a non-container fails with States.Runtime, as on AWS.
func (p Path) Get(doc any) (any, error) {
	if p.query != nil {
		out := []any{}
		for v := range p.query.Select(doc).All() {
			out = append(out, v)
		}
		return out, nil
	}
	vals, err := p.get(doc, p.segs)
	if err != nil {
		return nil, err
	}
	if p.isReference() {
		return vals[0], nil
	}
	out := make([]any, len(vals))
	copy(out, vals)
	return out, nil
}

func (p Path) get(cur any, segs []segment) ([]any, error) {
	if len(segs) == 0 {
		return []any{cur}, nil
	}
	s := segs[0]
	switch {
	case s.wildcard:
		var out []any
		switch c := cur.(type) {
		case []any:
			for _, e := range c {
				if r, err := p.get(e, segs[1:]); err == nil {
					out = append(out, r...)
				}
			}
		case map[string]any:
			for _, k := range sortedKeys(c) {
				if r, err := p.get(c[k], segs[1:]); err == nil {
					out = append(out, r...)
				}
			}
		default:
			return nil, runtimeErr("The JSONPath '%s' could not be found in the input", p.raw)
		}
		return out, nil
	case s.slice:
		arr, ok := cur.([]any)
		if !ok {
			return nil, runtimeErr("The JSONPath '%s' could not be found in the input", p.raw)
		}
		lo, hi := 0, len(arr)
		if s.lo != nil {
			lo = clampIndex(*s.lo, len(arr))
		}
		if s.hi != nil {
			hi = clampIndex(*s.hi, len(arr))
		}
		var out []any
		for i := lo; i < hi; i++ {
			r, err := p.get(arr[i], segs[1:])
			if err == nil {
				out = append(out, r...)
			}
		}
		return out, nil
	case s.isIndex:
		arr, ok := cur.([]any)
		if !ok || s.index >= len(arr) {
			return nil, runtimeErr("The JSONPath '%s' could not be found in the input", p.raw)
		}
		return p.get(arr[s.index], segs[1:])
	default:
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, runtimeErr("The JSONPath '%s' could not be found in the input", p.raw)
		}
		v, ok := obj[s.key]
		if !ok {
			return nil, runtimeErr("The JSONPath '%s' could not be found in the input", p.raw)
		}
		return p.get(v, segs[1:])
	}
}

// Exists reports whether Get would succeed.
func (p Path) Exists(doc any) bool {
	_, err := p.Get(doc)
	return err == nil
}

// Set returns doc with value placed at the path (ResultPath semantics):
// "$" replaces doc; missing intermediate objects are created; stepping into
// a non-object (or an array index out of range) fails with States.Runtime.
// doc is modified in place when it is a container; callers pass a copy.
func (p Path) Set(doc, value any) (any, error) {
	if !p.isReference() || p.context || p.variable != "" {
		return nil, runtimeErr("ResultPath '%s' is not a reference path", p.raw)
	}
	if len(p.segs) == 0 {
		return value, nil
	}
	return p.set(doc, p.segs, value)
}

func (p Path) set(cur any, segs []segment, value any) (any, error) {
	if len(segs) == 0 {
		return value, nil
	}
	s := segs[0]
	if s.isIndex {
		arr, ok := cur.([]any)
		if !ok || s.index >= len(arr) {
			return nil, runtimeErr("Unable to apply ResultPath '%s' to the input: index %d is not in an array", p.raw, s.index)
		}
		v, err := p.set(arr[s.index], segs[1:], value)
		if err != nil {
			return nil, err
		}
		arr[s.index] = v
		return arr, nil
	}
	obj, ok := cur.(map[string]any)
	if !ok {
		return nil, runtimeErr("Unable to apply ResultPath '%s' to the input: a %s is not an object", p.raw, typeName(cur))
	}
	child, exists := obj[s.key]
	if !exists && len(segs) > 1 {
		child = map[string]any{}
	}
	v, err := p.set(child, segs[1:], value)
	if err != nil {
		return nil, err
	}
	obj[s.key] = v
	return obj, nil
}

func clampIndex(i, n int) int {
	if i < 0 {
		i += n
	}
	return max(0, min(i, n))
}
