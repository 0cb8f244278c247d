package sam

import (
	"fmt"
	"sort"
	"strconv"
	"time"
)

// DefaultRateWindow is WAF's EvaluationWindowSec default.
const DefaultRateWindow = 300 * time.Second

// RateRule is a WAFv2 rate-based rule: at most Limit requests per key per
// Window, else Action (with ResponseCode and ResponseHeaders for a custom
// block response). Rules of other kinds (managed rule groups, IP sets, ...)
// are not modelled.
type RateRule struct {
	WebACL           string // logical id of the AWS::WAFv2::WebACL
	Name             string
	Priority         int
	Limit            int64
	Window           time.Duration
	AggregateKeyType string    // IP, FORWARDED_IP, CUSTOM_KEYS or CONSTANT
	CustomKeys       []RateKey // CUSTOM_KEYS
	ForwardedHeader  string    // FORWARDED_IP: the header carrying the client IP
	Action           string    // Block, Count, ...
	ResponseCode     int       // Block with CustomResponse; 0 = WAF's 403
	ResponseHeaders  map[string]string
}

// RateKey is one component of a CUSTOM_KEYS aggregation key.
type RateKey struct {
	Kind string // Header, Cookie, QueryArgument, IP, ForwardedIP, HTTPMethod, UriPath, ...
	Name string // Header/Cookie/QueryArgument name
}

func (t *Template) addWebACL(e *evaluator, id string, properties Value) error {
	p := props{e: e, id: id, v: properties}
	rules := p.raw("Rules")
	for i, rv := range rules.Seq {
		rp := props{e: e, id: id, pre: "Rules[" + strconv.Itoa(i) + "].", v: rv}
		st := rp.sub("Statement").sub("RateBasedStatement")
		if st.v.IsNull() {
			continue
		}
		r := RateRule{WebACL: id}
		var err error
		if r.Name, err = rp.str("Name", ""); err != nil {
			return err
		}
		pr, err := rp.integer("Priority", 0)
		if err != nil {
			return err
		}
		r.Priority = int(pr)
		if r.Limit, err = st.integer("Limit", 0); err != nil {
			return err
		}
		if r.Limit < 1 {
			return st.err("Limit", fmt.Errorf("must be positive, got %d", r.Limit))
		}
		w, err := st.integer("EvaluationWindowSec", int64(DefaultRateWindow/time.Second))
		if err != nil {
			return err
		}
		switch w {
		case 60, 120, 300, 600:
		default:
			return st.err("EvaluationWindowSec", fmt.Errorf("want 60, 120, 300 or 600, got %d", w))
		}
		r.Window = time.Duration(w) * time.Second
		if r.AggregateKeyType, err = st.str("AggregateKeyType", ""); err != nil {
			return err
		}
		switch r.AggregateKeyType {
		case "IP", "CONSTANT":
		case "FORWARDED_IP":
			if r.ForwardedHeader, err = st.sub("ForwardedIPConfig").str("HeaderName", "X-Forwarded-For"); err != nil {
				return err
			}
		case "CUSTOM_KEYS":
			keys := st.sub("CustomKeys")
			for j, kv := range keys.v.Seq {
				if kv.Kind != KindMap || len(kv.Map) != 1 {
					return st.err(fmt.Sprintf("CustomKeys[%d]", j), fmt.Errorf("want one key kind, got %s", kv))
				}
				k := RateKey{Kind: kv.Map[0].Key}
				kp := props{e: e, id: id, pre: fmt.Sprintf("%sCustomKeys[%d].%s.", st.pre, j, k.Kind), v: kv.Map[0].Value}
				if k.Name, err = kp.str("Name", ""); err != nil {
					return err
				}
				r.CustomKeys = append(r.CustomKeys, k)
			}
			if len(r.CustomKeys) == 0 {
				return st.err("CustomKeys", fmt.Errorf("CUSTOM_KEYS needs at least one key"))
			}
		default:
			return st.err("AggregateKeyType", fmt.Errorf("%w: %q", ErrUnsupported, r.AggregateKeyType))
		}
		act := rp.sub("Action")
		if len(act.v.Map) == 1 {
			r.Action = act.v.Map[0].Key
			cr := act.sub(r.Action).sub("CustomResponse")
			code, err := cr.integer("ResponseCode", 0)
			if err != nil {
				return err
			}
			r.ResponseCode = int(code)
			for j, hv := range cr.raw("ResponseHeaders").Seq {
				hp := props{e: e, id: id, pre: fmt.Sprintf("%sResponseHeaders[%d].", cr.pre, j), v: hv}
				name, err := hp.str("Name", "")
				if err != nil {
					return err
				}
				val, err := hp.str("Value", "")
				if err != nil {
					return err
				}
				if r.ResponseHeaders == nil {
					r.ResponseHeaders = map[string]string{}
				}
				r.ResponseHeaders[name] = val
			}
		}
		t.RateRules = append(t.RateRules, r)
	}
	sort.SliceStable(t.RateRules, func(i, j int) bool {
		a, b := t.RateRules[i], t.RateRules[j]
		if a.WebACL != b.WebACL {
			return a.WebACL < b.WebACL
		}
		return a.Priority < b.Priority
	})
	return nil
}
