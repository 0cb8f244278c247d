package stripefake

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path"
	"strings"
	"time"
)

// FaultKind names an injectable failure. API kinds affect the API request
// they match; webhook kinds (the Webhook* constants) affect the delivery of
// the event whose type they match. An API request never consumes a webhook
// fault and a webhook delivery never consumes an API fault.
type FaultKind string

const (
	// Latency delays the request by Fault.Delay, then serves it normally.
	// If the client disconnects during the delay the request is dropped
	// unexecuted (it never "reached" Stripe). Contrast with Slow.
	Latency FaultKind = "latency"
	// Status500 answers 500 api_error without doing anything: a failure
	// before the endpoint began executing, so (as on Stripe) nothing is
	// stored for the Idempotency-Key and a retry with the same key executes.
	// Contrast with Status500After.
	Status500 FaultKind = "status_500"
	// Status500After executes the request fully (money moves, objects
	// change, events are created), then answers 500 api_error instead of
	// the result, and stores that 500 for the Idempotency-Key: Stripe's API
	// reference says it saves the status code and body of the first request
	// made with a key once the endpoint began executing, "including 500
	// errors", and replays them. A retry with the same key therefore gets
	// the stored 500 again (Idempotent-Replayed: true); only a retrieve (or
	// a list) shows the truth. If the request failed validation (nothing
	// executed) the 500 is answered but not stored.
	Status500After FaultKind = "status_500_after"
	// Status429 answers 429 with code rate_limit without doing anything.
	Status429 FaultKind = "status_429"
	// ConnReset closes the connection with a TCP reset without answering
	// and without doing anything.
	ConnReset FaultKind = "conn_reset"
	// TimeoutAfterCharge executes the request (money moves, the idempotent
	// response is stored), then never answers: it holds the connection for
	// Fault.Delay (0: until the client disconnects, at most Options.MaxHold)
	// and closes it. A retrieve shows the truth; a replay with the same
	// Idempotency-Key returns the stored response.
	TimeoutAfterCharge FaultKind = "timeout_after_charge"
	// Slow waits Fault.Delay, then executes the request whether or not the
	// client is still connected (Stripe keeps processing a request after the
	// client hangs up), stores the result for the Idempotency-Key and
	// answers if the client is still there. During the wait the key is in
	// flight, so a retry with the same key gets 409 idempotency_key_in_use;
	// a retry after the wait gets the stored answer. Contrast with Latency,
	// which drops the request if the client leaves during the delay.
	Slow FaultKind = "slow"
	// Processing applies to a confirmation (POST
	// /v1/payment_intents/{id}/confirm, or a create with confirm=true): the
	// PaymentIntent goes to processing with a pending charge and the answer
	// is 200 with status processing. After Fault.Delay (default
	// Options.AsyncDelay) it settles by itself: with Outcome "succeed" (the
	// default) as the card would have (succeeded, or requires_capture for
	// capture_method=manual; a declining test card still declines), with
	// Outcome "fail" to requires_payment_method with last_payment_error
	// card_declined/generic_decline. Each transition creates its events.
	// While processing, confirm, cancel, capture and refund are refused. A
	// matching request that confirms nothing is served normally (the fault
	// is used up all the same).
	Processing FaultKind = "processing"

	// WebhookDuplicate delivers the matching event twice (same event id),
	// as Stripe's at-least-once delivery may.
	WebhookDuplicate FaultKind = "webhook_duplicate"
	// WebhookDelay delivers the matching event only after Fault.Delay.
	WebhookDelay FaultKind = "webhook_delay"
	// WebhookReorder holds the matching event back and delivers it right
	// after the next event for the same object (same data.object.id), so the
	// receiver sees them out of order, as Stripe does not guarantee order.
	// If no such event comes, it is delivered after Fault.Delay (default 5s).
	WebhookReorder FaultKind = "webhook_reorder"
	// WebhookDrop never delivers the matching event: a lost webhook. The
	// event still exists (GET /v1/events shows it).
	WebhookDrop FaultKind = "webhook_drop"
)

// Outcomes of a Processing fault (Fault.Outcome).
const (
	OutcomeSucceed = "succeed"
	OutcomeFail    = "fail"
)

// apiFaultKinds and webhookFaultKinds list the kinds by what they affect.
var (
	apiFaultKinds     = []FaultKind{Latency, Status500, Status500After, Status429, ConnReset, TimeoutAfterCharge, Slow, Processing}
	webhookFaultKinds = []FaultKind{WebhookDuplicate, WebhookDelay, WebhookReorder, WebhookDrop}
)

func (k FaultKind) valid() bool { return k.isAPI() || k.isWebhook() }

func (k FaultKind) isAPI() bool {
	for _, a := range apiFaultKinds {
		if k == a {
			return true
		}
	}
	return false
}

func (k FaultKind) isWebhook() bool {
	for _, w := range webhookFaultKinds {
		if k == w {
			return true
		}
	}
	return false
}

func (k FaultKind) needsDelay() bool { return k == Latency || k == Slow || k == WebhookDelay }

func kindNames() string {
	var names []string
	for _, k := range append(append([]FaultKind(nil), apiFaultKinds...), webhookFaultKinds...) {
		names = append(names, string(k))
	}
	return strings.Join(names, ", ")
}

// Fault is one injected failure. Pending faults are consumed in injection
// order: each API request takes one use of the first pending API fault whose
// Match accepts it, and each new event takes one use of the first pending
// webhook fault whose Match accepts its type.
type Fault struct {
	Kind FaultKind
	// Times is how many matching requests (events) the fault affects (<= 0
	// means 1).
	Times int
	// Match selects what the fault affects. For API kinds it is
	// "[METHOD ]PATH", PATH in path.Match syntax where * matches one path
	// segment, e.g. "POST /v1/payment_intents/*/confirm"; empty matches
	// every /v1 request. For webhook kinds it is a path.Match glob over the
	// event type, e.g. "payment_intent.*" or "charge.refunded"; empty
	// matches every event.
	Match string
	// Delay is the Latency and Slow delay, how long TimeoutAfterCharge holds
	// the connection, when a Processing confirmation settles (default
	// Options.AsyncDelay), how late WebhookDelay delivers, and the longest
	// WebhookReorder holds an event (default 5s).
	Delay time.Duration
	// Outcome is how a Processing confirmation settles: OutcomeSucceed
	// ("succeed", the default: as the card would) or OutcomeFail ("fail":
	// declined with card_declined/generic_decline). Only for Processing.
	Outcome string
}

// faultJSON is Fault's wire form on /_fake/faults: delay is a Go duration
// string ("250ms", "2s").
type faultJSON struct {
	Kind    FaultKind `json:"kind"`
	Times   int       `json:"times,omitempty"`
	Match   string    `json:"match,omitempty"`
	Delay   string    `json:"delay,omitempty"`
	Outcome string    `json:"outcome,omitempty"`
}

// MarshalJSON encodes the fault as {"kind","times","match","delay","outcome"}.
func (f Fault) MarshalJSON() ([]byte, error) {
	j := faultJSON{Kind: f.Kind, Times: f.Times, Match: f.Match, Outcome: f.Outcome}
	if f.Delay > 0 {
		j.Delay = f.Delay.String()
	}
	return json.Marshal(j)
}

// UnmarshalJSON decodes {"kind","times","match","delay","outcome"}.
func (f *Fault) UnmarshalJSON(b []byte) error {
	var j faultJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*f = Fault{Kind: j.Kind, Times: j.Times, Match: j.Match, Outcome: j.Outcome}
	if j.Delay != "" {
		d, err := time.ParseDuration(j.Delay)
		if err != nil {
			return fmt.Errorf("stripefake: fault delay %q: %w", j.Delay, err)
		}
		f.Delay = d
	}
	return nil
}

func (f Fault) validate() error {
	if !f.Kind.valid() {
		return fmt.Errorf("stripefake: unknown fault kind %q (want one of %s)", f.Kind, kindNames())
	}
	if f.Delay < 0 {
		return errors.New("stripefake: negative fault delay")
	}
	if f.Kind.needsDelay() && f.Delay == 0 {
		return fmt.Errorf("stripefake: %s fault needs a delay", f.Kind)
	}
	switch f.Outcome {
	case "", OutcomeSucceed, OutcomeFail:
	default:
		return fmt.Errorf("stripefake: fault outcome %q (want succeed or fail)", f.Outcome)
	}
	if f.Outcome != "" && f.Kind != Processing {
		return fmt.Errorf("stripefake: outcome applies only to processing faults, not %s", f.Kind)
	}
	if f.Kind.isWebhook() {
		if _, err := path.Match(f.Match, "x"); err != nil {
			return fmt.Errorf("stripefake: fault match %q: %w", f.Match, err)
		}
		return nil
	}
	_, pat := splitMatch(f.Match)
	if _, err := path.Match(pat, "/"); err != nil {
		return fmt.Errorf("stripefake: fault match %q: %w", f.Match, err)
	}
	return nil
}

func splitMatch(m string) (method, pattern string) {
	m = strings.TrimSpace(m)
	if i := strings.IndexByte(m, ' '); i > 0 {
		return strings.ToUpper(m[:i]), strings.TrimSpace(m[i+1:])
	}
	if m != "" && !strings.HasPrefix(m, "/") {
		return strings.ToUpper(m), ""
	}
	return "", m
}

// matches reports whether an API fault applies to a request.
func (f Fault) matches(method, p string) bool {
	m, pat := splitMatch(f.Match)
	if m != "" && m != method {
		return false
	}
	if pat == "" {
		return true
	}
	ok, _ := path.Match(pat, p)
	return ok
}

// matchesEvent reports whether a webhook fault applies to an event type.
func (f Fault) matchesEvent(eventType string) bool {
	if f.Match == "" {
		return true
	}
	ok, _ := path.Match(f.Match, eventType)
	return ok
}

type pendingFault struct {
	Fault
	left int
}

// InjectFault queues a fault. It fails only for an invalid fault (unknown
// kind, bad Match pattern, Latency/Slow/WebhookDelay without Delay, an
// Outcome other than succeed or fail, or an Outcome on a kind other than
// Processing).
func (f *Fake) InjectFault(ft Fault) error {
	if err := ft.validate(); err != nil {
		return err
	}
	n := ft.Times
	if n <= 0 {
		n = 1
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, &pendingFault{Fault: ft, left: n})
	return nil
}

// ClearFaults drops every pending fault (API and webhook).
func (f *Fake) ClearFaults() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = nil
}

// PendingFaults returns the faults not yet used up, Times set to the uses
// left.
func (f *Fake) PendingFaults() []Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Fault, 0, len(f.faults))
	for _, p := range f.faults {
		ft := p.Fault
		ft.Times = p.left
		out = append(out, ft)
	}
	return out
}

// takeFault consumes one use of the first pending API fault matching the
// request; failing that, chaos mode may pick one. chaos reports the latter.
func (f *Fake) takeFault(method, p string) (ft *Fault, chaos bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ft := f.takeQueuedLocked(func(q Fault) bool { return q.Kind.isAPI() && q.matches(method, p) }); ft != nil {
		return ft, false
	}
	if ft := f.chaosAPIFaultLocked(method, p); ft != nil {
		return ft, true
	}
	return nil, false
}

// takeWebhookFaultLocked is takeFault for a new event's delivery.
func (f *Fake) takeWebhookFaultLocked(eventType string) (ft *Fault, chaos bool) {
	if ft := f.takeQueuedLocked(func(q Fault) bool { return q.Kind.isWebhook() && q.matchesEvent(eventType) }); ft != nil {
		return ft, false
	}
	if ft := f.chaosWebhookFaultLocked(); ft != nil {
		return ft, true
	}
	return nil, false
}

func (f *Fake) takeQueuedLocked(match func(Fault) bool) *Fault {
	for i, pf := range f.faults {
		if !match(pf.Fault) {
			continue
		}
		pf.left--
		if pf.left <= 0 {
			f.faults = append(f.faults[:i:i], f.faults[i+1:]...)
		}
		ft := pf.Fault
		return &ft
	}
	return nil
}

// resetConn closes the client connection with a TCP RST, answering nothing.
func resetConn(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // net/http closes the stream silently
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// abortConn closes the client connection without answering.
func abortConn(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // net/http closes the stream silently
	}
	_ = conn.Close()
}
