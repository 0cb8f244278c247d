package stripefake

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Webhook delivery, as Stripe does it: each event is POSTed as JSON to the
// endpoint with a Stripe-Signature header; a non-2xx answer, a redirect, a
// timeout or a connection error is retried with exponential backoff
// (Stripe's webhook documentation: retries for up to three days in live
// mode); Stripe does not guarantee delivery order and may deliver an event
// more than once, which the webhook faults make happen on purpose.

const (
	defaultWebhookMaxAge = 10 * time.Minute
	webhookRetryBase     = 500 * time.Millisecond
	webhookRetryCap      = 30 * time.Second
	webhookTimeout       = 10 * time.Second // per attempt
	defaultReorderHold   = 5 * time.Second
)

// webhookState is the endpoint and the delivery queue. Guarded by Fake.mu.
type webhookState struct {
	url, secret string
	queue       []*delivery
	seq         uint64
	dispatching bool // a dispatch goroutine is running
	inFlight    int  // attempts being made
	async       int  // scheduled asynchronous transitions (they create events)
	closed      bool
	changed     chan struct{} // closed and replaced on every change (WaitWebhooksIdle)
	wake        chan struct{} // wakes a sleeping dispatcher
}

func (w *webhookState) init() {
	w.changed = make(chan struct{})
	w.wake = make(chan struct{}, 1)
}

func (w *webhookState) notifyLocked() {
	close(w.changed)
	w.changed = make(chan struct{})
}

// delivery is one queued POST of an event.
type delivery struct {
	ev      *event
	gen     uint64
	seq     uint64    // order among deliveries due at the same time
	due     time.Time // real time
	first   time.Time // when it was first queued (WebhookMaxAge)
	attempt int       // failed attempts so far
	heldFor string    // object id while held back by WebhookReorder
}

// SetWebhookEndpoint sets the endpoint every new event is sent to;
// deliveries already queued (retries included) go to the new endpoint,
// signed with the new secret. An empty url removes it (queued deliveries
// are then canceled, as Stripe stops retrying for a deleted endpoint). An empty secret gets a generated
// whsec_... secret (see WebhookEndpoint). Events created while no endpoint
// exists are never sent. It fails for a url that is not absolute http(s).
func (f *Fake) SetWebhookEndpoint(endpointURL, secret string) error {
	if endpointURL != "" {
		u, err := url.Parse(endpointURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("stripefake: webhook url %q is not an absolute http(s) URL", endpointURL)
		}
		if secret == "" {
			secret = newID("whsec_")
		}
	} else {
		secret = ""
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.wh.url, f.wh.secret = endpointURL, secret
	if endpointURL == "" {
		f.cancelQueuedLocked()
	}
	return nil
}

// WebhookEndpoint returns the configured endpoint URL and signing secret
// ("" when none).
func (f *Fake) WebhookEndpoint() (endpointURL, secret string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.wh.url, f.wh.secret
}

// WaitWebhooksIdle returns nil once no webhook delivery is queued, held or
// in flight and no asynchronous transition (a Processing settlement, a
// test card's refund update or dispute) is scheduled, i.e. once no further
// event can be sent without a new request; or ctx's error. Deliveries
// waiting for a retry count as pending.
func (f *Fake) WaitWebhooksIdle(ctx context.Context) error {
	for {
		f.mu.Lock()
		idle := len(f.wh.queue) == 0 && f.wh.inFlight == 0 && f.wh.async == 0
		ch := f.wh.changed
		f.mu.Unlock()
		if idle {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// scheduleDeliveryLocked queues a new event for delivery, applying a
// webhook fault if one matches.
func (f *Fake) scheduleDeliveryLocked(ev *event) {
	if f.wh.url == "" {
		return
	}
	ev.hasEndpoint = true
	if f.wh.closed {
		ev.canceled++
		return
	}
	now := time.Now()
	d := &delivery{ev: ev, gen: f.gen, due: now, first: now}
	ft, chaos := f.takeWebhookFaultLocked(ev.typ)
	kind := FaultKind("")
	if ft != nil {
		kind, ev.fault, ev.chaos = ft.Kind, ft.Kind, chaos
	}
	switch kind {
	case WebhookDrop:
		ev.dropped = true
		f.releaseHeldLocked(ev.objectID, nil, now)
		f.kickLocked()
		return
	case WebhookDelay:
		d.due = now.Add(ft.Delay)
	case WebhookReorder:
		hold := ft.Delay
		if hold <= 0 {
			hold = defaultReorderHold
		}
		d.due, d.heldFor = now.Add(hold), ev.objectID
		f.enqueueLocked(d)
		f.kickLocked()
		return
	}
	f.enqueueLocked(d)
	if kind == WebhookDuplicate {
		dup := *d
		f.enqueueLocked(&dup)
	}
	f.releaseHeldLocked(ev.objectID, d, now)
	f.kickLocked()
}

func (f *Fake) enqueueLocked(d *delivery) {
	f.wh.seq++
	d.seq = f.wh.seq
	d.ev.outstanding++
	f.wh.queue = append(f.wh.queue, d)
	f.wh.notifyLocked()
}

// releaseHeldLocked schedules the deliveries WebhookReorder held back for
// objectID right after `after` (or now when after is nil).
func (f *Fake) releaseHeldLocked(objectID string, after *delivery, now time.Time) {
	for _, q := range f.wh.queue {
		if q.heldFor == "" || q.heldFor != objectID {
			continue
		}
		q.heldFor = ""
		q.due = now
		if after != nil {
			q.due = after.due
		}
		f.wh.seq++
		q.seq = f.wh.seq
	}
}

// cancelQueuedLocked cancels every queued delivery (Close, endpoint removed).
func (f *Fake) cancelQueuedLocked() {
	for _, d := range f.wh.queue {
		d.ev.outstanding--
		d.ev.canceled++
	}
	f.wh.queue = nil
	f.wh.notifyLocked()
}

// kickLocked makes sure a dispatcher runs and notices new work.
func (f *Fake) kickLocked() {
	if f.wh.dispatching {
		select {
		case f.wh.wake <- struct{}{}:
		default:
		}
		return
	}
	if len(f.wh.queue) == 0 || f.wh.closed {
		return
	}
	f.wh.dispatching = true
	go f.dispatch()
}

// dispatch delivers queued events one at a time in (due, seq) order until
// the queue is empty, then exits. It never holds f.mu during a POST.
func (f *Fake) dispatch() {
	for {
		f.mu.Lock()
		if f.wh.closed || len(f.wh.queue) == 0 {
			f.wh.dispatching = false
			f.wh.notifyLocked()
			f.mu.Unlock()
			return
		}
		i := 0
		for j, q := range f.wh.queue {
			if q.due.Before(f.wh.queue[i].due) || (q.due.Equal(f.wh.queue[i].due) && q.seq < f.wh.queue[i].seq) {
				i = j
			}
		}
		d := f.wh.queue[i]
		if wait := time.Until(d.due); wait > 0 {
			f.mu.Unlock()
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-f.wh.wake:
			case <-f.closing:
			}
			t.Stop()
			continue
		}
		f.wh.queue = append(f.wh.queue[:i:i], f.wh.queue[i+1:]...)
		endpoint, secret := f.wh.url, f.wh.secret
		payload := d.ev.payload()
		f.wh.inFlight++
		f.mu.Unlock()

		at := time.Now()
		status, err := f.post(endpoint, secret, payload)
		f.log.Debug("stripefake webhook", "event", d.ev.id, "type", d.ev.typ, "url", endpoint, "status", status, "err", err)

		f.mu.Lock()
		f.wh.inFlight--
		f.recordAttemptLocked(d, at, status, err)
		f.wh.notifyLocked()
		f.mu.Unlock()
	}
}

// recordAttemptLocked logs an attempt and requeues the delivery with
// backoff if it failed and may still be retried.
func (f *Fake) recordAttemptLocked(d *delivery, at time.Time, status int, err error) {
	ev := d.ev
	a := DeliveryAttempt{Time: at, Status: status}
	if err != nil {
		a.Error = err.Error()
	} else if status/100 != 2 {
		a.Error = "non-2xx answer"
	}
	ev.attempts = append(ev.attempts, a)
	if d.gen != f.gen { // Reset ran meanwhile
		return
	}
	switch {
	case err == nil && status/100 == 2:
		ev.outstanding--
		ev.delivered++
		return
	case f.wh.closed || f.wh.url == "":
		ev.outstanding--
		ev.canceled++
		return
	}
	d.attempt++
	backoff := webhookRetryCap
	if d.attempt < 16 {
		backoff = min(webhookRetryBase<<(d.attempt-1), webhookRetryCap)
	}
	if time.Since(d.first)+backoff > f.opts.WebhookMaxAge {
		ev.outstanding--
		ev.failed++
		return
	}
	d.due = time.Now().Add(backoff)
	f.wh.seq++
	d.seq = f.wh.seq
	f.wh.queue = append(f.wh.queue, d)
}

var webhookClient = &http.Client{
	// Stripe treats a redirect as a failed delivery.
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// post sends one signed delivery; Close aborts it.
func (f *Fake) post(endpoint, secret string, payload []byte) (int, error) {
	if endpoint == "" {
		return 0, errors.New("no webhook endpoint")
	}
	ctx, cancel := context.WithTimeout(f.closeCtx, webhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(payload))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
	req.Header.Set("Stripe-Signature", signatureHeader(payload, secret, time.Now()))
	resp, err := webhookClient.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// signatureHeader is Stripe's Stripe-Signature header: t=<unix seconds>,
// v1=<hex HMAC-SHA256 of "<t>.<payload>" keyed with the endpoint secret>,
// which stripe-go's webhook.ConstructEvent verifies. Each attempt is signed
// afresh with the current time (ConstructEvent rejects signatures older
// than 5 minutes).
func signatureHeader(payload []byte, secret string, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts))
	mac.Write([]byte("."))
	mac.Write(payload)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}
