package stripefake

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
)

// listWorld is a fake whose clock the test moves: object i is created at
// base+i seconds.
type listWorld struct {
	f     *Fake
	sc    *client.API
	base  time.Time
	clock atomic.Int64 // seconds after base
	pis   []*stripe.PaymentIntent
}

func newListWorld(t *testing.T, n int, opts ...Options) *listWorld {
	t.Helper()
	w := &listWorld{base: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	o := Options{AsyncDelay: 10 * time.Millisecond}
	if len(opts) > 0 {
		o = opts[0]
	}
	o.Now = func() time.Time { return w.base.Add(time.Duration(w.clock.Load()) * time.Second) }
	w.f = StartTest(t, o)
	w.sc = mirroredClient(t, w.f)
	for i := range n {
		w.clock.Store(int64(i))
		batch := "b1"
		if i%5 == 4 {
			batch = "b2"
		}
		p := piParams(int64(1000+i), "usd", "pm_card_visa", i%2 == 0) // even ones succeed
		p.AddMetadata("checkout_id", fmt.Sprintf("co_%02d", i))
		p.AddMetadata("batch", batch)
		w.pis = append(w.pis, mustPI(t, w.sc, p))
	}
	return w
}

func (w *listWorld) ids(idx ...int) []string {
	out := make([]string, len(idx))
	for i, j := range idx {
		out[i] = w.pis[j].ID
	}
	return out
}

// newestFirst returns indexes from hi down to lo, keeping those ok accepts.
func newestFirst(lo, hi int, ok func(int) bool) []int {
	var out []int
	for i := hi; i >= lo; i-- {
		if ok == nil || ok(i) {
			out = append(out, i)
		}
	}
	return out
}

func collectPIs(t *testing.T, it *stripe.Iter, get func() *stripe.PaymentIntent) []string {
	t.Helper()
	var out []string
	for it.Next() {
		out = append(out, get().ID)
	}
	if it.Err() != nil {
		t.Fatal(it.Err())
	}
	return out
}

func TestListPaymentIntentsPaging(t *testing.T) {
	t.Parallel()
	w := newListWorld(t, 25)
	cases := []struct {
		name     string
		params   *stripe.PaymentIntentListParams
		want     []int
		requests int // GETs the iterator makes
	}{
		{"all, 10 a page", &stripe.PaymentIntentListParams{ListParams: stripe.ListParams{Limit: stripe.Int64(10)}},
			newestFirst(0, 24, nil), 3},
		{"default limit", &stripe.PaymentIntentListParams{}, newestFirst(0, 24, nil), 3},
		{"created range", &stripe.PaymentIntentListParams{ListParams: stripe.ListParams{Limit: stripe.Int64(4)},
			CreatedRange: &stripe.RangeQueryParams{GreaterThanOrEqual: w.base.Unix() + 5, LesserThan: w.base.Unix() + 15}},
			newestFirst(5, 14, nil), 3},
		{"created exact", &stripe.PaymentIntentListParams{Created: stripe.Int64(w.base.Unix() + 7)}, []int{7}, 1},
		{"created gt and lte", &stripe.PaymentIntentListParams{
			CreatedRange: &stripe.RangeQueryParams{GreaterThan: w.base.Unix() + 20, LesserThanOrEqual: w.base.Unix() + 22}},
			[]int{22, 21}, 1},
		{"starting_after", &stripe.PaymentIntentListParams{ListParams: stripe.ListParams{Limit: stripe.Int64(100),
			StartingAfter: stripe.String(w.pis[20].ID)}}, newestFirst(0, 19, nil), 1},
		// ending_before pages backwards: stripe-go yields oldest to newest.
		{"ending_before", &stripe.PaymentIntentListParams{ListParams: stripe.ListParams{Limit: stripe.Int64(7),
			EndingBefore: stripe.String(w.pis[3].ID)}}, []int{4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24}, 3},
		{"single page", &stripe.PaymentIntentListParams{ListParams: stripe.ListParams{Limit: stripe.Int64(3), Single: true}},
			[]int{24, 23, 22}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(w.f.Requests())
			it := w.sc.PaymentIntents.List(tc.params)
			got := collectPIs(t, it.Iter, it.PaymentIntent)
			if want := w.ids(tc.want...); !equalStrings(got, want) {
				t.Fatalf("got  %v\nwant %v", got, want)
			}
			if n := len(w.f.Requests()) - before; n != tc.requests {
				t.Fatalf("%d requests, want %d", n, tc.requests)
			}
			if tc.name == "single page" && (!it.Meta().HasMore || it.PaymentIntentList().URL != "/v1/payment_intents") {
				t.Fatalf("meta %+v", it.Meta())
			}
		})
	}
	// Expanding inside a list.
	lp := &stripe.PaymentIntentListParams{ListParams: stripe.ListParams{Limit: stripe.Int64(2), Single: true}}
	lp.AddExpand("data.latest_charge")
	it := w.sc.PaymentIntents.List(lp)
	for it.Next() { // the newest (24) was confirmed, 23 was not
		pi := it.PaymentIntent()
		if confirmed := pi.Status == stripe.PaymentIntentStatusSucceeded; confirmed != (pi.LatestCharge != nil) ||
			(confirmed && (pi.LatestCharge.Amount != pi.Amount || pi.LatestCharge.Status != "succeeded")) {
			t.Fatalf("%s: latest_charge %+v", pi.Status, pi.LatestCharge)
		}
	}
}

func TestSearchPaymentIntents(t *testing.T) {
	t.Parallel()
	w := newListWorld(t, 20)
	b1 := func(i int) bool { return i%5 != 4 }
	cases := []struct {
		query string
		limit int64
		want  []int
	}{
		{"metadata['checkout_id']:'co_07'", 10, []int{7}},
		{`metadata["batch"]:"b1"`, 4, newestFirst(0, 19, b1)},
		{"metadata['batch']:'b1' AND status:'succeeded'", 3, newestFirst(0, 19, func(i int) bool { return b1(i) && i%2 == 0 })},
		{"status:'succeeded' metadata['batch']:'b2'", 10, newestFirst(0, 19, func(i int) bool { return !b1(i) && i%2 == 0 })},
		{"status:'requires_confirmation' and currency:'USD' and amount:1003", 10, []int{3}},
		{"metadata['checkout_id']:'co_99'", 10, nil},
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			before := len(w.f.Requests())
			sp := &stripe.PaymentIntentSearchParams{SearchParams: stripe.SearchParams{Query: tc.query, Limit: stripe.Int64(tc.limit)}}
			it := w.sc.PaymentIntents.Search(sp)
			var got []string
			for it.Next() {
				got = append(got, it.PaymentIntent().ID)
			}
			if it.Err() != nil {
				t.Fatal(it.Err())
			}
			if want := w.ids(tc.want...); !equalStrings(got, want) {
				t.Fatalf("got  %v\nwant %v", got, want)
			}
			pages := max(1, (len(tc.want)+int(tc.limit)-1)/int(tc.limit))
			if n := len(w.f.Requests()) - before; n != pages {
				t.Fatalf("%d requests, want %d pages", n, pages)
			}
			sr := it.PaymentIntentSearchResult()
			if !strings.Contains(string(sr.LastResponse.RawJSON), `"object": "search_result"`) ||
				sr.URL != "/v1/payment_intents/search" || sr.HasMore || sr.NextPage != nil {
				t.Fatalf("last page %+v %s", sr.SearchMeta, sr.LastResponse.RawJSON)
			}
		})
	}
	t.Run("unsupported syntax", func(t *testing.T) {
		for query, mention := range map[string]string{
			"status:'succeeded' OR status:'canceled'": "OR",
			"-status:'succeeded'":                     "negation",
			"amount>1000":                             "comparisons",
			"metadata['checkout_id']~'co_1'":          "substring",
			"email:'a@example.test'":                  `"email"`,
			"created>1000":                            `"created"`,
			"status:succeeded":                        "quoted",
			"(status:'succeeded')":                    "parentheses",
			"metadata['batch']:'b%'":                  "wildcards",
		} {
			err := w.f.Client().PaymentIntents.Search(&stripe.PaymentIntentSearchParams{SearchParams: stripe.SearchParams{Query: query}}).Err()
			se := wantErr(t, err, 400, stripe.ErrorTypeInvalidRequest, "", "query")
			if !strings.Contains(se.Msg, mention) {
				t.Errorf("%s: message %q does not name %s", query, se.Msg, mention)
			}
		}
	})
}

func TestSearchIndexDelay(t *testing.T) {
	t.Parallel()
	f := StartTest(t, Options{SearchIndexDelay: 300 * time.Millisecond})
	sc := f.Client()
	p := piParams(1000, "usd", "", false)
	p.AddMetadata("checkout_id", "co_lag")
	pi := mustPI(t, sc, p)
	count := func() int {
		it := sc.PaymentIntents.Search(&stripe.PaymentIntentSearchParams{SearchParams: stripe.SearchParams{Query: "metadata['checkout_id']:'co_lag'"}})
		n := 0
		for it.Next() {
			n++
		}
		return n
	}
	if n := count(); n != 0 {
		t.Fatalf("searchable at once: %d", n)
	}
	// A list (read-after-write safe, as Stripe's search docs advise) sees it.
	it := sc.PaymentIntents.List(&stripe.PaymentIntentListParams{})
	if !it.Next() || it.PaymentIntent().ID != pi.ID {
		t.Fatal("list misses the new PaymentIntent")
	}
	waitFor(t, func() bool { return count() == 1 })
}

func TestListRefundsEventsAndGetCharge(t *testing.T) {
	t.Parallel()
	w := newListWorld(t, 4)
	sc := w.sc
	// Five refunds over two PaymentIntents (0 and 2 succeeded).
	var refunds []*stripe.Refund
	for i, pi := range []int{0, 2, 0, 2, 0} {
		w.clock.Store(int64(100 + i))
		re, err := sc.Refunds.New(&stripe.RefundParams{PaymentIntent: stripe.String(w.pis[pi].ID), Amount: stripe.Int64(100)})
		if err != nil {
			t.Fatal(err)
		}
		refunds = append(refunds, re)
	}
	refundIDs := func(idx ...int) []string {
		var out []string
		for _, i := range idx {
			out = append(out, refunds[i].ID)
		}
		return out
	}
	rcases := []struct {
		name   string
		params *stripe.RefundListParams
		want   []string
	}{
		{"all, 2 a page", &stripe.RefundListParams{ListParams: stripe.ListParams{Limit: stripe.Int64(2)}}, refundIDs(4, 3, 2, 1, 0)},
		{"by payment_intent", &stripe.RefundListParams{ListParams: stripe.ListParams{Limit: stripe.Int64(2)},
			PaymentIntent: stripe.String(w.pis[0].ID)}, refundIDs(4, 2, 0)},
		{"by charge", &stripe.RefundListParams{Charge: stripe.String(w.pis[2].LatestCharge.ID)}, refundIDs(3, 1)},
		{"by created", &stripe.RefundListParams{CreatedRange: &stripe.RangeQueryParams{GreaterThanOrEqual: w.base.Unix() + 103}},
			refundIDs(4, 3)},
	}
	for _, tc := range rcases {
		t.Run("refunds "+tc.name, func(t *testing.T) {
			it := sc.Refunds.List(tc.params)
			var got []string
			for it.Next() {
				got = append(got, it.Refund().ID)
			}
			if it.Err() != nil || !equalStrings(got, tc.want) {
				t.Fatalf("got %v (%v)\nwant %v", got, it.Err(), tc.want)
			}
		})
	}

	all := w.f.Events()
	ecases := []struct {
		name   string
		params *stripe.EventListParams
		keep   func(Event) bool
	}{
		{"all, 3 a page", &stripe.EventListParams{ListParams: stripe.ListParams{Limit: stripe.Int64(3)}}, nil},
		{"type wildcard", &stripe.EventListParams{Type: stripe.String("payment_intent.*")},
			func(e Event) bool { return strings.HasPrefix(e.Type, "payment_intent.") }},
		{"exact type", &stripe.EventListParams{Type: stripe.String("charge.refunded")},
			func(e Event) bool { return e.Type == "charge.refunded" }},
		{"types", &stripe.EventListParams{ListParams: stripe.ListParams{Limit: stripe.Int64(2)},
			Types: stripe.StringSlice([]string{"refund.created", "payment_intent.succeeded"})},
			func(e Event) bool { return e.Type == "refund.created" || e.Type == "payment_intent.succeeded" }},
		{"created", &stripe.EventListParams{CreatedRange: &stripe.RangeQueryParams{LesserThan: w.base.Unix() + 2}},
			func(e Event) bool { return e.Created.Unix() < w.base.Unix()+2 }},
	}
	for _, tc := range ecases {
		t.Run("events "+tc.name, func(t *testing.T) {
			var want []string
			for i := len(all) - 1; i >= 0; i-- {
				if tc.keep == nil || tc.keep(all[i]) {
					want = append(want, all[i].ID)
				}
			}
			it := sc.Events.List(tc.params)
			var got []string
			for it.Next() {
				got = append(got, it.Event().ID)
			}
			if it.Err() != nil || !equalStrings(got, want) || len(want) == 0 {
				t.Fatalf("got %v (%v)\nwant %v", got, it.Err(), want)
			}
		})
	}
	ev, err := sc.Events.Get(all[0].ID, nil)
	if err != nil || ev.ID != all[0].ID || ev.Type != stripe.EventType(all[0].Type) {
		t.Fatalf("GET event: %v %+v", err, ev)
	}

	cp := &stripe.ChargeParams{}
	cp.AddExpand("payment_intent")
	ch, err := sc.Charges.Get(w.pis[0].LatestCharge.ID, cp)
	if err != nil || ch.Amount != 1000 || ch.AmountRefunded != 300 || ch.PaymentIntent == nil || ch.PaymentIntent.ID != w.pis[0].ID ||
		ch.PaymentIntent.Status != stripe.PaymentIntentStatusSucceeded || ch.Refunded || ch.Disputed {
		t.Fatalf("GET charge: %v %+v", err, ch)
	}
	_, err = sc.Charges.Get("ch_nope", nil)
	wantErr(t, err, 404, stripe.ErrorTypeInvalidRequest, "resource_missing", "id")
	_, err = sc.Events.Get("evt_nope", nil)
	wantErr(t, err, 404, stripe.ErrorTypeInvalidRequest, "resource_missing", "id")
}

func TestListParameterErrors(t *testing.T) {
	t.Parallel()
	w := newListWorld(t, 2)
	cases := []struct {
		path, query string
		code, param string
	}{
		{"/v1/payment_intents", "limit=0", "parameter_invalid_integer", "limit"},
		{"/v1/payment_intents", "limit=101", "parameter_invalid_integer", "limit"},
		{"/v1/payment_intents", "limit=ten", "parameter_invalid_integer", "limit"},
		{"/v1/payment_intents", "starting_after=" + w.pis[0].ID + "&ending_before=" + w.pis[1].ID, "", "ending_before"},
		{"/v1/payment_intents", "starting_after=pi_nope", "resource_missing", "starting_after"},
		{"/v1/payment_intents", "created[soon]=1", "parameter_unknown", "created[soon]"},
		{"/v1/payment_intents", "created[gte]=yesterday", "parameter_invalid_integer", "created[gte]"},
		{"/v1/payment_intents", "expand[]=data.customer", "", "expand"},
		{"/v1/payment_intents", "colour=blue", "parameter_unknown", "colour"},
		{"/v1/payment_intents/search", "", "parameter_missing", "query"},
		{"/v1/payment_intents/search", "query=status:'succeeded'&page=garbage", "", "page"},
		{"/v1/refunds", "ending_before=re_nope", "resource_missing", "ending_before"},
		{"/v1/events", "type=charge.*&types[]=charge.refunded", "", "types"},
	}
	for _, tc := range cases {
		u := w.f.URL + tc.path + "?" + tc.query
		r := rawDo(t, http.MethodGet, u, "Bearer "+TestAPIKey, url.Values{}, nil)
		e, _ := r.body["error"].(map[string]any)
		code, _ := e["code"].(string)
		if r.status != 400 || code != tc.code || e["param"] != tc.param || e["type"] != "invalid_request_error" {
			t.Errorf("GET %s?%s: %d %v", tc.path, tc.query, r.status, r.body)
		}
	}
}
