package saga

import (
	"bytes"
	"context"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/checkout"
	"github.com/checkout-dev/checkout/internal/events"
	"github.com/checkout-dev/checkout/internal/inventory"
	"github.com/checkout-dev/checkout/internal/metrics"
	"github.com/checkout-dev/checkout/internal/order"
	"github.com/checkout-dev/checkout/internal/payment"
	"github.com/checkout-dev/checkout/internal/postgres"
)

// DefaultReservationTTL is how long stock is held for a checkout.
const DefaultReservationTTL = 15 * time.Minute

// Steps are the saga's step handlers. Each is idempotent: the state machine
// may run a step again after a crash or a retry, and the second run changes
// nothing. Compensations are also safe when their forward step never ran.
type Steps struct {
	Pool           *pgxpool.Pool // for steps whose owners' changes commit together
	Checkouts      *checkout.Store
	Inventory      *inventory.Store
	Payments       *payment.Service
	Orders         *order.Service
	ReservationTTL time.Duration
	Now            func() time.Time
	Log            *slog.Logger
	// Metrics receives CheckoutDuration when a checkout reaches its final
	// status; nil publishes nothing.
	Metrics metrics.Recorder
	// Resumer completes the task of an execution waiting for its customer
	// to authenticate (AwaitAuthentication resumes at once when the
	// gateway decided before the wait began); nil leaves that to the
	// webhook's reconciler.
	Resumer payment.Resumer
}

func (s *Steps) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// recordDuration publishes CheckoutDuration (creation to final status) for
// a checkout that has just reached status. Callers record each checkout
// once: when their step made the final transition, not on a replay.
func (s *Steps) recordDuration(ctx context.Context, c checkout.Checkout, status checkout.Status, code string) {
	if s.Metrics == nil {
		return
	}
	d := max(s.now().Sub(c.CreatedAt), 0) // clock skew between database and Lambda
	props := map[string]any{"checkout_id": c.ID.String(), "checkout_status": status}
	if code != "" {
		props["failure_code"] = code
	}
	s.Metrics.Record(ctx, metrics.Entry{Metrics: []metrics.Metric{metrics.DurationOf(metrics.CheckoutDuration, d)}, Properties: props})
}

func (s *Steps) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// load validates the state and returns the recorded checkout it names.
// Errors: Invalid when a field is malformed, the checkout does not exist, or
// the state's cart is not the recorded one.
func (s *Steps) load(ctx context.Context, st State, wantCart bool) (checkout.Checkout, error) {
	id, err := uuid.Parse(st.CheckoutID)
	if err != nil {
		return checkout.Checkout{}, apperr.InvalidField("checkout_id", "must be a checkout id (UUID)")
	}
	req := checkout.Request{Items: st.Items, Currency: st.Currency, PaymentMethod: st.PaymentMethod}
	if wantCart {
		if err := req.Validate(); err != nil {
			return checkout.Checkout{}, err
		}
	}
	c, err := s.Checkouts.Get(ctx, id)
	if apperr.Is(err, apperr.NotFound) {
		return checkout.Checkout{}, apperr.InvalidField("checkout_id", "no checkout %s", id)
	}
	if err != nil {
		return checkout.Checkout{}, err
	}
	if wantCart {
		if !bytes.Equal(checkout.Fingerprint(req), checkout.Fingerprint(c.Request())) || st.Amount != c.Amount || st.UserID != c.UserID {
			return checkout.Checkout{}, apperr.InvalidField("items", "the state's cart, amount or user does not match checkout %s", id)
		}
	}
	return c, nil
}

// notEnded refuses to start work for a checkout that already ended: an
// execution started by mistake for a failed checkout must not reserve or
// charge.
func notEnded(c checkout.Checkout) error {
	if checkout.IsFinal(c.Status) && c.Status != checkout.StatusCompleted {
		return apperr.InvalidField("checkout_id", "checkout %s is already %s", c.ID, c.Status)
	}
	return nil
}

// ReserveStock holds every line of the checkout until the reservation TTL
// and marks the checkout processing.
// Errors: OutOfStock, InvalidRequest, Transient.
func (s *Steps) ReserveStock(ctx context.Context, st State) (State, error) {
	c, err := s.load(ctx, st, true)
	if err != nil {
		return st, err
	}
	if err := notEnded(c); err != nil {
		return st, err
	}
	ttl := s.ReservationTTL
	if ttl <= 0 {
		ttl = DefaultReservationTTL
	}
	lines := make([]inventory.Line, len(c.Items))
	for i, it := range c.Items {
		lines[i] = inventory.Line{SKU: it.SKU, Quantity: it.Quantity}
	}
	r, err := s.Inventory.Reserve(ctx, c.ID, lines, s.now().Add(ttl))
	if err != nil {
		return st, err
	}
	if err := s.Checkouts.MarkProcessing(ctx, c.ID); err != nil {
		return st, err
	}
	st.Reservation = &Reservation{ExpiresAt: r.ExpiresAt.UTC()}
	return st, nil
}

// ChargePayment authorizes the checkout's amount at most once (the money
// is captured by CapturePayment once the order exists), but only while the
// checkout still holds its stock. Run again after the customer
// authenticated, it records the authorization and moves the checkout back
// to processing.
// Errors: ReservationExpired (checked before any gateway call),
// PaymentDeclined, PaymentFailed, PaymentRequiresAction (the state machine
// waits for the customer: AwaitAuthentication), PaymentPending,
// PaymentGatewayUnavailable, PaymentOutcomeUnknown, StateConflict,
// InvalidRequest.
func (s *Steps) ChargePayment(ctx context.Context, st State) (State, error) {
	c, err := s.load(ctx, st, true)
	if err != nil {
		return st, err
	}
	if err := notEnded(c); err != nil {
		return st, err
	}
	if err := s.ensureHeld(ctx, c.ID); err != nil {
		return st, err
	}
	tx, err := s.Payments.Charge(ctx, c.ID)
	if err != nil {
		return st, err
	}
	if err := s.Checkouts.MarkProcessing(ctx, c.ID); err != nil {
		return st, err
	}
	st.Payment = &Payment{TransactionID: tx.ID, IntentID: tx.ProviderPaymentID, Status: string(tx.Status)}
	return st, nil
}

// CreateOrder makes the order (committing the reservations and completing
// the checkout) and adds the order event to the state for the queues.
// Errors: ReservationExpired, InvalidRequest, Transient.
func (s *Steps) CreateOrder(ctx context.Context, st State) (State, error) {
	c, err := s.load(ctx, st, true)
	if err != nil {
		return st, err
	}
	o, created, err := s.Orders.Create(ctx, c.ID)
	if err != nil {
		return st, err
	}
	if created {
		s.recordDuration(ctx, c, checkout.StatusCompleted, "")
	}
	st.Order = &OrderRef{OrderID: o.ID.String()}
	st.Event = orderEvent(o)
	return st, nil
}

func orderEvent(o order.Order) *events.OrderEvent {
	ev := &events.OrderEvent{
		SchemaVersion: events.SchemaVersion,
		EventID:       events.EventID(o.ID, events.TypeOrderCreated),
		Type:          events.TypeOrderCreated,
		OccurredAt:    o.CreatedAt.UTC(),
		Order: events.Order{OrderID: o.ID.String(), CheckoutID: o.CheckoutID.String(), UserID: o.UserID,
			Amount: o.Amount, Currency: o.Currency},
	}
	for _, it := range o.Items {
		ev.Order.Items = append(ev.Order.Items, events.Item{SKU: it.SKU, Name: it.Name, Quantity: it.Quantity, UnitAmount: it.UnitAmount})
	}
	return ev
}

// ReleaseStock returns the checkout's held units (compensation). Idempotent
// and safe when nothing was reserved.
func (s *Steps) ReleaseStock(ctx context.Context, st State) (State, error) {
	c, err := s.load(ctx, st, false)
	if err != nil {
		return st, err
	}
	released, err := s.Inventory.Release(ctx, c.ID)
	if err != nil {
		return st, err
	}
	st.Release = &Release{Released: released}
	return st, nil
}

// codeOrderExists is the failure code of a compensation that refused to
// give the money back because the checkout's order exists.
const codeOrderExists = "order_exists"

// RefundPayment gives back whatever the checkout's payment took or may
// still take (compensation): it first claims the checkout for compensation
// in the ledger — refusing when an order exists, since then the order's
// step only lost its answer and the money is the order's — and then voids
// the intent or refunds the charge, as the gateway's real status demands.
// Idempotent and safe when nothing was charged.
// Errors: OrderConfirmed (an order exists: nothing was refunded),
// PaymentPending, RefundFailed, PaymentGatewayUnavailable,
// PaymentOutcomeUnknown, Transient.
func (s *Steps) RefundPayment(ctx context.Context, st State) (State, error) {
	c, err := s.load(ctx, st, false)
	if err != nil {
		return st, err
	}
	err = postgres.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		if err := checkout.BeginCompensationTx(ctx, tx, c.ID); err != nil {
			return err
		}
		exists, err := order.ExistsTx(ctx, tx, c.ID)
		if err != nil || !exists {
			return err
		}
		return apperr.E(apperr.State, codeOrderExists,
			"checkout %s has a confirmed order: its payment is not refunded; publish the order's events by hand", c.ID)
	})
	if err != nil {
		return st, err
	}
	r, err := s.Payments.Reverse(ctx, c.ID, payment.OriginCompensation)
	if err != nil {
		return st, err
	}
	st.Refund = &Refund{Refunded: r.Action == payment.ReversalRefunded || r.Action == payment.ReversalRefundPending, Action: r.Action}
	return st, nil
}

// MarkOutcome records the checkout's final status and the failure code
// derived from the caught error. Idempotent.
func (s *Steps) MarkOutcome(ctx context.Context, in Outcome) (Outcome, error) {
	id, err := uuid.Parse(in.CheckoutID)
	if err != nil {
		return in, apperr.InvalidField("checkout_id", "must be a checkout id (UUID)")
	}
	var code, msg string
	switch in.Status {
	case checkout.StatusFailed:
		if in.Error == nil {
			return in, apperr.InvalidField("error", "is required for status failed")
		}
		code, msg = FailureCode(in.Error.Error), causeMessage(in.Error)
	case checkout.StatusNeedsReview:
		code, msg = "compensation_failed", "a compensation failed; the checkout was sent to manual review"
		if in.Error != nil {
			msg += ": " + causeMessage(in.Error)
		}
	default:
		return in, apperr.InvalidField("status", "must be %q or %q", checkout.StatusFailed, checkout.StatusNeedsReview)
	}
	// The status before, to publish CheckoutDuration only for the call that
	// ends the checkout (not a replay, nor failed → needs_review). A read
	// error only skips the metric: Finish reports the real failure.
	var before checkout.Checkout
	wasFinal := true
	if s.Metrics != nil {
		if c, err := s.Checkouts.Get(ctx, id); err == nil {
			before, wasFinal = c, checkout.IsFinal(c.Status)
		}
	}
	if err := s.Checkouts.Finish(ctx, id, checkout.Outcome{Status: in.Status, Code: code, Message: msg}); err != nil {
		return in, err
	}
	if !wasFinal {
		s.recordDuration(ctx, before, in.Status, code)
	}
	return in, nil
}
