package stripefake

import (
	"maps"
	"time"
)

// Read-only views of the fake's state for tests. Each returns a snapshot
// (copies), in creation order where it returns a list.

// RequestRecord is one API request as the fake saw it.
type RequestRecord struct {
	Time           time.Time `json:"time"`
	Method         string    `json:"method"`
	Path           string    `json:"path"`
	IdempotencyKey string    `json:"idempotency_key,omitempty"`
	RequestID      string    `json:"request_id"`
	// Status is the HTTP status answered; 0 when the connection was closed
	// without an answer (ConnReset, TimeoutAfterCharge, client gone).
	Status   int       `json:"status"`
	Replayed bool      `json:"replayed,omitempty"` // answered from the idempotency store
	Fault    FaultKind `json:"fault,omitempty"`    // fault applied, if any
	Chaos    bool      `json:"chaos,omitempty"`    // the fault came from chaos mode
}

// PaymentIntent is a snapshot of a PaymentIntent.
type PaymentIntent struct {
	ID                 string
	Amount             int64
	AmountCapturable   int64
	AmountReceived     int64
	Currency           string
	Status             string
	PaymentMethod      string // pm_... id; "" after a decline
	LatestCharge       string
	CaptureMethod      string
	Metadata           map[string]string
	Description        string
	Created            time.Time
	CancellationReason string
	LastErrorCode      string // last_payment_error.code
	LastDeclineCode    string // last_payment_error.decline_code
}

// Charge is a snapshot of a charge (one per confirmation attempt that
// reached the card network).
type Charge struct {
	ID, PaymentIntent, PaymentMethod string
	Amount, AmountCaptured           int64
	// AmountRefunded counts pending and succeeded refunds (and a released
	// authorization); a failed refund no longer counts.
	AmountRefunded           int64
	Currency                 string
	Status                   string // pending | succeeded | failed
	Captured                 bool
	FailureCode, DeclineCode string
	Disputed                 bool
}

// Refund is a snapshot of a refund.
type Refund struct {
	ID, PaymentIntent, Charge string
	Amount                    int64
	Currency                  string
	Status                    string // pending | succeeded | failed
	FailureReason             string
	Reason                    string
	Metadata                  map[string]string
}

// Dispute is a snapshot of a dispute (chargeback).
type Dispute struct {
	ID, Charge, PaymentIntent string
	Amount                    int64
	Currency                  string
	Reason                    string // fraudulent
	Status                    string // needs_response
}

// StoredResponse is the response stored for an idempotency key.
type StoredResponse struct {
	Method, Path string
	InFlight     bool // the first request is still executing
	Status       int
	Body         []byte
	RequestID    string
}

func (pi *paymentIntent) snapshot() PaymentIntent {
	s := PaymentIntent{ID: pi.id, Amount: pi.amount, AmountCapturable: pi.amountCapturable, AmountReceived: pi.amountReceived,
		Currency: pi.currency, Status: pi.status, PaymentMethod: pi.paymentMethod, LatestCharge: pi.latestCharge,
		CaptureMethod: pi.captureMethod, Metadata: maps.Clone(pi.metadata), Created: time.Unix(pi.created, 0),
		CancellationReason: pi.cancellationReason}
	if pi.description != nil {
		s.Description = *pi.description
	}
	if e := pi.lastPaymentError; e != nil {
		s.LastErrorCode, s.LastDeclineCode = e.Code, e.DeclineCode
	}
	return s
}

func (ch *charge) snapshot() Charge {
	return Charge{ID: ch.id, PaymentIntent: ch.paymentIntent, PaymentMethod: ch.paymentMethod, Amount: ch.amount,
		AmountCaptured: ch.amountCaptured, AmountRefunded: ch.amountRefunded, Currency: ch.currency, Status: ch.status,
		Captured: ch.captured, FailureCode: ch.failureCode, DeclineCode: ch.declineCode, Disputed: ch.disputed}
}

func (re *refund) snapshot() Refund {
	return Refund{ID: re.id, PaymentIntent: re.paymentIntent, Charge: re.charge, Amount: re.amount, Currency: re.currency,
		Status: re.status, FailureReason: re.failureReason, Reason: re.reason, Metadata: maps.Clone(re.metadata)}
}

// Disputes lists every dispute.
func (f *Fake) Disputes() []Dispute {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Dispute, 0, len(f.disputeOrder))
	for _, id := range f.disputeOrder {
		dp := f.disputes[id]
		out = append(out, Dispute{ID: dp.id, Charge: dp.charge, PaymentIntent: dp.paymentIntent, Amount: dp.amount,
			Currency: dp.currency, Reason: dp.reason, Status: dp.status})
	}
	return out
}

// PaymentIntents lists every PaymentIntent.
func (f *Fake) PaymentIntents() []PaymentIntent {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]PaymentIntent, 0, len(f.piOrder))
	for _, id := range f.piOrder {
		out = append(out, f.pis[id].snapshot())
	}
	return out
}

// PaymentIntent returns one PaymentIntent by id.
func (f *Fake) PaymentIntent(id string) (PaymentIntent, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	pi, ok := f.pis[id]
	if !ok {
		return PaymentIntent{}, false
	}
	return pi.snapshot(), true
}

// PaymentIntentsByMetadata lists the PaymentIntents whose metadata[key]
// equals value.
func (f *Fake) PaymentIntentsByMetadata(key, value string) []PaymentIntent {
	var out []PaymentIntent
	for _, pi := range f.PaymentIntents() {
		if v, ok := pi.Metadata[key]; ok && v == value {
			out = append(out, pi)
		}
	}
	return out
}

// Charges lists every charge, failed ones included.
func (f *Fake) Charges() []Charge {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Charge, 0, len(f.chargeOrder))
	for _, id := range f.chargeOrder {
		out = append(out, f.charges[id].snapshot())
	}
	return out
}

// SuccessfulCharges lists the charges that moved money: status succeeded
// and captured.
func (f *Fake) SuccessfulCharges() []Charge {
	var out []Charge
	for _, ch := range f.Charges() {
		if ch.Status == "succeeded" && ch.Captured {
			out = append(out, ch)
		}
	}
	return out
}

// AuthorizedCharges lists the charges that took or hold money: status
// succeeded, and captured, or only authorized (capture_method=manual) with
// the authorization not released by a cancel.
func (f *Fake) AuthorizedCharges() []Charge {
	var out []Charge
	for _, ch := range f.Charges() {
		if ch.Status == "succeeded" && (ch.Captured || ch.AmountRefunded < ch.Amount) {
			out = append(out, ch)
		}
	}
	return out
}

// Refunds lists every refund.
func (f *Fake) Refunds() []Refund {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Refund, 0, len(f.refundOrder))
	for _, id := range f.refundOrder {
		out = append(out, f.refunds[id].snapshot())
	}
	return out
}

// RefundsFor lists the refunds of one PaymentIntent.
func (f *Fake) RefundsFor(paymentIntentID string) []Refund {
	var out []Refund
	for _, re := range f.Refunds() {
		if re.PaymentIntent == paymentIntentID {
			out = append(out, re)
		}
	}
	return out
}

// IdempotentResponse returns what is stored for an Idempotency-Key sent
// with apiKey ("" = any API key).
func (f *Fake) IdempotentResponse(apiKey, key string) (StoredResponse, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for mk, e := range f.idem {
		if (apiKey != "" && mk != idemMapKey(apiKey, key)) || (apiKey == "" && !hasSuffixKey(mk, key)) {
			continue
		}
		return StoredResponse{Method: e.method, Path: e.path, InFlight: e.inFlight, Status: e.status,
			Body: append([]byte(nil), e.body...), RequestID: e.requestID}, true
	}
	return StoredResponse{}, false
}

func hasSuffixKey(mk, key string) bool {
	n := len(mk) - len(key) - 1
	return n >= 0 && mk[n] == 0 && mk[n+1:] == key
}

// Requests returns the request log (API requests only, not /_fake).
func (f *Fake) Requests() []RequestRecord {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]RequestRecord(nil), f.requests...)
}
