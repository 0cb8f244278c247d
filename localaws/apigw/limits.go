package apigw

import (
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/checkout-dev/checkout/localaws/sam"
)

// The rules a 429 names (details.rule), the same words as the template's
// GatewayResponses and WAF custom response bodies.
const (
	RuleThrottle = "usage_plan_throttle"
	RuleQuota    = "usage_plan_quota"
	RuleWAFIP    = "waf_ip"
	RuleWAFUser  = "waf_user"
)

// limiter enforces the usage plan (a token bucket per API key, and a quota
// per key per period) and the WAF rate rules (a sliding count per key per
// window).
type limiter struct {
	now   func() time.Time
	plan  *sam.UsagePlan
	rules []sam.RateRule

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
	quota   map[string]*window
	wafHits map[string]*window
}

// window counts requests in a fixed window starting at start.
type window struct {
	start time.Time
	count int64
}

func newLimiter(plan *sam.UsagePlan, rules []sam.RateRule, now func() time.Time) *limiter {
	return &limiter{now: now, plan: plan, rules: rules, buckets: map[string]*rate.Limiter{},
		quota: map[string]*window{}, wafHits: map[string]*window{}}
}

// usagePlan charges one request on route (method, resource path) to key:
// the route's per-method throttle (a bucket per key and method), then the
// plan-wide throttle (a bucket per key), then the quota (per key, counting
// only requests that passed the throttles). It reports whether the request
// is over a limit, and how long to wait.
func (l *limiter) usagePlan(key, method, path string) (wait time.Duration, over bool, why, rule string) {
	if l.plan == nil {
		return 0, false, "", ""
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	var quota *window
	if l.plan.QuotaLimit > 0 && l.plan.QuotaWindow() > 0 {
		quota = l.quota[key]
		if quota == nil || now.Sub(quota.start) >= l.plan.QuotaWindow() {
			quota = &window{start: now}
			l.quota[key] = quota
		}
		if quota.count >= int64(l.plan.QuotaLimit) {
			return quota.start.Add(l.plan.QuotaWindow()).Sub(now), true, "the usage plan's quota is used up for this period", RuleQuota
		}
	}
	if th, ok := l.plan.MethodThrottle(method, path); ok && th.RateLimit > 0 {
		if wait, over := l.take(key+"\x00"+method+" "+path, th.RateLimit, th.BurstLimit, now); over {
			return wait, true, "over the usage plan's rate limit for " + method + " " + path, RuleThrottle
		}
	}
	if l.plan.RateLimit > 0 {
		if wait, over := l.take(key, l.plan.RateLimit, l.plan.BurstLimit, now); over {
			return wait, true, "over the usage plan's rate limit", RuleThrottle
		}
	}
	if quota != nil { // only requests that pass the throttle count
		quota.count++
	}
	return 0, false, "", ""
}

// take takes one token from bucket id (created with rate r and burst), or
// says how long until one is there.
func (l *limiter) take(id string, r float64, burst int, now time.Time) (time.Duration, bool) {
	b := l.buckets[id]
	if b == nil {
		if burst < 1 {
			burst = int(r) + 1
		}
		b = rate.NewLimiter(rate.Limit(r), burst)
		l.buckets[id] = b
	}
	if b.AllowN(now, 1) {
		return 0, false
	}
	missing := 1 - b.TokensAt(now)
	return time.Duration(missing / r * float64(time.Second)), true
}

// waf applies the rate rules keyed on kind ("ip" rules: IP or FORWARDED_IP;
// "user" rules: CUSTOM_KEYS on a header, keyed by the authenticated user).
func (l *limiter) waf(kind, value string) (time.Duration, bool, string) {
	if value == "" {
		return 0, false, ""
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for _, rule := range l.rules {
		if ruleKind(rule) != kind || !strings.EqualFold(rule.Action, "Block") {
			continue
		}
		key := rule.Name + "\x00" + value
		w := l.wafHits[key]
		if w == nil || now.Sub(w.start) >= rule.Window {
			w = &window{start: now}
			l.wafHits[key] = w
		}
		w.count++
		if w.count > rule.Limit {
			return w.start.Add(rule.Window).Sub(now), true, rule.Name
		}
	}
	return 0, false, ""
}

func ruleKind(r sam.RateRule) string {
	switch r.AggregateKeyType {
	case "IP", "FORWARDED_IP":
		return "ip"
	case "CUSTOM_KEYS":
		return "user"
	}
	return ""
}
