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

// FaultKind names an injectable failure.
type FaultKind string

const (
	// Latency delays the request by Fault.Delay, then serves it normally.
	// If the client disconnects during the delay the request is dropped
	// unexecuted (it never "reached" Stripe).
	Latency FaultKind = "latency"
	// Status500 answers 500 api_error without doing anything; not stored
	// for idempotency, so a retry with the same key executes.
	Status500 FaultKind = "status_500"
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
)

func (k FaultKind) valid() bool {
	switch k {
	case Latency, Status500, Status429, ConnReset, TimeoutAfterCharge:
		return true
	}
	return false
}

// Fault is one injected failure. Pending faults are consumed in injection
// order: each API request takes one use of the first pending fault whose
// Match accepts it.
type Fault struct {
	Kind FaultKind
	// Times is how many matching requests the fault affects (<= 0 means 1).
	Times int
	// Match selects requests: "[METHOD ]PATH", PATH in path.Match syntax
	// where * matches one path segment, e.g.
	// "POST /v1/payment_intents/*/confirm". Empty matches every /v1 request.
	Match string
	// Delay is the Latency delay, or how long TimeoutAfterCharge holds the
	// connection.
	Delay time.Duration
}

// faultJSON is Fault's wire form on /_fake/faults: delay is a Go duration
// string ("250ms", "2s").
type faultJSON struct {
	Kind  FaultKind `json:"kind"`
	Times int       `json:"times,omitempty"`
	Match string    `json:"match,omitempty"`
	Delay string    `json:"delay,omitempty"`
}

// MarshalJSON encodes the fault as {"kind","times","match","delay"}.
func (f Fault) MarshalJSON() ([]byte, error) {
	j := faultJSON{Kind: f.Kind, Times: f.Times, Match: f.Match}
	if f.Delay > 0 {
		j.Delay = f.Delay.String()
	}
	return json.Marshal(j)
}

// UnmarshalJSON decodes {"kind","times","match","delay"}.
func (f *Fault) UnmarshalJSON(b []byte) error {
	var j faultJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*f = Fault{Kind: j.Kind, Times: j.Times, Match: j.Match}
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
		return fmt.Errorf("stripefake: unknown fault kind %q (want latency, status_500, status_429, conn_reset or timeout_after_charge)", f.Kind)
	}
	if f.Delay < 0 {
		return errors.New("stripefake: negative fault delay")
	}
	if f.Kind == Latency && f.Delay == 0 {
		return errors.New("stripefake: latency fault needs a delay")
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

type pendingFault struct {
	Fault
	left int
}

// InjectFault queues a fault. It fails only for an invalid fault (unknown
// kind, bad Match pattern, Latency without Delay).
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

// ClearFaults drops every pending fault.
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

// takeFault consumes one use of the first pending fault matching the request.
func (f *Fake) takeFault(method, p string) *Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, pf := range f.faults {
		if !pf.matches(method, p) {
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
