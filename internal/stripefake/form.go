package stripefake

import (
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/stripe/stripe-go/v76"
)

// form is a request's parameters decoded from Stripe's bracket notation:
// "metadata[k]=v" becomes form{"metadata": form{"k": "v"}}; list items
// ("expand[]=a" or "expand[0]=a") become keys "0", "1", ... Leaves are
// strings.
type form map[string]any

// parseForm decodes url.Values with bracket nesting. A value that is both a
// leaf and a container (a=1&a[b]=2) keeps the container: the leaf is
// reported by badShape.
func parseForm(vals url.Values) (f form, badShape string) {
	f = form{}
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		segs := splitKey(k)
		for _, v := range vals[k] {
			if !f.put(segs, v) && badShape == "" {
				badShape = segs[0]
			}
		}
	}
	return f, badShape
}

// splitKey turns "a[b][]" into ["a", "b", ""].
func splitKey(k string) []string {
	i := strings.IndexByte(k, '[')
	if i < 0 {
		return []string{k}
	}
	segs := []string{k[:i]}
	rest := k[i:]
	for len(rest) > 0 && rest[0] == '[' {
		j := strings.IndexByte(rest, ']')
		if j < 0 {
			break
		}
		segs = append(segs, rest[1:j])
		rest = rest[j+1:]
	}
	return segs
}

func (f form) put(segs []string, v string) bool {
	cur := f
	for i, s := range segs {
		if s == "" { // "[]": next list index
			s = strconv.Itoa(len(cur))
		}
		if i == len(segs)-1 {
			if _, isMap := cur[s].(form); isMap {
				return false
			}
			cur[s] = v
			return true
		}
		next, ok := cur[s].(form)
		if !ok {
			if _, isLeaf := cur[s].(string); isLeaf {
				return false
			}
			next = form{}
			cur[s] = next
		}
		cur = next
	}
	return true
}

// str returns the leaf string at key and whether it was present as a leaf.
func (f form) str(key string) (string, bool) {
	s, ok := f[key].(string)
	return s, ok
}

// list returns a list parameter's items in index order. A single leaf
// value counts as a one-item list.
func (f form) list(key string) []string {
	switch v := f[key].(type) {
	case string:
		if v == "" {
			return nil
		}
		return []string{v}
	case form:
		idx := make([]string, 0, len(v))
		for k := range v {
			idx = append(idx, k)
		}
		sort.Slice(idx, func(a, b int) bool {
			na, ea := strconv.Atoi(idx[a])
			nb, eb := strconv.Atoi(idx[b])
			if ea == nil && eb == nil {
				return na < nb
			}
			return idx[a] < idx[b]
		})
		out := make([]string, 0, len(idx))
		for _, k := range idx {
			if s, ok := v[k].(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// metadata returns metadata[...] as a map. Empty values are kept: they
// mean "unset this key" (see applyMeta). A non-empty leaf "metadata=x" is
// invalid.
func (f form) metadata() (map[string]string, *apiError) {
	switch v := f["metadata"].(type) {
	case nil:
		return nil, nil
	case string:
		if v == "" {
			return map[string]string{}, nil
		}
		return nil, validationError("parameter_invalid_empty", "metadata", "Invalid object")
	case form:
		m := make(map[string]string, len(v))
		for k, val := range v {
			s, ok := val.(string)
			if !ok {
				return nil, validationError("", "metadata["+k+"]", "Invalid value for metadata: metadata values must be strings")
			}
			if len(k) > 40 {
				return nil, validationError("", "metadata", "Metadata keys can have at most 40 characters")
			}
			if len(s) > 500 {
				return nil, validationError("", "metadata["+k+"]", "Metadata values can have at most 500 characters")
			}
			m[k] = s
		}
		if len(m) > 50 {
			return nil, validationError("", "metadata", "Metadata can have at most 50 keys")
		}
		return m, nil
	}
	return nil, nil
}

// integer parses an integer parameter. ok is false when absent.
func (f form) integer(key string) (n int64, ok bool, err *apiError) {
	v, present := f[key]
	if !present {
		return 0, false, nil
	}
	s, _ := v.(string)
	n, perr := strconv.ParseInt(s, 10, 64)
	if perr != nil {
		return 0, true, paramInvalidInteger(key, s)
	}
	return n, true, nil
}

// boolean parses a boolean parameter ("true"/"false"), absent = false.
func (f form) boolean(key string) (bool, *apiError) {
	v, present := f[key]
	if !present {
		return false, nil
	}
	switch s, _ := v.(string); s {
	case "true":
		return true, nil
	case "false", "":
		return false, nil
	default:
		return false, validationError("parameter_invalid_boolean", key, "Invalid boolean: "+s)
	}
}

// checkKnown rejects the first top-level parameter not in allowed.
func (f form) checkKnown(allowed map[string]bool) *apiError {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !allowed[k] {
			return paramUnknown(k)
		}
	}
	return nil
}

// formFields returns the top-level form parameter names stripe-go defines
// for a params struct (following embedded form:"*" structs such as Params).
func formFields(t reflect.Type) map[string]bool {
	out := map[string]bool{}
	var walk func(reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return
		}
		for i := 0; i < t.NumField(); i++ {
			fld := t.Field(i)
			name, _, _ := strings.Cut(fld.Tag.Get("form"), ",")
			switch name {
			case "", "-":
			case "*":
				walk(fld.Type)
			default:
				out[name] = true
			}
		}
	}
	walk(t)
	return out
}

// allowedSet is the accepted top-level parameters of each endpoint.
type allowedSet struct {
	createPI, confirmPI, capturePI, cancelPI, retrievePI, createRefund, retrieve map[string]bool
	listPI, searchPI, listRefund, listEvent                                      map[string]bool
}

var (
	allowedOnce sync.Once
	allowed     allowedSet
)

func allowedParams() *allowedSet {
	allowedOnce.Do(func() {
		allowed.createPI = formFields(reflect.TypeOf(stripe.PaymentIntentParams{}))
		allowed.confirmPI = formFields(reflect.TypeOf(stripe.PaymentIntentConfirmParams{}))
		allowed.capturePI = formFields(reflect.TypeOf(stripe.PaymentIntentCaptureParams{}))
		allowed.cancelPI = formFields(reflect.TypeOf(stripe.PaymentIntentCancelParams{}))
		allowed.createRefund = formFields(reflect.TypeOf(stripe.RefundParams{}))
		allowed.listPI = formFields(reflect.TypeOf(stripe.PaymentIntentListParams{}))
		allowed.searchPI = formFields(reflect.TypeOf(stripe.PaymentIntentSearchParams{}))
		allowed.listRefund = formFields(reflect.TypeOf(stripe.RefundListParams{}))
		allowed.listEvent = formFields(reflect.TypeOf(stripe.EventListParams{}))
		allowed.retrievePI = map[string]bool{"expand": true, "client_secret": true}
		allowed.retrieve = map[string]bool{"expand": true}
	})
	return &allowed
}
