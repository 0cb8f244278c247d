package stripefake

import (
	"encoding/json"
	"slices"
	"time"
)

// Event delivery states (Event.State).
const (
	// EventNoEndpoint: no webhook endpoint was configured when the event
	// was created, so it is never sent (as on Stripe, an endpoint only gets
	// the events created while it exists).
	EventNoEndpoint = "no_endpoint"
	// EventPending: a delivery is queued, held, waiting for a retry or in
	// flight.
	EventPending = "pending"
	// EventDelivered: every delivery was answered 2xx.
	EventDelivered = "delivered"
	// EventFailed: a delivery was retried until Options.WebhookMaxAge and
	// given up.
	EventFailed = "failed"
	// EventDropped: a WebhookDrop fault lost it.
	EventDropped = "dropped"
	// EventCanceled: Close ran, or the endpoint was removed, before it was
	// delivered.
	EventCanceled = "canceled"
)

// event is one Stripe Event. Guarded by Fake.mu.
type event struct {
	id, typ        string
	created        int64
	seq            int
	objectID       string          // data.object.id
	object         json.RawMessage // data.object as rendered when the event was created
	prev           map[string]any  // data.previous_attributes (*.updated events)
	reqID, idemKey string          // the API request that caused it; "" for asynchronous changes
	hasEndpoint    bool
	fault          FaultKind
	chaos          bool
	dropped        bool
	outstanding    int // deliveries queued or in flight
	delivered      int
	failed         int
	canceled       int
	attempts       []DeliveryAttempt
}

// Event is a snapshot of one event and its webhook deliveries.
type Event struct {
	ID             string    `json:"id"`
	Type           string    `json:"type"`
	Created        time.Time `json:"created"`
	ObjectID       string    `json:"object_id"` // data.object.id
	RequestID      string    `json:"request_id,omitempty"`
	IdempotencyKey string    `json:"idempotency_key,omitempty"`
	// Fault is the webhook fault applied to its delivery, if any; Chaos
	// tells it came from chaos mode.
	Fault FaultKind `json:"fault,omitempty"`
	Chaos bool      `json:"chaos,omitempty"`
	// State is one of the Event* constants.
	State    string            `json:"state"`
	Attempts []DeliveryAttempt `json:"attempts"`
	// Payload is the event object as GET /v1/events/{id} answers it.
	Payload json.RawMessage `json:"event"`
}

// DeliveryAttempt is one POST of an event to the webhook endpoint.
type DeliveryAttempt struct {
	Time time.Time `json:"time"`
	// Status is the HTTP status the endpoint answered; 0 when it did not
	// (connection error, timeout).
	Status int    `json:"status"`
	Error  string `json:"error,omitempty"`
}

func (ev *event) state() string {
	switch {
	case ev.dropped:
		return EventDropped
	case !ev.hasEndpoint:
		return EventNoEndpoint
	case ev.outstanding > 0:
		return EventPending
	case ev.failed > 0:
		return EventFailed
	case ev.canceled > 0:
		return EventCanceled
	}
	return EventDelivered
}

// pendingWebhooks is Stripe's pending_webhooks: the endpoints that have
// not yet answered 2xx for the event.
func (ev *event) pendingWebhooks() int {
	if ev.hasEndpoint && ev.delivered == 0 {
		return 1
	}
	return 0
}

type eventJSON struct {
	ID              string           `json:"id"`
	Object          string           `json:"object"`
	APIVersion      string           `json:"api_version"`
	Created         int64            `json:"created"`
	Data            eventDataJSON    `json:"data"`
	Livemode        bool             `json:"livemode"`
	PendingWebhooks int              `json:"pending_webhooks"`
	Request         eventRequestJSON `json:"request"`
	Type            string           `json:"type"`
}

type eventDataJSON struct {
	Object             json.RawMessage `json:"object"`
	PreviousAttributes map[string]any  `json:"previous_attributes,omitempty"`
}

type eventRequestJSON struct {
	ID             *string `json:"id"`
	IdempotencyKey *string `json:"idempotency_key"`
}

func (ev *event) render() *eventJSON {
	return &eventJSON{ID: ev.id, Object: "event", APIVersion: APIVersion, Created: ev.created,
		Data:     eventDataJSON{Object: ev.object, PreviousAttributes: ev.prev},
		Livemode: false, PendingWebhooks: ev.pendingWebhooks(),
		Request: eventRequestJSON{ID: strPtr(ev.reqID), IdempotencyKey: strPtr(ev.idemKey)}, Type: ev.typ}
}

// payload is the event JSON as sent to the webhook endpoint.
func (ev *event) payload() []byte {
	b, _ := json.MarshalIndent(ev.render(), "", "  ") // our own types: cannot fail
	return b
}

func (ev *event) snapshot() Event {
	return Event{ID: ev.id, Type: ev.typ, Created: time.Unix(ev.created, 0), ObjectID: ev.objectID,
		RequestID: ev.reqID, IdempotencyKey: ev.idemKey, Fault: ev.fault, Chaos: ev.chaos, State: ev.state(),
		Attempts: slices.Clone(ev.attempts), Payload: ev.payload()}
}

// emitLocked creates an event whose data.object is obj rendered now and
// schedules its delivery. c is the API request that caused the change (nil
// for asynchronous changes). Callers hold f.mu.
func (f *Fake) emitLocked(c *call, typ, objectID string, obj any, prev map[string]any) {
	raw, err := json.Marshal(obj)
	if err != nil { // our own types: cannot happen
		f.log.Error("stripefake: rendering event object", "type", typ, "err", err)
		return
	}
	f.seq++
	ev := &event{id: newID("evt_"), typ: typ, created: f.opts.Now().Unix(), seq: f.seq, objectID: objectID, object: raw, prev: prev}
	if c != nil {
		ev.reqID, ev.idemKey = c.reqID, c.idemKey
	}
	f.events = append(f.events, ev)
	f.eventsByID[ev.id] = ev
	f.scheduleDeliveryLocked(ev)
}

func (f *Fake) emitPI(c *call, typ string, pi *paymentIntent) {
	f.emitLocked(c, typ, pi.id, f.renderPI(pi, nil), nil)
}

func (f *Fake) emitCharge(c *call, typ string, ch *charge) {
	f.emitLocked(c, typ, ch.id, f.renderCharge(ch), nil)
}

func (f *Fake) emitRefund(c *call, typ string, re *refund, prev map[string]any) {
	f.emitLocked(c, typ, re.id, f.renderRefund(re, nil), prev)
}

// Events lists every event in creation order, with its delivery attempts
// and state.
func (f *Fake) Events() []Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Event, 0, len(f.events))
	for _, ev := range f.events {
		out = append(out, ev.snapshot())
	}
	return out
}

// EventsOfType lists the events of one type in creation order.
func (f *Fake) EventsOfType(typ string) []Event {
	var out []Event
	for _, ev := range f.Events() {
		if ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}
