package stripefake

import (
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
	// Now is the clock used for object timestamps and idempotency-key
	// expiry (24h). Default time.Now.
	Now func() time.Time
	// Logger receives one debug line per request. Default: discard.
	Logger *slog.Logger
	// MaxHold caps how long a TimeoutAfterCharge fault without a Delay
	// holds the connection waiting for the client to give up. Default 90s,
	// longer than stripe-go's default 80s HTTP timeout.
	MaxHold time.Duration
}

// Fake is a stateful Stripe API fake; see the package documentation.
// It is an http.Handler and safe for concurrent use.
type Fake struct {
	// URL is the base URL ("http://127.0.0.1:PORT") once served by Start or
	// StartTest; empty otherwise. Set before serving, read-only after.
	URL string

	opts Options
	log  *slog.Logger

	mu          sync.Mutex
	pis         map[string]*paymentIntent
	piOrder     []string
	charges     map[string]*charge
	chargeOrder []string
	refunds     map[string]*refund
	refundOrder []string
	pms         map[string]*paymentMethod
	idem        map[string]*idemEntry
	faults      []*pendingFault
	requests    []RequestRecord

	closing   chan struct{}
	closeOnce sync.Once
}

// New returns an empty Fake.
func New(opts Options) *Fake {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxHold <= 0 {
		opts.MaxHold = 90 * time.Second
	}
	lg := opts.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	f := &Fake{opts: opts, log: lg, closing: make(chan struct{})}
	f.resetLocked()
	return f
}

// Reset forgets every object, stored idempotent response, pending fault and
// logged request. Requests in flight finish against the new, empty state.
func (f *Fake) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resetLocked()
}

func (f *Fake) resetLocked() {
	f.pis = map[string]*paymentIntent{}
	f.piOrder = nil
	f.charges = map[string]*charge{}
	f.chargeOrder = nil
	f.refunds = map[string]*refund{}
	f.refundOrder = nil
	f.pms = map[string]*paymentMethod{}
	f.idem = map[string]*idemEntry{}
	f.faults = nil
	f.requests = nil
}

// Close releases connections held by TimeoutAfterCharge and Latency
// faults. The Fake still serves requests afterwards (without holding).
func (f *Fake) Close() {
	f.closeOnce.Do(func() { close(f.closing) })
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
}

type endpoint func(f *Fake, c *call) (any, *apiError)

// route finds the endpoint for method and path and the id in the path.
func route(method, path string) (endpoint, string) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if len(segs) < 2 || segs[0] != "v1" {
		return nil, ""
	}
	switch {
	case segs[1] == "payment_intents" && len(segs) == 2 && method == http.MethodPost:
		return (*Fake).createPaymentIntent, ""
	case segs[1] == "payment_intents" && len(segs) == 3 && method == http.MethodGet:
		return (*Fake).retrievePaymentIntent, segs[2]
	case segs[1] == "payment_intents" && len(segs) == 4 && method == http.MethodPost:
		switch segs[3] {
		case "confirm":
			return (*Fake).confirmPaymentIntent, segs[2]
		case "capture":
			return (*Fake).capturePaymentIntent, segs[2]
		case "cancel":
			return (*Fake).cancelPaymentIntent, segs[2]
		}
	case segs[1] == "refunds" && len(segs) == 2 && method == http.MethodPost:
		return (*Fake).createRefund, ""
	case segs[1] == "refunds" && len(segs) == 3 && method == http.MethodGet:
		return (*Fake).retrieveRefund, segs[2]
	case segs[1] == "payment_methods" && len(segs) == 3 && method == http.MethodGet:
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
			"idempotency_key", idemKey, "replayed", rec.Replayed, "fault", string(rec.Fault), "request_id", reqID)
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

	fault := f.takeFault(r.Method, r.URL.Path)
	if fault != nil {
		rec.Fault = fault.Kind
		switch fault.Kind {
		case Status500:
			e := &apiError{Type: typeAPI, Message: "An unknown error occurred (injected by stripefake).", status: http.StatusInternalServerError}
			writeResponse(w, errResponse(e))
			finish(e.status)
			return
		case Status429:
			e := invalidRequest(http.StatusTooManyRequests, "rate_limit", "",
				"Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.")
			writeResponse(w, errResponse(e))
			finish(e.status)
			return
		case ConnReset:
			resetConn(w)
			finish(0)
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
			if fault != nil && fault.Kind == Latency && !f.sleep(r, fault.Delay) {
				abortConn(w)
				finish(0)
				return
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

	if fault != nil && fault.Kind == Latency && !f.sleep(r, fault.Delay) {
		// The client gave up before the request "reached" Stripe: nothing done.
		if idem != nil {
			f.idemAbandon(apiKey, idemKey, idem)
		}
		abortConn(w)
		finish(0)
		return
	}

	res := f.execute(ep, r.Method, r.URL.Path, id, vals)
	if idem != nil {
		f.idemFinish(apiKey, idemKey, idem, res, reqID)
	}

	if fault != nil && fault.Kind == TimeoutAfterCharge {
		// The work is done and stored; the client never hears about it.
		hold := fault.Delay
		if hold <= 0 {
			hold = f.opts.MaxHold
		}
		f.sleep(r, hold)
		abortConn(w)
		finish(0)
		return
	}
	writeResponse(w, res)
	finish(res.status)
}

// execute decodes the parameters and runs the endpoint under the state lock.
func (f *Fake) execute(ep endpoint, method, path, id string, vals url.Values) response {
	params, bad := parseForm(vals)
	if bad != "" {
		return errResponse(validationError("", bad, "Invalid value for "+bad+": mixed scalar and nested values"))
	}
	c := &call{method: method, path: path, id: id, params: params, expand: map[string]bool{}}
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
