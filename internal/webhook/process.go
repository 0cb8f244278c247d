package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stripe/stripe-go/v76"

	"github.com/checkout-dev/checkout/internal/payment"
	"github.com/checkout-dev/checkout/internal/postgres"
)

// Outcomes of Process.
const (
	OutcomeDuplicate = "duplicate" // the event id was already recorded: nothing done
	OutcomeForwarded = "forwarded" // recorded, and its payment was sent to reconciliation
	OutcomeRecorded  = "recorded"  // recorded; it names no payment to reconcile
)

// Result says what Process did.
type Result struct {
	Outcome  string
	IntentID string // the PaymentIntent the event is about, if any
}

// Forwarder hands a payment to reconciliation (the payment-events queue).
// It must be safe to call more than once for one event: reconciliation
// reads the truth from the gateway, so a repeated notice changes nothing.
type Forwarder interface {
	Forward(ctx context.Context, n payment.Notice) error
}

// object is what the webhook reads of an event's data.object, whatever the
// API version it was rendered with: ids, and a dispute's own fields.
type object struct {
	ID            string          `json:"id"`
	Object        string          `json:"object"`
	PaymentIntent json.RawMessage `json:"payment_intent"` // an id, or an expanded object
	Charge        json.RawMessage `json:"charge"`
	Amount        int64           `json:"amount"`
	Currency      string          `json:"currency"`
	Reason        string          `json:"reason"`
	Status        string          `json:"status"`
}

// intentID returns the PaymentIntent the object is about.
func (o object) intentID() string {
	if o.Object == "payment_intent" {
		return o.ID
	}
	return idOf(o.PaymentIntent)
}

// idOf reads a Stripe reference: "id" or {"id": ...}.
func idOf(raw json.RawMessage) string {
	var id string
	if json.Unmarshal(raw, &id) == nil {
		return id
	}
	var obj struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(raw, &obj)
	return obj.ID
}

// Process handles one verified event. Events are hints, not facts: they
// can arrive twice, late, or out of order, and carry an object as it was
// when the event was made. So the webhook trusts none of their statuses:
// for an event that names a PaymentIntent (payment_intent.*, charge.*,
// refund.*, charge.dispute.*) it sends the intent to reconciliation, which
// retrieves the intent and its refunds from the gateway and acts on their
// real state; a dispute is also recorded at once (disputes are facts the
// gateway does not let us read back cheaply, and finance must see them).
// Then the event id is recorded, so a repeated delivery is a duplicate.
//
// The forward happens before the record: if recording fails, the webhook
// answers 500, Stripe delivers the event again, and it is forwarded again
// (harmless). A payload PostgreSQL's jsonb refuses (a \u0000 in a string)
// is stored with the NUL written out (postgres.JSONB).
func Process(ctx context.Context, pool *pgxpool.Pool, fwd Forwarder, ev stripe.Event, raw []byte) (Result, error) {
	var seen bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM stripe_events WHERE id = $1)`, ev.ID).Scan(&seen); err != nil {
		return Result{}, fmt.Errorf("look up event: %w", err)
	}
	if seen {
		return Result{Outcome: OutcomeDuplicate}, nil
	}
	var obj object
	if ev.Data != nil && len(ev.Data.Raw) > 0 {
		_ = json.Unmarshal(ev.Data.Raw, &obj) // an unreadable object is recorded, not reconciled
	}
	res := Result{Outcome: OutcomeRecorded, IntentID: obj.intentID()}
	isDispute := obj.Object == "dispute" && obj.ID != ""
	if res.IntentID != "" {
		n := payment.Notice{IntentID: res.IntentID, EventID: ev.ID, EventType: string(ev.Type)}
		if isDispute {
			n.DisputeID = obj.ID
		}
		if fwd == nil {
			return Result{}, errors.New("no reconciliation queue configured")
		}
		if err := fwd.Forward(ctx, n); err != nil {
			return Result{}, fmt.Errorf("forward to reconciliation: %w", err)
		}
		res.Outcome = OutcomeForwarded
	}
	payload, ok := postgres.JSONB(raw)
	if !ok {
		return Result{}, errors.New("the event is not JSON")
	}
	err := postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO stripe_events (id, type, payload, api_version) VALUES ($1, $2, $3, nullif($4, ''))
			ON CONFLICT (id) DO NOTHING`, ev.ID, string(ev.Type), payload, ev.APIVersion)
		if err != nil {
			return fmt.Errorf("record event: %w", err)
		}
		if tag.RowsAffected() == 0 || !isDispute {
			return nil
		}
		_, _, err = payment.RecordDisputeTx(ctx, tx, payment.Dispute{ID: obj.ID, PaymentIntent: res.IntentID,
			Charge: idOf(obj.Charge), Amount: obj.Amount, Currency: obj.Currency, Reason: obj.Reason, Status: obj.Status})
		return err
	})
	if err != nil {
		return Result{}, err
	}
	return res, nil
}
