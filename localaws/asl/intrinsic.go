package asl

import (
	"fmt"
	"strconv"
	"strings"
)

// Intrinsic functions (AWS developer guide, "Intrinsic functions for
// JSONPath in Step Functions"). An expression is parsed once into a tree of
// calls whose arguments are string literals, numbers, booleans, null,
// JSONPaths (against the effective input, or the context object for "$$")
// and nested calls. Any evaluation failure is a States.Runtime error, which
// is how AWS reports intrinsic failures (States.IntrinsicFailure is
// "reserved for future use").

type argKind int

const (
	argLiteral argKind = iota // a JSON literal: number, bool, null or string
	argPath
	argCall
)

type intrinsicArg struct {
	kind  argKind
	lit   any    // decoded literal
	raw   string // a string literal as written (escapes kept), for States.Format
	isStr bool
	path  Path
	call  *intrinsicCall
}

type intrinsicCall struct {
	name string
	args []intrinsicArg
}

// isIntrinsic reports whether s looks like an intrinsic function call.
func isIntrinsic(s string) bool { return strings.HasPrefix(strings.TrimSpace(s), "States.") }

// parseIntrinsic parses an intrinsic function expression.
func parseIntrinsic(s string) (*intrinsicCall, error) {
	p := &iparser{src: s}
	p.skipSpace()
	c, err := p.call()
	if err != nil {
		return nil, fmt.Errorf("intrinsic %q: %w", s, err)
	}
	p.skipSpace()
	if p.pos != len(p.src) {
		return nil, fmt.Errorf("intrinsic %q: unexpected trailing %q", s, p.src[p.pos:])
	}
	if _, ok := intrinsics[c.name]; !ok {
		return nil, fmt.Errorf("intrinsic %q: unknown function %s", s, c.name)
	}
	return c, nil
}

type iparser struct {
	src string
	pos int
}

func (p *iparser) skipSpace() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t' || p.src[p.pos] == '\n') {
		p.pos++
	}
}

func (p *iparser) call() (*intrinsicCall, error) {
	start := p.pos
	for p.pos < len(p.src) && p.src[p.pos] != '(' {
		c := p.src[p.pos]
		if !(c == '.' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return nil, fmt.Errorf("bad character %q in function name", c)
		}
		p.pos++
	}
	if p.pos >= len(p.src) {
		return nil, fmt.Errorf("missing (")
	}
	c := &intrinsicCall{name: p.src[start:p.pos]}
	if _, ok := intrinsics[c.name]; !ok {
		return nil, fmt.Errorf("unknown function %s", c.name)
	}
	p.pos++ // (
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == ')' {
		p.pos++
		return c, nil
	}
	for {
		p.skipSpace()
		a, err := p.arg()
		if err != nil {
			return nil, err
		}
		c.args = append(c.args, a)
		p.skipSpace()
		if p.pos >= len(p.src) {
			return nil, fmt.Errorf("missing )")
		}
		switch p.src[p.pos] {
		case ',':
			p.pos++
		case ')':
			p.pos++
			return c, nil
		default:
			return nil, fmt.Errorf("unexpected %q", p.src[p.pos])
		}
	}
}

func (p *iparser) arg() (intrinsicArg, error) {
	if p.pos >= len(p.src) {
		return intrinsicArg{}, fmt.Errorf("missing argument")
	}
	rest := p.src[p.pos:]
	switch {
	case rest[0] == '\'':
		return p.stringLit()
	case rest[0] == '$':
		end := p.pathEnd()
		path, err := ParsePath(strings.TrimSpace(p.src[p.pos:end]))
		if err != nil {
			return intrinsicArg{}, err
		}
		p.pos = end
		return intrinsicArg{kind: argPath, path: path}, nil
	case strings.HasPrefix(rest, "States."):
		c, err := p.call()
		if err != nil {
			return intrinsicArg{}, err
		}
		return intrinsicArg{kind: argCall, call: c}, nil
	}
	end := p.pos
	for end < len(p.src) && p.src[end] != ',' && p.src[end] != ')' {
		end++
	}
	tok := strings.TrimSpace(p.src[p.pos:end])
	p.pos = end
	switch tok {
	case "true":
		return intrinsicArg{lit: true}, nil
	case "false":
		return intrinsicArg{lit: false}, nil
	case "null":
		return intrinsicArg{lit: nil}, nil
	}
	if _, err := strconv.ParseFloat(tok, 64); err != nil || tok == "" {
		return intrinsicArg{}, fmt.Errorf("bad argument %q", tok)
	}
	v, err := decodeJSON([]byte(tok))
	if err != nil {
		return intrinsicArg{}, fmt.Errorf("bad number %q", tok)
	}
	return intrinsicArg{lit: v}, nil
}

// pathEnd finds where a path argument ends: at a ',' or ')' outside brackets
// and quotes.
func (p *iparser) pathEnd() int {
	depth := 0
	var quote byte
	for i := p.pos; i < len(p.src); i++ {
		c := p.src[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '[':
			depth++
		case c == ']':
			depth--
		case depth == 0 && (c == ',' || c == ')'):
			return i
		}
	}
	return len(p.src)
}

// stringLit reads a single-quoted literal; \' \{ \} and \\ are escapes.
func (p *iparser) stringLit() (intrinsicArg, error) {
	p.pos++ // opening quote
	start := p.pos
	var b strings.Builder
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch c {
		case '\\':
			if p.pos+1 >= len(p.src) {
				return intrinsicArg{}, fmt.Errorf("dangling escape")
			}
			b.WriteByte(p.src[p.pos+1])
			p.pos += 2
			continue
		case '\'':
			raw := p.src[start:p.pos]
			p.pos++
			return intrinsicArg{lit: b.String(), raw: raw, isStr: true}, nil
		}
		b.WriteByte(c)
		p.pos++
	}
	return intrinsicArg{}, fmt.Errorf("unterminated string literal")
}

// evalIntrinsic evaluates a call against the effective input and context.
func evalIntrinsic(c *intrinsicCall, input, ctxObj any, env *Env) (any, error) {
	args := make([]any, len(c.args))
	for i, a := range c.args {
		switch a.kind {
		case argLiteral:
			args[i] = a.lit
		case argPath:
			var vars map[string]any
			if env != nil {
				vars = env.vars
			}
			v, err := resolvePath(a.path, input, ctxObj, vars)
			if err != nil {
				return nil, err
			}
			args[i] = v
		case argCall:
			v, err := evalIntrinsic(a.call, input, ctxObj, env)
			if err != nil {
				return nil, err
			}
			args[i] = v
		}
	}
	v, err := intrinsics[c.name](c, args, env)
	if err != nil {
		if te, ok := err.(*TaskError); ok {
			return nil, te
		}
		return nil, runtimeErr("%s: %v", c.name, err)
	}
	return v, nil
}
