package payment

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/paymentintent"
	"github.com/stripe/stripe-go/v76/refund"

	"github.com/checkout-dev/checkout/internal/apperr"
)

// StripeConfig configures the stripe-go adapter.
type StripeConfig struct {
	SecretKey string
	// URL overrides Stripe's API base URL (the stripefake server, stripe-mock).
	URL string
	// Timeout bounds one HTTP request; default 10 s.
	Timeout time.Duration
	// ReturnURL is where Stripe sends the customer back after 3-D Secure
	// (the confirm's return_url): with it a payment that needs
	// authentication answers a redirect_to_url next action.
	ReturnURL string
}

// Stripe is the Gateway backed by stripe-go/v76 (Stripe API 2023-10-16).
// It uses only the PaymentIntent and Refund clients, not stripe-go's
// catch-all client package, which would link every Stripe resource into
// each Lambda.
type Stripe struct {
	intents   paymentintent.Client
	refunds   refund.Client
	returnURL string
}

// NewStripe returns a Stripe gateway. stripe-go's own network retries are
// off: Service retries with backoff inside the Lambda's remaining time, and
// the state machine retries across invocations.
func NewStripe(cfg StripeConfig) *Stripe {
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	bc := &stripe.BackendConfig{
		// Its own transport: connections are not shared with other clients.
		HTTPClient: &http.Client{Timeout: timeout,
			Transport: tracedTransport{next: http.DefaultTransport.(*http.Transport).Clone()}},
		MaxNetworkRetries: stripe.Int64(0),
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
	}
	if cfg.URL != "" {
		bc.URL = stripe.String(cfg.URL)
	}
	backend := stripe.GetBackendWithConfig(stripe.APIBackend, bc)
	return &Stripe{intents: paymentintent.Client{B: backend, Key: cfg.SecretKey}, refunds: refund.Client{B: backend, Key: cfg.SecretKey},
		returnURL: cfg.ReturnURL}
}

// CreateIntent creates an unconfirmed PaymentIntent. No money moves, so a
// network failure is Transient.
func (s *Stripe) CreateIntent(ctx context.Context, in NewIntent, key string) (Intent, error) {
	p := &stripe.PaymentIntentParams{
		Amount:             stripe.Int64(in.Amount),
		Currency:           stripe.String(strings.ToLower(in.Currency)),
		PaymentMethod:      stripe.String(in.PaymentMethod),
		PaymentMethodTypes: stripe.StringSlice([]string{"card"}),
		Description:        stripe.String("checkout " + in.CheckoutID),
	}
	if in.Manual {
		p.CaptureMethod = stripe.String(string(stripe.PaymentIntentCaptureMethodManual))
	}
	p.AddMetadata("checkout_id", in.CheckoutID)
	p.Context = ctx
	p.SetIdempotencyKey(key)
	pi, err := s.intents.New(p)
	return intentOf(pi, classify(err, false))
}

// ConfirmIntent confirms intentID with paymentMethod: this is the call that
// moves money, so a failure after the request was sent is UnknownOutcome.
func (s *Stripe) ConfirmIntent(ctx context.Context, intentID, paymentMethod, key string) (Intent, error) {
	p := &stripe.PaymentIntentConfirmParams{PaymentMethod: stripe.String(paymentMethod)}
	if s.returnURL != "" {
		p.ReturnURL = stripe.String(s.returnURL)
	}
	p.Context = ctx
	p.SetIdempotencyKey(key)
	pi, err := s.intents.Confirm(intentID, p)
	if se := stripeErr(err); se != nil && se.Type == stripe.ErrorTypeCard && se.PaymentIntent != nil {
		pi = se.PaymentIntent
	}
	if se := stripeErr(err); se != nil && se.Code == stripe.ErrorCodePaymentIntentUnexpectedState {
		// Already confirmed (succeeded, processing, canceled...): the caller
		// retrieves the intent and acts on its real status.
		return Intent{}, &apperr.Error{Kind: apperr.State, Code: "payment_intent_unexpected_state", Message: se.Msg, Err: err}
	}
	return intentOf(pi, classify(err, true))
}

// CaptureIntent captures intentID's authorized amount; a refusal because
// the intent is not capturable is apperr State (payment_intent_unexpected_state).
func (s *Stripe) CaptureIntent(ctx context.Context, intentID, key string) (Intent, error) {
	p := &stripe.PaymentIntentCaptureParams{}
	p.Context = ctx
	p.SetIdempotencyKey(key)
	pi, err := s.intents.Capture(intentID, p)
	if se := stripeErr(err); se != nil && se.Code == stripe.ErrorCodePaymentIntentUnexpectedState {
		return Intent{}, &apperr.Error{Kind: apperr.State, Code: "payment_intent_unexpected_state", Message: se.Msg, Err: err}
	}
	return intentOf(pi, classify(err, true))
}

// GetIntent retrieves intentID; it never changes anything.
func (s *Stripe) GetIntent(ctx context.Context, intentID string) (Intent, error) {
	p := &stripe.PaymentIntentParams{}
	p.Context = ctx
	pi, err := s.intents.Get(intentID, p)
	return intentOf(pi, classify(err, false))
}

// CancelIntent cancels intentID. Stripe refuses to cancel a succeeded
// intent with payment_intent_unexpected_state, reported as apperr State.
func (s *Stripe) CancelIntent(ctx context.Context, intentID, key string) (Intent, error) {
	p := &stripe.PaymentIntentCancelParams{CancellationReason: stripe.String(string(stripe.PaymentIntentCancellationReasonAbandoned))}
	p.Context = ctx
	p.SetIdempotencyKey(key)
	pi, err := s.intents.Cancel(intentID, p)
	if se := stripeErr(err); se != nil && se.Code == stripe.ErrorCodePaymentIntentUnexpectedState {
		return Intent{}, &apperr.Error{Kind: apperr.State, Code: "payment_intent_unexpected_state", Message: se.Msg, Err: err}
	}
	return intentOf(pi, classify(err, true))
}

// Refund refunds amount of intentID; a failure after sending is UnknownOutcome
// (retrying with the same key is then safe: Stripe replays the first answer).
func (s *Stripe) Refund(ctx context.Context, intentID string, amount int64, key string) (Refund, error) {
	p := &stripe.RefundParams{PaymentIntent: stripe.String(intentID), Amount: stripe.Int64(amount)}
	p.Context = ctx
	p.SetIdempotencyKey(key)
	r, err := s.refunds.New(p)
	if se := stripeErr(err); se != nil && se.Code == stripe.ErrorCodeChargeAlreadyRefunded {
		return Refund{}, &apperr.Error{Kind: apperr.State, Code: "charge_already_refunded", Message: se.Msg, Err: err}
	}
	if err := classify(err, true); err != nil {
		return Refund{}, err
	}
	return refundOf(r), nil
}

// ListRefunds returns every refund of intentID (stripe-go's list iterator
// follows the pages).
func (s *Stripe) ListRefunds(ctx context.Context, intentID string) ([]Refund, error) {
	p := &stripe.RefundListParams{PaymentIntent: stripe.String(intentID)}
	p.Context = ctx
	p.Limit = stripe.Int64(100)
	var out []Refund
	it := s.refunds.List(p)
	for it.Next() {
		out = append(out, refundOf(it.Refund()))
	}
	if err := classify(it.Err(), false); err != nil {
		return nil, err
	}
	return out, nil
}

// Ledger is the gateway's side of the books: every PaymentIntent and every
// refund created at or after since (not part of Gateway: reconciliation
// tools and the invariant checker read it, the saga never does).
func (s *Stripe) Ledger(ctx context.Context, since time.Time) ([]Intent, []Refund, error) {
	return s.LedgerBetween(ctx, since, time.Time{})
}

// LedgerBetween is Ledger for the PaymentIntents and refunds created from
// since up to until (zero: no upper bound), both inclusive, to the second.
func (s *Stripe) LedgerBetween(ctx context.Context, since, until time.Time) ([]Intent, []Refund, error) {
	ip := &stripe.PaymentIntentListParams{}
	ip.Context = ctx
	ip.Limit = stripe.Int64(100)
	ip.Filters.AddFilter("created", "gte", strconv.FormatInt(since.Unix(), 10))
	if !until.IsZero() {
		ip.Filters.AddFilter("created", "lte", strconv.FormatInt(until.Unix(), 10))
	}
	var intents []Intent
	it := s.intents.List(ip)
	for it.Next() {
		in, _ := intentOf(it.PaymentIntent(), nil)
		intents = append(intents, in)
	}
	if err := classify(it.Err(), false); err != nil {
		return nil, nil, err
	}
	rp := &stripe.RefundListParams{}
	rp.Context = ctx
	rp.Limit = stripe.Int64(100)
	rp.Filters.AddFilter("created", "gte", strconv.FormatInt(since.Unix(), 10))
	if !until.IsZero() {
		rp.Filters.AddFilter("created", "lte", strconv.FormatInt(until.Unix(), 10))
	}
	var refunds []Refund
	rit := s.refunds.List(rp)
	for rit.Next() {
		refunds = append(refunds, refundOf(rit.Refund()))
	}
	if err := classify(rit.Err(), false); err != nil {
		return nil, nil, err
	}
	return intents, refunds, nil
}

func refundOf(r *stripe.Refund) Refund {
	out := Refund{ID: r.ID, Status: string(r.Status), Amount: r.Amount, Currency: strings.ToUpper(string(r.Currency)),
		FailureReason: string(r.FailureReason)}
	if r.PaymentIntent != nil {
		out.PaymentIntent = r.PaymentIntent.ID
	}
	if r.LastResponse != nil && len(r.LastResponse.RawJSON) > 0 {
		out.Raw = json.RawMessage(r.LastResponse.RawJSON)
	} else if raw, err := json.Marshal(r); err == nil {
		out.Raw = raw
	}
	return out
}

func intentOf(pi *stripe.PaymentIntent, err error) (Intent, error) {
	if pi == nil {
		return Intent{}, err
	}
	in := Intent{ID: pi.ID, Status: string(pi.Status), Amount: pi.Amount, Currency: strings.ToUpper(string(pi.Currency)),
		AmountReceived: pi.AmountReceived, CheckoutID: pi.Metadata["checkout_id"], ClientSecret: pi.ClientSecret}
	if na := pi.NextAction; na != nil && na.RedirectToURL != nil {
		in.NextActionURL = na.RedirectToURL.URL
	}
	if pi.LastPaymentError != nil {
		in.DeclineCode = string(pi.LastPaymentError.DeclineCode)
		in.FailureCode = string(pi.LastPaymentError.Code)
	}
	if pi.LastResponse != nil && len(pi.LastResponse.RawJSON) > 0 {
		in.Raw = json.RawMessage(pi.LastResponse.RawJSON)
	} else if raw, mErr := json.Marshal(pi); mErr == nil {
		in.Raw = raw
	}
	return in, err
}

func stripeErr(err error) *stripe.Error {
	var se *stripe.Error
	if errors.As(err, &se) {
		return se
	}
	return nil
}

// classify gives a stripe-go error its kind. movesMoney marks calls whose
// outcome is unknown when the answer is lost.
func classify(err error, movesMoney bool) error {
	if err == nil {
		return nil
	}
	if se := stripeErr(err); se != nil {
		switch {
		case se.Type == stripe.ErrorTypeCard:
			e := &apperr.Error{Kind: apperr.Declined, Code: CodeDeclined, Message: se.Msg, Err: err,
				Details: map[string]any{"decline_code": string(se.DeclineCode), "stripe_code": string(se.Code)}}
			if se.Code == stripe.ErrorCodeAuthenticationRequired {
				e.Kind, e.Code = apperr.RequiresAction, "requires_action"
			}
			return e
		case se.HTTPStatusCode == http.StatusTooManyRequests:
			return &apperr.Error{Kind: apperr.Unavailable, Code: CodeGatewayUnavailable, Message: "the payment gateway is throttling requests", Err: err}
		case se.HTTPStatusCode == http.StatusConflict:
			return &apperr.Error{Kind: apperr.Transient, Code: CodeGatewayUnavailable, Message: "a request with the same idempotency key is in flight", Err: err}
		case se.HTTPStatusCode >= 500 && movesMoney:
			// Stripe stores a 5xx once the endpoint began executing and
			// replays it for the same key: the money may have moved.
			return &apperr.Error{Kind: apperr.UnknownOutcome, Code: CodeOutcomeUnknown, Message: "the payment gateway failed; the outcome is unknown", Err: err}
		case se.HTTPStatusCode >= 500:
			return &apperr.Error{Kind: apperr.Transient, Code: CodeGatewayUnavailable, Message: "the payment gateway failed", Err: err}
		case se.Type == stripe.ErrorTypeIdempotency || se.HTTPStatusCode == http.StatusUnauthorized || se.HTTPStatusCode == http.StatusForbidden:
			return &apperr.Error{Kind: apperr.Internal, Code: "internal", Message: "payment gateway configuration error", Err: err}
		default:
			return &apperr.Error{Kind: apperr.Invalid, Code: CodeFailed, Field: se.Param, Message: se.Msg, Err: err}
		}
	}
	if neverSent(err) || !movesMoney {
		return &apperr.Error{Kind: apperr.Transient, Code: CodeGatewayUnavailable, Message: "cannot reach the payment gateway", Err: err}
	}
	return &apperr.Error{Kind: apperr.UnknownOutcome, Code: CodeOutcomeUnknown, Message: "the payment gateway did not answer; the outcome is unknown", Err: err}
}

// serverError reports whether err is the gateway's own 5xx answer (which
// Stripe stores for the idempotency key and replays on every retry with it).
func serverError(err error) bool {
	se := stripeErr(err)
	return se != nil && se.HTTPStatusCode >= 500
}

// neverSent reports errors that happen before a request reaches the server:
// a refused connection or a failed DNS lookup.
func neverSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}
