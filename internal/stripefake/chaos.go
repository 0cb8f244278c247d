package stripefake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"path"
	"time"
)

// Chaos configures random faults for torture runs (see [Fake.SetChaos]).
type Chaos struct {
	// Rate is the probability (0..1) that an API request gets one fault,
	// picked uniformly from Kinds.
	Rate float64
	// Kinds are the API fault kinds to pick from. Processing applies only
	// to confirm requests (POST /v1/payment_intents/{id}/confirm); for other
	// requests it is left out of the pick. A chaos Processing fault settles
	// with an outcome drawn at random (succeed or fail, equally likely).
	Kinds []FaultKind
	// WebhookRate is the probability (0..1) that a new event's delivery
	// gets one fault, picked uniformly from WebhookKinds.
	WebhookRate float64
	// WebhookKinds are the webhook fault kinds to pick from.
	WebhookKinds []FaultKind
	// Delay is the Fault.Delay of every chaos fault (Latency, Slow,
	// TimeoutAfterCharge hold, Processing settlement, WebhookDelay,
	// WebhookReorder hold). Default 100ms.
	Delay time.Duration
	// Seed seeds the random sources (PCG; one stream for API requests, one
	// for events): the same seed and the same sequence of requests give the
	// same API faults, and the same sequence of events the same webhook
	// faults.
	Seed int64
}

// defaultChaosDelay is Chaos.Delay when zero.
const defaultChaosDelay = 100 * time.Millisecond

type chaosJSON struct {
	Rate         float64     `json:"rate"`
	Kinds        []FaultKind `json:"kinds"`
	WebhookRate  float64     `json:"webhook_rate"`
	WebhookKinds []FaultKind `json:"webhook_kinds"`
	Delay        string      `json:"delay,omitempty"`
	Seed         int64       `json:"seed"`
}

// MarshalJSON encodes {"rate","kinds","webhook_rate","webhook_kinds",
// "delay","seed"}, delay as a Go duration string.
func (c Chaos) MarshalJSON() ([]byte, error) {
	j := chaosJSON{Rate: c.Rate, Kinds: c.Kinds, WebhookRate: c.WebhookRate, WebhookKinds: c.WebhookKinds, Seed: c.Seed}
	if j.Kinds == nil {
		j.Kinds = []FaultKind{}
	}
	if j.WebhookKinds == nil {
		j.WebhookKinds = []FaultKind{}
	}
	if c.Delay > 0 {
		j.Delay = c.Delay.String()
	}
	return json.Marshal(j)
}

// UnmarshalJSON decodes the form MarshalJSON produces.
func (c *Chaos) UnmarshalJSON(b []byte) error {
	var j chaosJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields() // a misspelt "webhookRate" must not pass silently
	if err := dec.Decode(&j); err != nil {
		return err
	}
	*c = Chaos{Rate: j.Rate, Kinds: j.Kinds, WebhookRate: j.WebhookRate, WebhookKinds: j.WebhookKinds, Seed: j.Seed}
	if j.Delay != "" {
		d, err := time.ParseDuration(j.Delay)
		if err != nil {
			return fmt.Errorf("stripefake: chaos delay %q: %w", j.Delay, err)
		}
		c.Delay = d
	}
	return nil
}

func (c Chaos) validate() error {
	if c.Rate < 0 || c.Rate > 1 || c.WebhookRate < 0 || c.WebhookRate > 1 {
		return errors.New("stripefake: chaos rates must be between 0 and 1")
	}
	if c.Delay < 0 {
		return errors.New("stripefake: negative chaos delay")
	}
	for _, k := range c.Kinds {
		if !k.isAPI() {
			return fmt.Errorf("stripefake: chaos kinds: %q is not an API fault kind", k)
		}
	}
	for _, k := range c.WebhookKinds {
		if !k.isWebhook() {
			return fmt.Errorf("stripefake: chaos webhook_kinds: %q is not a webhook fault kind", k)
		}
	}
	if c.Rate > 0 && len(c.Kinds) == 0 {
		return errors.New("stripefake: chaos rate > 0 needs kinds")
	}
	if c.WebhookRate > 0 && len(c.WebhookKinds) == 0 {
		return errors.New("stripefake: chaos webhook_rate > 0 needs webhook_kinds")
	}
	return nil
}

func (c Chaos) delay() time.Duration {
	if c.Delay > 0 {
		return c.Delay
	}
	return defaultChaosDelay
}

// chaosState is the active chaos configuration and its random sources.
// Separate streams keep the API draws independent of when asynchronous
// transitions create events.
type chaosState struct {
	cfg     Chaos
	api     *rand.Rand // guarded by Fake.mu
	webhook *rand.Rand // guarded by Fake.mu
}

// SetChaos turns chaos mode on: each API request (each new event's
// delivery) independently gets, with probability Rate (WebhookRate), one
// fault picked uniformly from Kinds (WebhookKinds). Queued faults (see
// InjectFault) take precedence: chaos only applies to a request or event no
// queued fault matched. Draws come from a PCG source seeded with Seed and
// guarded by the Fake's lock, so a run is reproducible when its requests
// and events happen in the same order. RequestRecord.Fault and Event.Fault
// show what hit, with Chaos set. SetChaos restarts the random streams. A
// Chaos with both rates 0 turns chaos off.
// It fails for an invalid configuration.
func (f *Fake) SetChaos(c Chaos) error {
	if err := c.validate(); err != nil {
		return err
	}
	c.Kinds = append([]FaultKind(nil), c.Kinds...)
	c.WebhookKinds = append([]FaultKind(nil), c.WebhookKinds...)
	f.mu.Lock()
	defer f.mu.Unlock()
	if c.Rate == 0 && c.WebhookRate == 0 {
		f.chaos = nil
		return nil
	}
	seed := uint64(c.Seed)
	f.chaos = &chaosState{cfg: c,
		api:     rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)),
		webhook: rand.New(rand.NewPCG(seed, 0xd1b54a32d192ed03))}
	return nil
}

// StopChaos turns chaos mode off.
func (f *Fake) StopChaos() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.chaos = nil
}

// ChaosConfig returns the active chaos configuration; ok is false when
// chaos mode is off.
func (f *Fake) ChaosConfig() (c Chaos, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.chaos == nil {
		return Chaos{}, false
	}
	c = f.chaos.cfg
	c.Kinds = append([]FaultKind(nil), c.Kinds...)
	c.WebhookKinds = append([]FaultKind(nil), c.WebhookKinds...)
	return c, true
}

// isConfirmPath reports whether a request confirms a PaymentIntent.
func isConfirmPath(method, p string) bool {
	ok, _ := path.Match("/v1/payment_intents/*/confirm", p)
	return ok && method == "POST"
}

func (f *Fake) chaosAPIFaultLocked(method, p string) *Fault {
	cs := f.chaos
	if cs == nil || cs.cfg.Rate <= 0 {
		return nil
	}
	if cs.api.Float64() >= cs.cfg.Rate {
		return nil
	}
	eligible := make([]FaultKind, 0, len(cs.cfg.Kinds))
	for _, k := range cs.cfg.Kinds {
		if k == Processing && !isConfirmPath(method, p) {
			continue
		}
		eligible = append(eligible, k)
	}
	if len(eligible) == 0 {
		return nil
	}
	ft := &Fault{Kind: eligible[cs.api.IntN(len(eligible))], Times: 1, Delay: cs.cfg.delay()}
	if ft.Kind == Processing {
		ft.Outcome = OutcomeSucceed
		if cs.api.IntN(2) == 1 {
			ft.Outcome = OutcomeFail
		}
	}
	return ft
}

func (f *Fake) chaosWebhookFaultLocked() *Fault {
	cs := f.chaos
	if cs == nil || cs.cfg.WebhookRate <= 0 {
		return nil
	}
	if cs.webhook.Float64() >= cs.cfg.WebhookRate {
		return nil
	}
	k := cs.cfg.WebhookKinds[cs.webhook.IntN(len(cs.cfg.WebhookKinds))]
	return &Fault{Kind: k, Times: 1, Delay: cs.cfg.delay()}
}
