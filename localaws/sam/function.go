package sam

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// SAM defaults for function properties the template leaves out.
const (
	DefaultFunctionTimeout = 3 * time.Second
	DefaultMemorySize      = 128
	DefaultSQSBatchSize    = 10
)

// Function is an AWS::Serverless::Function with Globals merged in.
type Function struct {
	LogicalID     string
	CodeURI       string // as written, e.g. "functions/reserve-stock"
	Name          string // the CodeUri directory's base name, e.g. "reserve-stock"
	Dir           string // CodeURI joined to Template.Dir ("" dir: CodeURI itself)
	Handler       string
	Runtime       string
	Architectures []string
	BuildMethod   string // Metadata.BuildMethod
	Timeout       time.Duration
	MemorySize    int
	// Environment holds Environment.Variables after resolution. A value the
	// template computes from a resource (a queue URL, a secret ARN of a
	// created cluster) stays an intrinsic Value; see Env.
	Environment map[string]Value
	Events      []Event // sorted by name
}

// Env splits Environment into the variables with a local value and the
// ones that reference AWS resources (which the local runtime must supply).
func (f *Function) Env() (literal map[string]string, refs map[string]Value) {
	literal, refs = map[string]string{}, map[string]Value{}
	for k, v := range f.Environment {
		if v.Kind == KindScalar {
			literal[k] = v.Scalar
		} else {
			refs[k] = v
		}
	}
	return literal, refs
}

// Event is one entry of a function's Events. Exactly one of Api, SQS and
// Schedule is set, according to Type.
type Event struct {
	Name     string
	Type     string // "Api", "SQS" or "Schedule"
	Api      *ApiEvent
	SQS      *SQSEvent
	Schedule *ScheduleEvent
}

// ApiEvent is an Api event as written on the function. Route gives the
// effective auth after the Api's defaults are applied.
type ApiEvent struct {
	Path           string
	Method         string // upper case; "ANY" allowed
	RestAPI        string // logical id of the AWS::Serverless::Api
	Authorizer     string // "" = the Api's DefaultAuthorizer, "NONE" = no authorizer, else a name
	ApiKeyRequired *bool  // nil = the Api's Auth.ApiKeyRequired
}

// SQSEvent is an SQS event source mapping.
type SQSEvent struct {
	Queue                 string // logical id of the AWS::SQS::Queue
	BatchSize             int
	MaximumBatchingWindow time.Duration
	FunctionResponseTypes []string
	Enabled               bool
}

// ReportsBatchItemFailures reports whether the function returns partial
// batch failures (FunctionResponseTypes contains ReportBatchItemFailures).
func (e *SQSEvent) ReportsBatchItemFailures() bool {
	for _, t := range e.FunctionResponseTypes {
		if t == "ReportBatchItemFailures" {
			return true
		}
	}
	return false
}

// ScheduleEvent is a Schedule (EventBridge rule) event.
type ScheduleEvent struct {
	Expression string        // as written, e.g. "rate(1 minute)"
	Interval   time.Duration // parsed from a rate() expression
	Enabled    bool
}

func (t *Template) addFunction(e *evaluator, id string, r rawResource, merged Value) error {
	p := props{e: e, id: id, v: merged}
	if pt, _ := p.str("PackageType", "Zip"); pt != "Zip" {
		return p.err("PackageType", fmt.Errorf("%w: %s", ErrUnsupported, pt))
	}
	if p.has("InlineCode") {
		return p.err("InlineCode", fmt.Errorf("%w: inline code; use CodeUri", ErrUnsupported))
	}
	codeURI := p.raw("CodeUri")
	if codeURI.Kind != KindScalar {
		return p.err("CodeUri", fmt.Errorf("%w: want a local directory such as functions/<name>, got %s", ErrUnsupported, codeURI))
	}
	f := &Function{LogicalID: id, CodeURI: codeURI.Scalar}
	clean := path.Clean(strings.TrimSuffix(codeURI.Scalar, "/"))
	f.Name = path.Base(clean)
	f.Dir = clean
	if t.Dir != "" {
		f.Dir = filepath.Join(t.Dir, filepath.FromSlash(clean))
	}
	var err error
	if f.Handler, err = p.str("Handler", ""); err != nil {
		return err
	}
	if f.Runtime, err = p.str("Runtime", ""); err != nil {
		return err
	}
	if f.Architectures, err = p.strList("Architectures"); err != nil {
		return err
	}
	if bm, ok := r.Metadata.Get("BuildMethod"); ok && bm.Kind == KindScalar {
		f.BuildMethod = bm.Scalar
	}
	secs, err := p.integer("Timeout", int64(DefaultFunctionTimeout/time.Second))
	if err != nil {
		return err
	}
	if secs < 1 || secs > 900 {
		return p.err("Timeout", fmt.Errorf("%d s is outside 1..900", secs))
	}
	f.Timeout = time.Duration(secs) * time.Second
	mem, err := p.integer("MemorySize", DefaultMemorySize)
	if err != nil {
		return err
	}
	f.MemorySize = int(mem)

	f.Environment = map[string]Value{}
	vars := p.sub("Environment").sub("Variables")
	if !vars.v.IsNull() && vars.v.Kind != KindMap {
		return p.err("Environment.Variables", fmt.Errorf("want a mapping, got %s", vars.v))
	}
	for _, kv := range vars.v.Map {
		r, err := e.resolve(kv.Value)
		if err != nil {
			return vars.err(kv.Key, err)
		}
		if isNoValue(r) {
			continue
		}
		f.Environment[kv.Key] = r
	}

	events := p.sub("Events")
	for _, kv := range events.v.Map {
		ev, err := parseEvent(events.sub(kv.Key), kv.Key)
		if err != nil {
			return err
		}
		f.Events = append(f.Events, ev)
	}
	sort.Slice(f.Events, func(i, j int) bool { return f.Events[i].Name < f.Events[j].Name })
	t.Functions[id] = f
	return nil
}

func parseEvent(p props, name string) (Event, error) {
	typ, err := p.str("Type", "")
	if err != nil {
		return Event{}, err
	}
	ev := Event{Name: name, Type: typ}
	pp := p.sub("Properties")
	switch typ {
	case "Api":
		a := &ApiEvent{}
		if a.Path, err = pp.str("Path", ""); err != nil {
			return ev, err
		}
		if !strings.HasPrefix(a.Path, "/") {
			return ev, pp.err("Path", fmt.Errorf("want an absolute path, got %q", a.Path))
		}
		m, err := pp.str("Method", "")
		if err != nil {
			return ev, err
		}
		a.Method = strings.ToUpper(m)
		if a.Method == "" {
			return ev, pp.err("Method", errors.New("required"))
		}
		if !pp.has("RestApiId") {
			return ev, pp.err("RestApiId", fmt.Errorf("%w: the implicit ServerlessRestApi; set RestApiId: !Ref <Api>", ErrUnsupported))
		}
		if a.RestAPI, _, err = pp.resourceOf("RestApiId", ""); err != nil {
			return ev, err
		}
		auth := pp.sub("Auth")
		if a.Authorizer, err = auth.str("Authorizer", ""); err != nil {
			return ev, err
		}
		if auth.has("ApiKeyRequired") {
			b, err := auth.boolean("ApiKeyRequired", false)
			if err != nil {
				return ev, err
			}
			a.ApiKeyRequired = &b
		}
		ev.Api = a
	case "SQS":
		s := &SQSEvent{}
		if s.Queue, _, err = pp.resourceOf("Queue", "Arn"); err != nil {
			return ev, err
		}
		n, err := pp.integer("BatchSize", DefaultSQSBatchSize)
		if err != nil {
			return ev, err
		}
		if n < 1 || n > 10000 {
			return ev, pp.err("BatchSize", fmt.Errorf("%d is outside 1..10000", n))
		}
		s.BatchSize = int(n)
		w, err := pp.integer("MaximumBatchingWindowInSeconds", 0)
		if err != nil {
			return ev, err
		}
		s.MaximumBatchingWindow = time.Duration(w) * time.Second
		if s.FunctionResponseTypes, err = pp.strList("FunctionResponseTypes"); err != nil {
			return ev, err
		}
		if s.Enabled, err = pp.boolean("Enabled", true); err != nil {
			return ev, err
		}
		ev.SQS = s
	case "Schedule", "ScheduleV2":
		s := &ScheduleEvent{}
		key := "Schedule"
		if typ == "ScheduleV2" {
			key = "ScheduleExpression"
		}
		if s.Expression, err = pp.str(key, ""); err != nil {
			return ev, err
		}
		if s.Interval, err = ParseRate(s.Expression); err != nil {
			return ev, pp.err(key, err)
		}
		if s.Enabled, err = pp.boolean("Enabled", true); err != nil {
			return ev, err
		}
		if state, err := pp.str("State", ""); err != nil {
			return ev, err
		} else if state == "DISABLED" {
			s.Enabled = false
		}
		ev.Type = "Schedule"
		ev.Schedule = s
	default:
		return ev, p.err("Type", fmt.Errorf("%w: event type %q (Api, SQS and Schedule are)", ErrUnsupported, typ))
	}
	return ev, nil
}

// ParseRate parses an EventBridge rate expression, "rate(1 minute)" or
// "rate(5 minutes)" (units minute, hour, day; singular exactly for 1, as AWS
// requires). A cron() expression fails with an error wrapping ErrUnsupported.
func ParseRate(expr string) (time.Duration, error) {
	s := strings.TrimSpace(expr)
	if strings.HasPrefix(s, "cron(") {
		return 0, fmt.Errorf("%w: cron schedule %q (use rate(...))", ErrUnsupported, expr)
	}
	if !strings.HasPrefix(s, "rate(") || !strings.HasSuffix(s, ")") {
		return 0, fmt.Errorf("schedule %q: want rate(N unit)", expr)
	}
	var n int64
	var unit string
	if k, err := fmt.Sscanf(s[len("rate("):len(s)-1], "%d %s", &n, &unit); err != nil || k != 2 {
		return 0, fmt.Errorf("schedule %q: want rate(N unit)", expr)
	}
	if n < 1 {
		return 0, fmt.Errorf("schedule %q: the value must be a positive integer", expr)
	}
	base := map[string]time.Duration{"minute": time.Minute, "hour": time.Hour, "day": 24 * time.Hour}
	singular := strings.TrimSuffix(unit, "s")
	d, ok := base[singular]
	if !ok {
		return 0, fmt.Errorf("schedule %q: unit must be minute(s), hour(s) or day(s)", expr)
	}
	if (n == 1) != (unit == singular) {
		return 0, fmt.Errorf("schedule %q: use %q for 1 and %q otherwise", expr, singular, singular+"s")
	}
	return time.Duration(n) * d, nil
}
