package stripefake

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// List and search endpoints (what a reconciliation job uses). Stripe's API
// reference, Pagination: list methods take limit (1 to 100, default 10),
// starting_after and ending_before (object ids, mutually exclusive) and
// return objects in reverse chronological order as {"object":"list",
// "url", "has_more", "data"}; search methods take query, limit and page
// and answer {"object":"search_result", "url", "has_more", "data",
// "next_page"}. All run with f.mu held.

// listKey orders listed objects: newest first (created, then creation
// sequence, descending).
type listKey struct {
	created int64
	seq     int
	id      string
}

// older reports whether a comes after b in list order.
func (a listKey) older(b listKey) bool {
	if a.created != b.created {
		return a.created < b.created
	}
	return a.seq < b.seq
}

func sortNewestFirst(keys []listKey) {
	sort.Slice(keys, func(i, j int) bool { return keys[j].older(keys[i]) })
}

// listParams are the common list parameters.
type listParams struct {
	limit                       int
	startingAfter, endingBefore string
	created                     func(int64) bool
}

func parseLimit(p form) (int, *apiError) {
	n, ok, err := p.integer("limit")
	if err != nil {
		return 0, err
	}
	if !ok {
		return 10, nil
	}
	if n < 1 {
		return 0, validationError("parameter_invalid_integer", "limit", "This value must be greater than or equal to 1.")
	}
	if n > 100 {
		return 0, validationError("parameter_invalid_integer", "limit", "This value must be less than or equal to 100.")
	}
	return int(n), nil
}

func parseListParams(p form) (listParams, *apiError) {
	var lp listParams
	var err *apiError
	if lp.limit, err = parseLimit(p); err != nil {
		return lp, err
	}
	lp.startingAfter, _ = p.str("starting_after")
	lp.endingBefore, _ = p.str("ending_before")
	if lp.startingAfter != "" && lp.endingBefore != "" {
		return lp, validationError("", "ending_before",
			"You may only specify one of these parameters: ending_before, starting_after.")
	}
	if lp.created, err = parseCreated(p); err != nil {
		return lp, err
	}
	return lp, nil
}

// parseCreated reads created=<ts> or created[gt|gte|lt|lte]=<ts>.
func parseCreated(p form) (func(int64) bool, *apiError) {
	switch v := p["created"].(type) {
	case nil:
		return func(int64) bool { return true }, nil
	case string:
		ts, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, paramInvalidInteger("created", v)
		}
		return func(c int64) bool { return c == ts }, nil
	case form:
		type bound struct {
			op string
			ts int64
		}
		var bounds []bound
		for op, raw := range v {
			s, _ := raw.(string)
			switch op {
			case "gt", "gte", "lt", "lte":
			default:
				return nil, paramUnknown("created[" + op + "]")
			}
			ts, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, paramInvalidInteger("created["+op+"]", s)
			}
			bounds = append(bounds, bound{op, ts})
		}
		return func(c int64) bool {
			for _, b := range bounds {
				switch {
				case b.op == "gt" && c <= b.ts, b.op == "gte" && c < b.ts,
					b.op == "lt" && c >= b.ts, b.op == "lte" && c > b.ts:
					return false
				}
			}
			return true
		}, nil
	}
	return nil, validationError("", "created", "Invalid created: must be an integer or a hash of gt, gte, lt and lte")
}

// page cuts one page out of keys (filtered, newest first). cursor resolves
// a starting_after/ending_before id to its position even when the object
// itself does not match the filters.
func (lp listParams) page(keys []listKey, cursor func(id string) (listKey, bool), kind string) ([]listKey, bool, *apiError) {
	switch {
	case lp.startingAfter != "":
		at, ok := cursor(lp.startingAfter)
		if !ok {
			return nil, false, invalidRequest(http.StatusBadRequest, "resource_missing", "starting_after",
				"No such "+kind+": '"+lp.startingAfter+"'")
		}
		var rest []listKey
		for _, k := range keys {
			if k.older(at) {
				rest = append(rest, k)
			}
		}
		if len(rest) > lp.limit {
			return rest[:lp.limit], true, nil
		}
		return rest, false, nil
	case lp.endingBefore != "":
		at, ok := cursor(lp.endingBefore)
		if !ok {
			return nil, false, invalidRequest(http.StatusBadRequest, "resource_missing", "ending_before",
				"No such "+kind+": '"+lp.endingBefore+"'")
		}
		var newer []listKey
		for _, k := range keys {
			if at.older(k) {
				newer = append(newer, k)
			}
		}
		if len(newer) > lp.limit { // the limit objects just before the cursor
			return newer[len(newer)-lp.limit:], true, nil
		}
		return newer, false, nil
	}
	if len(keys) > lp.limit {
		return keys[:lp.limit], true, nil
	}
	return keys, false, nil
}

// listExpand turns expand[]=data.x into {x}, rejecting what the listed
// object cannot expand.
func listExpand(expand, allowed map[string]bool) (map[string]bool, *apiError) {
	out := map[string]bool{}
	for k := range expand {
		inner, ok := strings.CutPrefix(k, "data.")
		if !ok || !allowed[inner] {
			return nil, validationError("", "expand", "This property cannot be expanded ("+k+").")
		}
		out[inner] = true
	}
	return out, nil
}

func (f *Fake) piKey(id string) (listKey, bool) {
	pi, ok := f.pis[id]
	if !ok {
		return listKey{}, false
	}
	return listKey{pi.created, pi.seq, pi.id}, true
}

// listPaymentIntents is GET /v1/payment_intents (filters: created,
// customer).
func (f *Fake) listPaymentIntents(c *call) (any, *apiError) {
	p := c.params
	if err := p.checkKnown(allowedParams().listPI); err != nil {
		return nil, err
	}
	expand, err := listExpand(c.expand, expandable.pi)
	if err != nil {
		return nil, err
	}
	lp, err := parseListParams(p)
	if err != nil {
		return nil, err
	}
	customer, _ := p.str("customer")
	var keys []listKey
	for _, pi := range f.pis {
		if !lp.created(pi.created) || (customer != "" && (pi.customer == nil || *pi.customer != customer)) {
			continue
		}
		keys = append(keys, listKey{pi.created, pi.seq, pi.id})
	}
	sortNewestFirst(keys)
	pg, more, err := lp.page(keys, f.piKey, "payment_intent")
	if err != nil {
		return nil, err
	}
	out := &listJSON{Object: "list", Data: make([]any, 0, len(pg)), HasMore: more, URL: "/v1/payment_intents"}
	for _, k := range pg {
		out.Data = append(out.Data, f.renderPI(f.pis[k.id], expand))
	}
	return out, nil
}

// listRefunds is GET /v1/refunds (filters: payment_intent, charge,
// created).
func (f *Fake) listRefunds(c *call) (any, *apiError) {
	p := c.params
	if err := p.checkKnown(allowedParams().listRefund); err != nil {
		return nil, err
	}
	expand, err := listExpand(c.expand, expandable.refund)
	if err != nil {
		return nil, err
	}
	lp, err := parseListParams(p)
	if err != nil {
		return nil, err
	}
	piID, _ := p.str("payment_intent")
	chID, _ := p.str("charge")
	var keys []listKey
	for _, re := range f.refunds {
		if !lp.created(re.created) || (piID != "" && re.paymentIntent != piID) || (chID != "" && re.charge != chID) {
			continue
		}
		keys = append(keys, listKey{re.created, re.seq, re.id})
	}
	sortNewestFirst(keys)
	cursor := func(id string) (listKey, bool) {
		re, ok := f.refunds[id]
		if !ok {
			return listKey{}, false
		}
		return listKey{re.created, re.seq, re.id}, true
	}
	pg, more, err := lp.page(keys, cursor, "refund")
	if err != nil {
		return nil, err
	}
	out := &listJSON{Object: "list", Data: make([]any, 0, len(pg)), HasMore: more, URL: "/v1/refunds"}
	for _, k := range pg {
		out.Data = append(out.Data, f.renderRefund(f.refunds[k.id], expand))
	}
	return out, nil
}

// listEvents is GET /v1/events (filters: type, with * as a wildcard;
// types[], exact names, at most 20, not with type; created;
// delivery_success).
func (f *Fake) listEvents(c *call) (any, *apiError) {
	p := c.params
	if err := p.checkKnown(allowedParams().listEvent); err != nil {
		return nil, err
	}
	if err := checkExpand(c.expand, map[string]bool{}); err != nil {
		return nil, err
	}
	lp, err := parseListParams(p)
	if err != nil {
		return nil, err
	}
	typ, hasType := p.str("type")
	types := p.list("types")
	if hasType && len(types) > 0 {
		return nil, validationError("", "types", "You may pass either type or types, but not both.")
	}
	if len(types) > 20 {
		return nil, validationError("", "types", "You may pass at most 20 types.")
	}
	if _, err := path.Match(typ, "x"); err != nil {
		return nil, validationError("", "type", "Invalid type pattern: "+typ)
	}
	var deliverySuccess *bool
	if _, ok := p["delivery_success"]; ok {
		v, err := p.boolean("delivery_success")
		if err != nil {
			return nil, err
		}
		deliverySuccess = &v
	}
	var keys []listKey
	for _, ev := range f.events {
		if !lp.created(ev.created) {
			continue
		}
		if typ != "" {
			if ok, _ := path.Match(typ, ev.typ); !ok {
				continue
			}
		}
		if len(types) > 0 && !contains(types, ev.typ) {
			continue
		}
		if deliverySuccess != nil && (ev.pendingWebhooks() == 0) != *deliverySuccess {
			continue
		}
		keys = append(keys, listKey{ev.created, ev.seq, ev.id})
	}
	sortNewestFirst(keys)
	cursor := func(id string) (listKey, bool) {
		ev, ok := f.eventsByID[id]
		if !ok {
			return listKey{}, false
		}
		return listKey{ev.created, ev.seq, ev.id}, true
	}
	pg, more, err := lp.page(keys, cursor, "event")
	if err != nil {
		return nil, err
	}
	out := &listJSON{Object: "list", Data: make([]any, 0, len(pg)), HasMore: more, URL: "/v1/events"}
	for _, k := range pg {
		out.Data = append(out.Data, f.eventsByID[k.id].render())
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// retrieveEvent is GET /v1/events/{id}.
func (f *Fake) retrieveEvent(c *call) (any, *apiError) {
	if err := c.params.checkKnown(allowedParams().retrieve); err != nil {
		return nil, err
	}
	if err := checkExpand(c.expand, map[string]bool{}); err != nil {
		return nil, err
	}
	ev, ok := f.eventsByID[c.id]
	if !ok {
		return nil, resourceMissing("id", "No such event: '"+c.id+"'")
	}
	return ev.render(), nil
}

// searchPaymentIntents is GET /v1/payment_intents/search. It supports the
// subset of Stripe's search query language a reconciliation job needs:
// clauses field:'value' on metadata['key'], status, currency, customer
// and amount (exact match), joined by AND or by spaces (Stripe's default
// is AND). Anything else (OR, negation, comparisons, substring ~,
// parentheses, other fields) is a 400 naming the unsupported syntax.
// Results are newest first; next_page is an opaque cursor.
func (f *Fake) searchPaymentIntents(c *call) (any, *apiError) {
	p := c.params
	if err := p.checkKnown(allowedParams().searchPI); err != nil {
		return nil, err
	}
	expand, err := listExpand(c.expand, expandable.pi)
	if err != nil {
		return nil, err
	}
	q, ok := p.str("query")
	if !ok || strings.TrimSpace(q) == "" {
		return nil, paramMissing("query")
	}
	clauses, err := parseSearchQuery(q)
	if err != nil {
		return nil, err
	}
	limit, err := parseLimit(p)
	if err != nil {
		return nil, err
	}
	lp := listParams{limit: limit}
	if pg, ok := p.str("page"); ok && pg != "" {
		id, ok := decodePageToken(pg)
		if !ok {
			return nil, validationError("", "page", "Invalid page: "+pg)
		}
		lp.startingAfter = id
	}
	now := time.Now()
	var keys []listKey
	for _, pi := range f.pis {
		if now.Before(pi.indexedAt) || !clauses.match(pi) {
			continue
		}
		keys = append(keys, listKey{pi.created, pi.seq, pi.id})
	}
	sortNewestFirst(keys)
	pg, more, err := lp.page(keys, f.piKey, "page")
	if err != nil {
		return nil, validationError("", "page", "Invalid page: the page cursor no longer exists")
	}
	out := &searchResultJSON{Object: "search_result", Data: make([]any, 0, len(pg)), HasMore: more, URL: "/v1/payment_intents/search"}
	for _, k := range pg {
		out.Data = append(out.Data, f.renderPI(f.pis[k.id], expand))
	}
	if more && len(pg) > 0 {
		tok := encodePageToken(pg[len(pg)-1].id)
		out.NextPage = &tok
	}
	return out, nil
}

func encodePageToken(afterID string) string {
	return "page_" + base64.RawURLEncoding.EncodeToString([]byte(afterID))
}

func decodePageToken(tok string) (string, bool) {
	rest, ok := strings.CutPrefix(tok, "page_")
	if !ok {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(b) == 0 {
		return "", false
	}
	return string(b), true
}

// searchClause is one field:'value' of a search query.
type searchClause struct {
	field, key, value string // key: the metadata key for field "metadata"
}

type searchQuery []searchClause

func (q searchQuery) match(pi *paymentIntent) bool {
	for _, c := range q {
		var got string
		switch c.field {
		case "metadata":
			v, ok := pi.metadata[c.key]
			if !ok {
				return false
			}
			got = v
		case "status":
			got = pi.status
		case "currency":
			got, c.value = pi.currency, strings.ToLower(c.value)
		case "customer":
			if pi.customer != nil {
				got = *pi.customer
			}
		case "amount":
			got = strconv.FormatInt(pi.amount, 10)
		}
		if got != c.value {
			return false
		}
	}
	return true
}

func unsupportedQuery(what string) *apiError {
	return validationError("", "query", "stripefake does not support "+what+" in search queries "+
		"(supported: field:'value' clauses on metadata['key'], status, currency, customer and amount, joined by AND).")
}

// parseSearchQuery parses the supported subset of Stripe's search query
// language (see searchPaymentIntents).
func parseSearchQuery(q string) (searchQuery, *apiError) {
	var out searchQuery
	s := strings.TrimSpace(q)
	expectClause := true
	for s != "" {
		if !expectClause {
			word, rest, _ := strings.Cut(s, " ")
			switch strings.ToUpper(word) {
			case "AND":
				s = strings.TrimSpace(rest)
				if s == "" {
					return nil, validationError("", "query", "Invalid query: it ends with AND.")
				}
				expectClause = true
				continue
			case "OR":
				return nil, unsupportedQuery("OR")
			}
			expectClause = true // a space joins clauses with AND
		}
		cl, rest, err := parseClause(s)
		if err != nil {
			return nil, err
		}
		out = append(out, cl)
		s = strings.TrimSpace(rest)
		expectClause = false
	}
	if len(out) == 0 {
		return nil, paramMissing("query")
	}
	return out, nil
}

// parseClause reads one field:value clause from the start of s.
func parseClause(s string) (searchClause, string, *apiError) {
	var cl searchClause
	switch {
	case strings.HasPrefix(s, "-"):
		return cl, "", unsupportedQuery("negation (-)")
	case strings.HasPrefix(s, "("):
		return cl, "", unsupportedQuery("parentheses")
	}
	i := 0
	for i < len(s) && (s[i] == '_' || s[i] == '.' || ('a' <= s[i] && s[i] <= 'z') || ('A' <= s[i] && s[i] <= 'Z') || ('0' <= s[i] && s[i] <= '9')) {
		i++
	}
	cl.field, s = s[:i], s[i:]
	if cl.field == "" {
		return cl, "", validationError("", "query", "Invalid query: expected a field name at "+strconv.Quote(s))
	}
	if cl.field == "metadata" {
		if !strings.HasPrefix(s, "[") {
			return cl, "", validationError("", "query", "Invalid query: metadata needs a key, as in metadata['key']:'value'.")
		}
		key, rest, err := quoted(s[1:])
		if err != nil {
			return cl, "", err
		}
		if !strings.HasPrefix(rest, "]") {
			return cl, "", validationError("", "query", "Invalid query: missing ] after metadata key.")
		}
		cl.key, s = key, rest[1:]
	}
	switch cl.field {
	case "metadata", "status", "currency", "customer", "amount":
	default:
		return cl, "", unsupportedQuery(fmt.Sprintf("the field %q", cl.field))
	}
	switch {
	case strings.HasPrefix(s, ":"):
		s = s[1:]
	case strings.HasPrefix(s, ">"), strings.HasPrefix(s, "<"):
		return cl, "", unsupportedQuery("numeric comparisons (>, <, >=, <=)")
	case strings.HasPrefix(s, "~"):
		return cl, "", unsupportedQuery("substring matching (~)")
	default:
		return cl, "", validationError("", "query", "Invalid query: expected : after "+cl.field+".")
	}
	if strings.HasPrefix(s, "'") || strings.HasPrefix(s, `"`) {
		v, rest, err := quoted(s)
		if err != nil {
			return cl, "", err
		}
		if strings.HasPrefix(v, "%") || strings.HasSuffix(v, "%") {
			return cl, "", unsupportedQuery("wildcards (%)")
		}
		cl.value = v
		return cl, rest, nil
	}
	// Unquoted values: numbers only (amount:1000), as in Stripe's language.
	j := 0
	for j < len(s) && '0' <= s[j] && s[j] <= '9' {
		j++
	}
	if j == 0 || (j < len(s) && s[j] != ' ') {
		return cl, "", validationError("", "query", "Invalid query: string values must be quoted, as in status:'succeeded'.")
	}
	cl.value = s[:j]
	return cl, s[j:], nil
}

// quoted reads a '...' or "..." string (backslash escapes the quote).
func quoted(s string) (val, rest string, err *apiError) {
	if s == "" || (s[0] != '\'' && s[0] != '"') {
		return "", "", validationError("", "query", "Invalid query: expected a quoted string at "+strconv.Quote(s))
	}
	q := s[0]
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case s[i] == q:
			return b.String(), s[i+1:], nil
		default:
			b.WriteByte(s[i])
		}
	}
	return "", "", validationError("", "query", "Invalid query: unterminated string.")
}
