package stripefake

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// APIVersion is the Stripe API version whose object shapes the fake serves
// (the one stripe-go/v76 pins).
const APIVersion = "2023-10-16"

// Options configures a Fake. The zero value is ready to use.
type Options struct {
	// APIKey, when set, is the only secret key accepted. When empty, any
	// test-mode key (sk_test_... or rk_test_...) is accepted.
	APIKey string
	// Now is the clock used for object and event timestamps and
	// idempotency-key expiry (24h). Default time.Now. Delays (faults,
	// AsyncDelay, webhook retries) and webhook signature timestamps always
	// use the real clock.
	Now func() time.Time
	// Logger receives one debug line per request and per webhook delivery
	// attempt. Default: discard.
	Logger *slog.Logger
	// MaxHold caps how long a TimeoutAfterCharge fault without a Delay
	// holds the connection waiting for the client to give up. Default 90s,
	// longer than stripe-go's default 80s HTTP timeout.
	MaxHold time.Duration
	// AsyncDelay is how long the fake's asynchronous transitions take:
	// a refund of pm_card_refundFail failing, a refund of
	// pm_card_pendingRefund succeeding, the dispute of pm_card_createDispute
	// appearing, and (unless the fault has a Delay) a Processing
	// confirmation settling. Default 2s; tests use a few milliseconds.
	AsyncDelay time.Duration
	// WebhookURL and WebhookSecret configure the webhook endpoint events
	// are sent to (see SetWebhookEndpoint); empty URL: none. An empty
	// secret with a URL gets a generated whsec_... secret.
	WebhookURL    string
	WebhookSecret string
	// WebhookMaxAge is how long a failing delivery is retried (exponential
	// backoff from 500ms, capped at 30s) before the event is marked failed.
	// Stripe retries for up to three days; default here 10 minutes.
	WebhookMaxAge time.Duration
	// SearchIndexDelay is how long after its creation a PaymentIntent
	// becomes visible to GET /v1/payment_intents/search. Stripe's search
	// documentation warns that data is usually searchable within a minute
	// and that search must not be used for read-after-write flows; set this
	// to make tests feel that lag. Default 0 (immediately searchable).
	SearchIndexDelay time.Duration
}

// Fake is a stateful Stripe API fake; see the package documentation.
// It is an http.Handler and safe for concurrent use.
type Fake struct {
	// URL is the base URL ("http://127.0.0.1:PORT") once served by Start or
	// StartTest; empty otherwise. Set before serving, read-only after.
	URL string

	opts Options
	log  *slog.Logger

	mu           sync.Mutex
	pis          map[string]*paymentIntent
	piOrder      []string
	charges      map[string]*charge
	chargeOrder  []string
	refunds      map[string]*refund
	refundOrder  []string
	disputes     map[string]*dispute
	disputeOrder []string
	pms          map[string]*paymentMethod
	idem         map[string]*idemEntry
	faults       []*pendingFault
	requests     []RequestRecord
	events       []*event
	eventsByID   map[string]*event
	seq          int    // creation sequence of objects and events (list order tie-break)
	gen          uint64 // bumped by Reset: stale timers and deliveries do nothing
	chaos        *chaosState
	wh           webhookState

	closing     chan struct{}
	closeOnce   sync.Once
	closeCtx    context.Context
	closeCancel context.CancelFunc
}

const defaultAsyncDelay = 2 * time.Second

// New returns an empty Fake.
func New(opts Options) *Fake {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxHold <= 0 {
		opts.MaxHold = 90 * time.Second
	}
	if opts.AsyncDelay <= 0 {
		opts.AsyncDelay = defaultAsyncDelay
	}
	if opts.WebhookMaxAge <= 0 {
		opts.WebhookMaxAge = defaultWebhookMaxAge
	}
	lg := opts.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	f := &Fake{opts: opts, log: lg, closing: make(chan struct{})}
	f.closeCtx, f.closeCancel = context.WithCancel(context.Background())
	f.wh.init()
	if opts.WebhookURL != "" {
		f.wh.url, f.wh.secret = opts.WebhookURL, opts.WebhookSecret
		if f.wh.secret == "" {
			f.wh.secret = newID("whsec_")
		}
	}
	f.resetLocked()
	return f
}

// Reset forgets every object, event, stored idempotent response, pending
// fault, chaos setting, scheduled asynchronous transition, queued webhook
// delivery and logged request. The webhook endpoint is kept. Requests in
// flight finish against the new, empty state.
func (f *Fake) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resetLocked()
}

func (f *Fake) resetLocked() {
	f.gen++
	f.pis = map[string]*paymentIntent{}
	f.piOrder = nil
	f.charges = map[string]*charge{}
	f.chargeOrder = nil
	f.refunds = map[string]*refund{}
	f.refundOrder = nil
	f.disputes = map[string]*dispute{}
	f.disputeOrder = nil
	f.pms = map[string]*paymentMethod{}
	f.idem = map[string]*idemEntry{}
	f.faults = nil
	f.requests = nil
	f.events = nil
	f.eventsByID = map[string]*event{}
	f.chaos = nil
	f.wh.queue = nil
	f.wh.notifyLocked()
}

// Close releases connections held by TimeoutAfterCharge, Latency and Slow
// faults and stops webhook deliveries: queued and future deliveries are
// canceled (in-flight attempts are aborted). The Fake still serves requests
// afterwards (without holding, and without sending webhooks). Close is
// idempotent.
func (f *Fake) Close() {
	f.closeOnce.Do(func() {
		close(f.closing)
		f.closeCancel()
		f.mu.Lock()
		defer f.mu.Unlock()
		f.wh.closed = true
		f.cancelQueuedLocked()
	})
}

const idChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// newID returns prefix followed by 24 random alphanumerics, like Stripe ids.
func newID(prefix string) string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go >= 1.24)
	for i := range b {
		b[i] = idChars[int(b[i])%len(idChars)]
	}
	return prefix + string(b)
}

// response is an answer produced by an endpoint (or the layers before it).
type response struct {
	status  int
	body    []byte
	noStore bool
}

func jsonResponse(status int, v any) response {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil { // cannot happen for our own types; answer like Stripe would
		return response{status: 500, body: []byte(`{"error":{"type":"api_error","message":"internal error encoding response"}}`), noStore: true}
	}
	return response{status: status, body: append(b, '\n')}
}

func errResponse(e *apiError) response {
	r := jsonResponse(e.status, e.envelope())
	r.noStore = e.noStore
	return r
}

func writeResponse(w http.ResponseWriter, r response) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache, no-store")
	w.WriteHeader(r.status)
	_, _ = w.Write(r.body)
}

// call is one decoded API request handed to an endpoint.
type call struct {
	method, path string
	id           string // object id from the path, if any
	params       form
	expand       map[string]bool
	reqID        string // Request-Id of the request (for events' request.id)
	idemKey      string // its Idempotency-Key, if any
	fault        *Fault // API fault applied to the request, if any
	base         string // the fake's own base URL (for hosted pages)
}

// processing returns the request's Processing fault, if any.
func (c *call) processing() *Fault {
	if c != nil && c.fault != nil && c.fault.Kind == Processing {
		return c.fault
	}
	return nil
}

type endpoint func(f *Fake, c *call) (any, *apiError)

// route finds the endpoint for method and path and the id in the path.
func route(method, path string) (endpoint, string) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if len(segs) < 2 || segs[0] != "v1" {
		return nil, ""
	}
	get, post := method == http.MethodGet, method == http.MethodPost
	switch {
	case segs[1] == "payment_intents" && len(segs) == 2 && post:
		return (*Fake).createPaymentIntent, ""
	case segs[1] == "payment_intents" && len(segs) == 2 && get:
		return (*Fake).listPaymentIntents, ""
	case segs[1] == "payment_intents" && len(segs) == 3 && get && segs[2] == "search":
		return (*Fake).searchPaymentIntents, ""
	case segs[1] == "payment_intents" && len(segs) == 3 && get:
		return (*Fake).retrievePaymentIntent, segs[2]
	case segs[1] == "payment_intents" && len(segs) == 4 && post:
		switch segs[3] {
		case "confirm":
			return (*Fake).confirmPaymentIntent, segs[2]
		case "capture":
			return (*Fake).capturePaymentIntent, segs[2]
		case "cancel":
			return (*Fake).cancelPaymentIntent, segs[2]
		}
	case segs[1] == "refunds" && len(segs) == 2 && post:
		return (*Fake).createRefund, ""
	case segs[1] == "refunds" && len(segs) == 2 && get:
		return (*Fake).listRefunds, ""
	case segs[1] == "refunds" && len(segs) == 3 && get:
		return (*Fake).retrieveRefund, segs[2]
	case segs[1] == "charges" && len(segs) == 3 && get:
		return (*Fake).retrieveCharge, segs[2]
	case segs[1] == "events" && len(segs) == 2 && get:
		return (*Fake).listEvents, ""
	case segs[1] == "events" && len(segs) == 3 && get:
		return (*Fake).retrieveEvent, segs[2]
	case segs[1] == "payment_methods" && len(segs) == 3 && get:
		return (*Fake).retrievePaymentMethod, segs[2]
	}
	return nil, ""
}

// ServeHTTP implements the Stripe API subset and the /_fake control
// endpoints.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := newID("req_")
	h := w.Header()
	h.Set("Request-Id", reqID)
	ver := r.Header.Get("Stripe-Version")
	if ver == "" {
		ver = APIVersion
	}
	h.Set("Stripe-Version", ver)

	if strings.HasPrefix(r.URL.Path, "/_fake/") {
		f.serveControl(w, r)
		return
	}

	idemKey := ""
	if r.Method == http.MethodPost {
		idemKey = strings.TrimSpace(r.Header.Get("Idempotency-Key"))
		if idemKey != "" {
			h.Set("Idempotency-Key", idemKey)
		}
	}
	rec := RequestRecord{Time: f.opts.Now(), Method: r.Method, Path: r.URL.Path, IdempotencyKey: idemKey, RequestID: reqID}
	finish := func(status int) {
		rec.Status = status
		f.mu.Lock()
		f.requests = append(f.requests, rec)
		f.mu.Unlock()
		f.log.Debug("stripefake request", "method", rec.Method, "path", rec.Path, "status", status,
			"idempotency_key", idemKey, "replayed", rec.Replayed, "fault", string(rec.Fault), "chaos", rec.Chaos, "request_id", reqID)
	}

	apiKey, authErr := f.authenticate(r)
	if authErr != nil {
		h.Set("Www-Authenticate", `Bearer realm="Stripe"`)
		writeResponse(w, errResponse(authErr))
		finish(authErr.status)
		return
	}

	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		abortConn(w) // the client went away mid-body
		finish(0)
		return
	}
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		e := validationError("", "", "Invalid request body: could not parse form data")
		writeResponse(w, errResponse(e))
		finish(e.status)
		return
	}
	for k, vs := range r.URL.Query() {
		vals[k] = append(vals[k], vs...)
	}

	ep, id := route(r.Method, r.URL.Path)
	if ep == nil {
		e := invalidRequest(http.StatusNotFound, "", "", "Unrecognized request URL ("+r.Method+": "+r.URL.Path+
			"). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.")
		writeResponse(w, errResponse(e))
		finish(e.status)
		return
	}

	fault, chaos := f.takeFault(r.Method, r.URL.Path)
	kind := FaultKind("")
	if fault != nil {
		kind = fault.Kind
		rec.Fault, rec.Chaos = fault.Kind, chaos
		switch fault.Kind {
		case Status500:
			writeResponse(w, internalError())
			finish(http.StatusInternalServerError)
			return
		case Status429:
			e := invalidRequest(http.StatusTooManyRequests, "rate_limit", "",
				"Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.")
			writeResponse(w, errResponse(e))
			finish(e.status)
			return
		case ConnReset:
			finish(0) // logged before the client can see the reset
			resetConn(w)
			return
		}
	}

	// Idempotency layer (POST only, as on Stripe).
	var idem *idemEntry
	if idemKey != "" {
		entry, replay, conflict := f.idemBegin(apiKey, idemKey, fingerprint(r.Method, r.URL.Path, vals))
		switch {
		case conflict != nil:
			writeResponse(w, errResponse(conflict))
			finish(conflict.status)
			return
		case replay != nil:
			switch kind {
			case Latency:
				if !f.sleep(r, fault.Delay) {
					abortConn(w)
					finish(0)
					return
				}
			case Slow:
				f.wait(fault.Delay)
				if r.Context().Err() != nil { // nobody is listening any more
					finish(0)
					return
				}
			}
			rec.Replayed = true
			h.Set("Idempotent-Replayed", "true")
			h.Set("Original-Request", replay.requestID)
			writeResponse(w, response{status: replay.status, body: replay.body})
			finish(replay.status)
			return
		}
		idem = entry
	}

	switch kind {
	case Latency:
		if !f.sleep(r, fault.Delay) {
			// The client gave up before the request "reached" Stripe: nothing done.
			if idem != nil {
				f.idemAbandon(apiKey, idemKey, idem)
			}
			abortConn(w)
			finish(0)
			return
		}
	case Slow:
		// Stripe goes on with a request whose client hung up; the key stays
		// in flight meanwhile (a retry gets 409).
		f.wait(fault.Delay)
	}

	c := &call{method: r.Method, path: r.URL.Path, id: id, reqID: reqID, idemKey: idemKey, fault: fault, base: f.baseURL(r)}
	res := f.execute(ep, c, vals)
	if kind == Status500After {
		// The work is done; the answer (stored for the key) is a 500.
		res = response{status: http.StatusInternalServerError, body: internalError().body, noStore: res.noStore}
	}
	if idem != nil {
		f.idemFinish(apiKey, idemKey, idem, res, reqID)
	}

	switch {
	case kind == TimeoutAfterCharge:
		// The work is done and stored; the client never hears about it.
		hold := fault.Delay
		if hold <= 0 {
			hold = f.opts.MaxHold
		}
		f.sleep(r, hold)
		abortConn(w)
		finish(0)
		return
	case kind == Slow && r.Context().Err() != nil:
		// Executed and stored, but nobody is listening any more.
		finish(0)
		return
	}
	writeResponse(w, res)
	finish(res.status)
}

// internalError is the 500 api_error the Status500 faults answer.
func internalError() response {
	e := &apiError{Type: typeAPI, Message: "An unknown error occurred (injected by stripefake).", status: http.StatusInternalServerError}
	return errResponse(e)
}

// execute decodes the parameters and runs the endpoint under the state lock.
func (f *Fake) execute(ep endpoint, c *call, vals url.Values) response {
	params, bad := parseForm(vals)
	if bad != "" {
		return errResponse(validationError("", bad, "Invalid value for "+bad+": mixed scalar and nested values"))
	}
	c.params, c.expand = params, map[string]bool{}
	for _, e := range params.list("expand") {
		c.expand[e] = true
	}
	f.mu.Lock()
	obj, apiErr := ep(f, c)
	f.mu.Unlock()
	if apiErr != nil {
		return errResponse(apiErr)
	}
	return jsonResponse(http.StatusOK, obj)
}

// baseURL is the fake's base URL: URL when set, else the request's host.
func (f *Fake) baseURL(r *http.Request) string {
	if f.URL != "" {
		return f.URL
	}
	return "http://" + r.Host
}

// sleep waits d unless the client disconnects or the Fake is closed first;
// it reports whether the full delay elapsed.
func (f *Fake) sleep(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	case <-f.closing:
		return false
	}
}

// wait waits d whether or not the client is still there; Close cuts it
// short.
func (f *Fake) wait(d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-f.closing:
	}
}
