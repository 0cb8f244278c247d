package sam

import (
	"errors"
	"fmt"
	"strings"
)

// Throttle is a token bucket: RateLimit requests per second with bursts of
// BurstLimit.
type Throttle struct {
	BurstLimit int
	RateLimit  float64
}

// addUsagePlan reads an AWS::ApiGateway::UsagePlan: its plan-wide Throttle
// and Quota, and the per-method throttles of its ApiStages entry for an
// Api of this template ("/v1/products/{sku}/GET" keys). link attaches it
// to that Api.
func (t *Template) addUsagePlan(e *evaluator, id string, properties Value) error {
	p := props{e: e, id: id, v: properties}
	plan := &UsagePlan{CreateUsagePlan: "EXPLICIT", LogicalID: id}
	th, q := p.sub("Throttle"), p.sub("Quota")
	// Quota and Throttle may be !If [Cond, {...}, !Ref AWS::NoValue].
	for _, sp := range []*props{&th, &q} {
		v, err := e.resolve(sp.v)
		if err != nil {
			return sp.err("", err)
		}
		sp.v = v
	}
	if err := plan.readLimits(th, q); err != nil {
		return err
	}
	stages := p.raw("ApiStages")
	for i, sv := range stages.Seq {
		sp := props{e: e, id: id, pre: fmt.Sprintf("ApiStages[%d].", i), v: sv}
		apiID, _, err := sp.resourceOf("ApiId", "")
		if err != nil {
			return err
		}
		if plan.apiID != "" && plan.apiID != apiID {
			return sp.err("ApiId", fmt.Errorf("%w: one usage plan for two APIs", ErrUnsupported))
		}
		plan.apiID = apiID
		methods := sp.sub("Throttle")
		for _, kv := range methods.v.Map {
			mp := methods.sub(kv.Key)
			i := strings.LastIndex(kv.Key, "/")
			if i <= 0 || i == len(kv.Key)-1 {
				return mp.err("", fmt.Errorf("method throttle key %q: want /resource/path/METHOD", kv.Key))
			}
			path, method := kv.Key[:i], strings.ToUpper(kv.Key[i+1:])
			burst, err := mp.integer("BurstLimit", 0)
			if err != nil {
				return err
			}
			r, err := mp.number("RateLimit", 0)
			if err != nil {
				return err
			}
			if burst < 0 || r < 0 {
				return mp.err("RateLimit", errors.New("limits must not be negative"))
			}
			if plan.MethodThrottles == nil {
				plan.MethodThrottles = map[string]Throttle{}
			}
			plan.MethodThrottles[method+" "+path] = Throttle{BurstLimit: int(burst), RateLimit: r}
		}
	}
	if plan.apiID == "" {
		return p.err("ApiStages", errors.New("names no Api of this template"))
	}
	if plan.BurstLimit < 0 || plan.RateLimit < 0 || plan.QuotaLimit < 0 {
		return th.err("RateLimit", errors.New("limits must not be negative"))
	}
	t.usagePlans = append(t.usagePlans, plan)
	return nil
}

// readLimits reads a plan's Throttle (BurstLimit, RateLimit) and Quota
// (Limit, Period), the same in Auth.UsagePlan and an
// AWS::ApiGateway::UsagePlan.
func (u *UsagePlan) readLimits(th, q props) error {
	burst, err := th.integer("BurstLimit", 0)
	if err != nil {
		return err
	}
	u.BurstLimit = int(burst)
	if u.RateLimit, err = th.number("RateLimit", 0); err != nil {
		return err
	}
	limit, err := q.integer("Limit", 0)
	if err != nil {
		return err
	}
	u.QuotaLimit = int(limit)
	if u.QuotaPeriod, err = q.str("Period", ""); err != nil {
		return err
	}
	if u.QuotaLimit > 0 && u.QuotaWindow() == 0 {
		return q.err("Period", fmt.Errorf("want DAY, WEEK or MONTH, got %q", u.QuotaPeriod))
	}
	return nil
}

// linkUsagePlans attaches each explicit usage plan to its Api.
func (t *Template) linkUsagePlans() error {
	for _, plan := range t.usagePlans {
		a, ok := t.Apis[plan.apiID]
		if !ok {
			return fieldErr(plan.LogicalID, "ApiStages", fmt.Errorf("%s is not an AWS::Serverless::Api of this template", plan.apiID))
		}
		if a.UsagePlan != nil {
			return fieldErr(plan.LogicalID, "ApiStages", fmt.Errorf("%w: %s already has a usage plan (Auth.UsagePlan or another)", ErrUnsupported, plan.apiID))
		}
		a.UsagePlan = plan
	}
	return nil
}

// MethodThrottle returns the per-method throttle of method on resource
// path, if the plan sets one.
func (u *UsagePlan) MethodThrottle(method, path string) (Throttle, bool) {
	th, ok := u.MethodThrottles[strings.ToUpper(method)+" "+path]
	return th, ok
}
