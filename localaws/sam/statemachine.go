package sam

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
)

// StateMachine is an AWS::Serverless::StateMachine defined by a file.
type StateMachine struct {
	LogicalID      string
	Type           string // STANDARD or EXPRESS
	DefinitionURI  string // as written, e.g. "statemachine/flow.asl.json"
	DefinitionPath string // DefinitionURI joined to Template.Dir ("" dir: DefinitionURI itself)
	LoggingLevel   string // Logging.Level ("" = OFF)
	Tracing        bool
	// Substitutions maps each DefinitionSubstitutions placeholder to what
	// it stands for.
	Substitutions map[string]Substitution

	raw map[string]Value
}

// SubstitutionKind says what a DefinitionSubstitutions entry refers to.
type SubstitutionKind string

// The kinds of substitution.
const (
	SubstLiteral      SubstitutionKind = "literal"       // a plain value (Value)
	SubstFunctionArn  SubstitutionKind = "function-arn"  // !GetAtt Fn.Arn
	SubstFunctionName SubstitutionKind = "function-name" // !Ref Fn
	SubstQueueURL     SubstitutionKind = "queue-url"     // !Ref Queue or !GetAtt Queue.QueueUrl
	SubstQueueArn     SubstitutionKind = "queue-arn"     // !GetAtt Queue.Arn
	SubstQueueName    SubstitutionKind = "queue-name"    // !GetAtt Queue.QueueName
)

// Substitution is one DefinitionSubstitutions entry.
type Substitution struct {
	Placeholder string
	Kind        SubstitutionKind
	Resource    string // logical id (every kind but literal)
	Value       string // literal value
}

func (t *Template) addStateMachine(e *evaluator, id string, properties Value) error {
	p := props{e: e, id: id, v: properties}
	if p.has("Definition") {
		return p.err("Definition", fmt.Errorf("%w: an inline definition; use DefinitionUri", ErrUnsupported))
	}
	uri := p.raw("DefinitionUri")
	if uri.Kind != KindScalar {
		return p.err("DefinitionUri", fmt.Errorf("%w: want a local file path, got %s", ErrUnsupported, uri))
	}
	sm := &StateMachine{LogicalID: id, DefinitionURI: uri.Scalar, DefinitionPath: uri.Scalar, raw: map[string]Value{}}
	if t.Dir != "" {
		sm.DefinitionPath = filepath.Join(t.Dir, filepath.FromSlash(uri.Scalar))
	}
	var err error
	if sm.Type, err = p.str("Type", "STANDARD"); err != nil {
		return err
	}
	if sm.Type != "STANDARD" && sm.Type != "EXPRESS" {
		return p.err("Type", fmt.Errorf("want STANDARD or EXPRESS, got %q", sm.Type))
	}
	if sm.LoggingLevel, err = p.sub("Logging").str("Level", ""); err != nil {
		return err
	}
	if sm.Tracing, err = p.sub("Tracing").boolean("Enabled", false); err != nil {
		return err
	}
	subs := p.sub("DefinitionSubstitutions")
	if !subs.v.IsNull() && subs.v.Kind != KindMap {
		return p.err("DefinitionSubstitutions", fmt.Errorf("want a mapping, got %s", subs.v))
	}
	for _, kv := range subs.v.Map {
		sm.raw[kv.Key] = kv.Value
	}
	t.StateMachines[id] = sm
	return nil
}

// linkStateMachine classifies the substitutions once every resource is known.
func (t *Template) linkStateMachine(e *evaluator, sm *StateMachine) error {
	sm.Substitutions = map[string]Substitution{}
	for _, name := range sortedKeys(sm.raw) {
		field := "DefinitionSubstitutions." + name
		r, err := e.resolve(sm.raw[name])
		if err != nil {
			return fieldErr(sm.LogicalID, field, err)
		}
		s := Substitution{Placeholder: name}
		switch {
		case r.Kind == KindScalar:
			s.Kind, s.Value = SubstLiteral, r.Scalar
		default:
			ref, isRef := r.Ref()
			res, attr, isAtt := r.GetAtt()
			if isRef {
				res = ref
			}
			_, isFn := t.Functions[res]
			_, isQueue := t.Queues[res]
			switch {
			case isFn && isRef:
				s.Kind = SubstFunctionName
			case isFn && isAtt && attr == "Arn":
				s.Kind = SubstFunctionArn
			case isQueue && (isRef || (isAtt && attr == "QueueUrl")):
				s.Kind = SubstQueueURL
			case isQueue && isAtt && attr == "Arn":
				s.Kind = SubstQueueArn
			case isQueue && isAtt && attr == "QueueName":
				s.Kind = SubstQueueName
			default:
				return fieldErr(sm.LogicalID, field, fmt.Errorf(
					"%w: %s (want a plain value, a function's !GetAtt .Arn or !Ref, or a queue's !Ref, .Arn, .QueueUrl or .QueueName)", ErrUnsupported, r))
			}
			s.Resource = res
		}
		sm.Substitutions[name] = s
	}
	return nil
}

var placeholderRE = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)\}`)

// Placeholders returns the distinct ${Name} placeholders of a definition,
// sorted.
func Placeholders(definition string) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range placeholderRE.FindAllStringSubmatch(definition, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, m[1])
		}
	}
	sort.Strings(out)
	return out
}

// ErrUnknownPlaceholder is wrapped by Render for a ${Name} that has no
// DefinitionSubstitutions entry (CloudFormation would reject it too).
var ErrUnknownPlaceholder = errors.New("placeholder has no DefinitionSubstitutions entry")

// Render replaces every ${Name} of definition with value(substitution). It
// fails on a placeholder without a substitution and on any error of value.
func (sm *StateMachine) Render(definition string, value func(Substitution) (string, error)) (string, error) {
	var firstErr error
	out := placeholderRE.ReplaceAllStringFunc(definition, func(m string) string {
		if firstErr != nil {
			return m
		}
		name := m[2 : len(m)-1]
		s, ok := sm.Substitutions[name]
		if !ok {
			firstErr = fmt.Errorf("%s: ${%s}: %w", sm.LogicalID, name, ErrUnknownPlaceholder)
			return m
		}
		v, err := value(s)
		if err != nil {
			firstErr = fmt.Errorf("%s: ${%s}: %w", sm.LogicalID, name, err)
			return m
		}
		return v
	})
	if firstErr != nil {
		return "", firstErr
	}
	return out, nil
}
