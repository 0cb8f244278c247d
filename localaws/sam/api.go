package sam

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Api is an AWS::Serverless::Api (a REST API with one stage).
type Api struct {
	LogicalID         string
	StageName         string
	DefaultAuthorizer string // "" when none
	ApiKeyRequired    bool   // Auth.ApiKeyRequired: the default for every route
	Authorizers       map[string]*Authorizer
	UsagePlan         *UsagePlan // nil when Auth.UsagePlan is absent or CreateUsagePlan is NONE
}

// Authorizer is a Lambda authorizer of an Api.
type Authorizer struct {
	Name                 string
	PayloadType          string // "TOKEN" or "REQUEST"
	FunctionID           string // logical id of the authorizer function
	IdentityHeader       string // TOKEN: the header carrying the token
	ValidationExpression string // TOKEN: regexp the header must match ("" = none)
	ResultTTL            time.Duration
}

// UsagePlan is the usage plan of an Api: Auth.UsagePlan, or an
// AWS::ApiGateway::UsagePlan resource naming the Api in ApiStages. Its
// limits apply per API key: a plan-wide throttle (none when RateLimit is
// 0), per-method throttles, and a quota.
type UsagePlan struct {
	CreateUsagePlan string  // PER_API or SHARED (Auth.UsagePlan), EXPLICIT (a resource)
	LogicalID       string  // EXPLICIT: the AWS::ApiGateway::UsagePlan
	BurstLimit      int     // Throttle.BurstLimit (0 = not set)
	RateLimit       float64 // Throttle.RateLimit, requests per second (0 = not set)
	QuotaLimit      int     // Quota.Limit (0 = not set)
	QuotaPeriod     string  // DAY, WEEK or MONTH
	QuotaOffset     int
	// MethodThrottles are ApiStages[].Throttle, by "METHOD /resource/path".
	MethodThrottles map[string]Throttle

	apiID string // EXPLICIT: the Api it serves
}

// QuotaWindow returns the length of QuotaPeriod (a MONTH counts 30 days).
func (u *UsagePlan) QuotaWindow() time.Duration {
	switch u.QuotaPeriod {
	case "DAY":
		return 24 * time.Hour
	case "WEEK":
		return 7 * 24 * time.Hour
	case "MONTH":
		return 30 * 24 * time.Hour
	}
	return 0
}

// Route is an Api event with its effective authorization.
type Route struct {
	Method         string // upper case, or ANY
	Path           string // e.g. /v1/checkouts/{id}
	Api            string // logical id of the Api
	FunctionID     string
	Event          string // event name on the function
	Authorizer     string // effective authorizer name; "" = none
	ApiKeyRequired bool
}

// DefaultAuthorizerTTL is SAM's ReauthorizeEvery default.
const DefaultAuthorizerTTL = 300 * time.Second

func (t *Template) addApi(e *evaluator, id string, merged Value) error {
	p := props{e: e, id: id, v: merged}
	a := &Api{LogicalID: id, Authorizers: map[string]*Authorizer{}}
	var err error
	if a.StageName, err = p.str("StageName", ""); err != nil {
		return err
	}
	if a.StageName == "" {
		return p.err("StageName", errors.New("required"))
	}
	if p.has("DefinitionBody") || p.has("DefinitionUri") {
		return p.err("DefinitionBody", fmt.Errorf("%w: an OpenAPI definition; declare routes as function Api events", ErrUnsupported))
	}
	auth := p.sub("Auth")
	if a.DefaultAuthorizer, err = auth.str("DefaultAuthorizer", ""); err != nil {
		return err
	}
	if a.ApiKeyRequired, err = auth.boolean("ApiKeyRequired", false); err != nil {
		return err
	}
	authorizers := auth.sub("Authorizers")
	for _, kv := range authorizers.v.Map {
		ap := authorizers.sub(kv.Key)
		z := &Authorizer{Name: kv.Key}
		if !ap.has("FunctionArn") {
			return ap.err("FunctionArn", fmt.Errorf("%w: only Lambda authorizers (Cognito is not)", ErrUnsupported))
		}
		if z.FunctionID, _, err = ap.resourceOf("FunctionArn", "Arn"); err != nil {
			return err
		}
		if z.PayloadType, err = ap.str("FunctionPayloadType", "TOKEN"); err != nil {
			return err
		}
		if z.PayloadType != "TOKEN" && z.PayloadType != "REQUEST" {
			return ap.err("FunctionPayloadType", fmt.Errorf("want TOKEN or REQUEST, got %q", z.PayloadType))
		}
		ident := ap.sub("Identity")
		def := "Authorization"
		if z.PayloadType == "REQUEST" {
			def = ""
		}
		if z.IdentityHeader, err = ident.str("Header", def); err != nil {
			return err
		}
		if z.ValidationExpression, err = ident.str("ValidationExpression", ""); err != nil {
			return err
		}
		ttl, err := ident.integer("ReauthorizeEvery", int64(DefaultAuthorizerTTL/time.Second))
		if err != nil {
			return err
		}
		if ttl < 0 || ttl > 3600 {
			return ident.err("ReauthorizeEvery", fmt.Errorf("%d s is outside 0..3600", ttl))
		}
		z.ResultTTL = time.Duration(ttl) * time.Second
		a.Authorizers[kv.Key] = z
	}
	if a.DefaultAuthorizer != "" && a.DefaultAuthorizer != "NONE" && a.Authorizers[a.DefaultAuthorizer] == nil {
		return auth.err("DefaultAuthorizer", fmt.Errorf("no authorizer %q in Auth.Authorizers", a.DefaultAuthorizer))
	}
	if a.DefaultAuthorizer == "NONE" {
		a.DefaultAuthorizer = ""
	}
	up := auth.sub("UsagePlan")
	if !up.v.IsNull() {
		plan := &UsagePlan{}
		if plan.CreateUsagePlan, err = up.str("CreateUsagePlan", ""); err != nil {
			return err
		}
		switch plan.CreateUsagePlan {
		case "PER_API", "SHARED":
		case "NONE":
			plan = nil
		default:
			return up.err("CreateUsagePlan", fmt.Errorf("want PER_API, SHARED or NONE, got %q", plan.CreateUsagePlan))
		}
		if plan != nil {
			th, q := up.sub("Throttle"), up.sub("Quota")
			if err := plan.readLimits(th, q); err != nil {
				return err
			}
			off, err := q.integer("Offset", 0)
			if err != nil {
				return err
			}
			plan.QuotaOffset = int(off)
			if plan.BurstLimit < 0 || plan.RateLimit < 0 || plan.QuotaLimit < 0 {
				return up.err("Throttle", errors.New("limits must not be negative"))
			}
		}
		a.UsagePlan = plan
	}
	t.Apis[id] = a
	return nil
}

// link checks cross-references between resources and computes Routes.
func (t *Template) link(e *evaluator) error {
	for _, a := range t.Apis {
		for _, z := range a.Authorizers {
			if _, ok := t.Functions[z.FunctionID]; !ok {
				return fieldErr(a.LogicalID, "Auth.Authorizers."+z.Name+".FunctionArn",
					fmt.Errorf("%s is not an AWS::Serverless::Function of this template", z.FunctionID))
			}
		}
	}
	seen := map[string]string{}
	for _, fid := range t.FunctionIDs() {
		f := t.Functions[fid]
		for _, ev := range f.Events {
			field := "Events." + ev.Name + ".Properties."
			switch {
			case ev.Api != nil:
				a, ok := t.Apis[ev.Api.RestAPI]
				if !ok {
					return fieldErr(fid, field+"RestApiId", fmt.Errorf("%s is not an AWS::Serverless::Api of this template", ev.Api.RestAPI))
				}
				r := Route{Method: ev.Api.Method, Path: ev.Api.Path, Api: a.LogicalID, FunctionID: fid, Event: ev.Name,
					Authorizer: a.DefaultAuthorizer, ApiKeyRequired: a.ApiKeyRequired}
				switch ev.Api.Authorizer {
				case "":
				case "NONE":
					r.Authorizer = ""
				default:
					if a.Authorizers[ev.Api.Authorizer] == nil {
						return fieldErr(fid, field+"Auth.Authorizer", fmt.Errorf("no authorizer %q on %s", ev.Api.Authorizer, a.LogicalID))
					}
					r.Authorizer = ev.Api.Authorizer
				}
				if ev.Api.ApiKeyRequired != nil {
					r.ApiKeyRequired = *ev.Api.ApiKeyRequired
				}
				key := a.LogicalID + " " + r.Method + " " + r.Path
				if other, dup := seen[key]; dup {
					return fieldErr(fid, field+"Path", fmt.Errorf("route %s %s is also declared by %s", r.Method, r.Path, other))
				}
				seen[key] = fid + "." + ev.Name
				t.Routes = append(t.Routes, r)
			case ev.SQS != nil:
				if _, ok := t.Queues[ev.SQS.Queue]; !ok {
					return fieldErr(fid, field+"Queue", fmt.Errorf("%s is not an AWS::SQS::Queue of this template", ev.SQS.Queue))
				}
			}
		}
	}
	sort.Slice(t.Routes, func(i, j int) bool {
		if t.Routes[i].Path != t.Routes[j].Path {
			return t.Routes[i].Path < t.Routes[j].Path
		}
		return t.Routes[i].Method < t.Routes[j].Method
	})
	for _, id := range t.QueueIDs() {
		if err := t.linkQueue(e, t.Queues[id]); err != nil {
			return err
		}
	}
	for _, id := range sortedKeys(t.StateMachines) {
		if err := t.linkStateMachine(e, t.StateMachines[id]); err != nil {
			return err
		}
	}
	return nil
}

// Match reports whether method and path (without the stage prefix, e.g.
// "/v1/checkouts/123") select the route, and returns the path parameters.
// "{name}" matches one non-empty segment; a final "{name+}" matches the rest.
// Method ANY matches every method.
func (r Route) Match(method, path string) (map[string]string, bool) {
	if r.Method != "ANY" && !strings.EqualFold(r.Method, method) {
		return nil, false
	}
	want := strings.Split(strings.Trim(r.Path, "/"), "/")
	got := strings.Split(strings.Trim(path, "/"), "/")
	params := map[string]string{}
	for i, w := range want {
		if strings.HasPrefix(w, "{") && strings.HasSuffix(w, "+}") && i == len(want)-1 {
			if i >= len(got) || got[i] == "" {
				return nil, false
			}
			params[w[1:len(w)-2]] = strings.Join(got[i:], "/")
			return params, true
		}
		if i >= len(got) {
			return nil, false
		}
		if strings.HasPrefix(w, "{") && strings.HasSuffix(w, "}") {
			if got[i] == "" {
				return nil, false
			}
			params[w[1:len(w)-1]] = got[i]
			continue
		}
		if w != got[i] {
			return nil, false
		}
	}
	if len(got) != len(want) {
		return nil, false
	}
	return params, true
}
