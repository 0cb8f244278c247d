package reconcile

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/checkout-dev/checkout/internal/payment"
)

// GatewayBooks lists the gateway's PaymentIntents and refunds created in
// a time range (payment.Stripe implements it).
type GatewayBooks interface {
	LedgerBetween(ctx context.Context, since, until time.Time) ([]payment.Intent, []payment.Refund, error)
}

// Discrepancy is one place where our ledger and the gateway's books
// disagree.
type Discrepancy struct {
	CheckoutID string `json:"checkout_id,omitempty"`
	IntentID   string `json:"intent_id,omitempty"`
	RefundID   string `json:"refund_id,omitempty"`
	Gateway    string `json:"gateway"` // what the gateway says
	Ledger     string `json:"ledger"`  // what our ledger says
	Detail     string `json:"detail"`
}

// ledgerRow is one payment_transactions row, as Compare reads it.
type ledgerRow struct {
	checkoutID, kind, intent, refund string
	status                           payment.Status
	amount                           int64
	currency                         string
}

// Compare lists every discrepancy between our ledger and the gateway's
// books for the PaymentIntents and refunds created in [since, until]
// (matched to checkouts by their metadata checkout_id): an intent that
// took or holds money that the ledger does not record, a status or amount
// the ledger got wrong, a refund missing on either side, and a ledger
// intent the gateway does not have. It only reads.
//
// An intent of ours that never moved money and that the ledger does not
// record (one abandoned after a 5xx on create) is not a discrepancy.
func (r *Reconciler) Compare(ctx context.Context, books GatewayBooks, since, until time.Time) ([]Discrepancy, error) {
	// The gateway's list is widened a little so that a row written just
	// inside the range finds its intent created just outside it.
	const slack = 5 * time.Minute
	intents, refunds, err := books.LedgerBetween(ctx, since.Add(-slack), until.Add(slack))
	if err != nil {
		return nil, fmt.Errorf("reconcile: list the gateway's payments: %w", err)
	}
	rows, err := r.Pool.Query(ctx, `SELECT checkout_id::text, kind, coalesce(provider_payment_id, ''), coalesce(provider_refund_id, ''),
			status, amount, currency
		FROM payment_transactions WHERE checkout_id IN (
			SELECT checkout_id FROM payment_transactions WHERE created_at BETWEEN $1 AND $2
			UNION SELECT checkout_id FROM payment_transactions WHERE provider_payment_id = ANY($3))`,
		since.Add(-slack), until.Add(slack), intentIDs(intents))
	if err != nil {
		return nil, fmt.Errorf("reconcile: read the ledger: %w", err)
	}
	ledger, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ledgerRow, error) {
		var l ledgerRow
		err := row.Scan(&l.checkoutID, &l.kind, &l.intent, &l.refund, &l.status, &l.amount, &l.currency)
		return l, err
	})
	if err != nil {
		return nil, fmt.Errorf("reconcile: read the ledger: %w", err)
	}
	chargeOf, refundRow := map[string]ledgerRow{}, map[string]ledgerRow{}
	for _, l := range ledger {
		switch {
		case l.kind == payment.KindCharge:
			chargeOf[l.checkoutID] = l
		case l.refund != "":
			refundRow[l.refund] = l
		}
	}
	var out []Discrepancy
	ours := map[string]bool{}
	for _, in := range intents {
		if in.CheckoutID == "" {
			continue // not one of our checkouts'
		}
		ch, ok := chargeOf[in.CheckoutID]
		moved := in.Status == payment.IntentSucceeded || in.Status == payment.IntentRequiresCapture || in.Status == payment.IntentProcessing
		switch {
		case !ok || ch.intent != in.ID:
			if moved {
				d := Discrepancy{CheckoutID: in.CheckoutID, IntentID: in.ID, Gateway: in.Status, Ledger: "no charge",
					Detail: fmt.Sprintf("the gateway holds or took %d %s for the checkout; the ledger does not record this intent", in.Amount, in.Currency)}
				if ok {
					d.Ledger, d.Detail = string(ch.status)+" ("+ch.intent+")", d.Detail+" (it records "+ch.intent+")"
				}
				out = append(out, d)
			}
			continue
		}
		ours[in.ID] = true
		tx := payment.Transaction{CheckoutID: ch.checkoutID, Status: ch.status, Amount: ch.amount, Currency: ch.currency, ProviderPaymentID: ch.intent}
		switch {
		case in.Amount != ch.amount || in.Currency != ch.currency:
			out = append(out, Discrepancy{CheckoutID: in.CheckoutID, IntentID: in.ID, Gateway: fmt.Sprintf("%d %s", in.Amount, in.Currency),
				Ledger: fmt.Sprintf("%d %s", ch.amount, ch.currency), Detail: "the amounts differ"})
		case !payment.Agrees(tx, in):
			out = append(out, Discrepancy{CheckoutID: in.CheckoutID, IntentID: in.ID, Gateway: in.Status, Ledger: string(ch.status),
				Detail: "the ledger is behind the gateway (a lost webhook): reconcile --apply records it"})
		}
	}
	gwRefunds := map[string]bool{}
	for _, rf := range refunds {
		gwRefunds[rf.ID] = true
		row, ok := refundRow[rf.ID]
		switch {
		case !ok && ours[rf.PaymentIntent]:
			out = append(out, Discrepancy{IntentID: rf.PaymentIntent, RefundID: rf.ID, Gateway: fmt.Sprintf("%s %d %s", rf.Status, rf.Amount, rf.Currency),
				Ledger: "no refund", Detail: "a refund at the gateway (made in its dashboard?) is not in the ledger"})
		case ok && !refundAgrees(row.status, rf.Status):
			out = append(out, Discrepancy{CheckoutID: row.checkoutID, IntentID: rf.PaymentIntent, RefundID: rf.ID, Gateway: rf.Status,
				Ledger: string(row.status), Detail: "the refund's status differs"})
		}
	}
	listed := map[string]bool{}
	for _, in := range intents {
		listed[in.ID] = true
	}
	for _, l := range ledger {
		switch {
		case l.kind == payment.KindCharge && l.intent != "" && !listed[l.intent]:
			out = append(out, Discrepancy{CheckoutID: l.checkoutID, IntentID: l.intent, Gateway: "not listed", Ledger: string(l.status),
				Detail: "the ledger records an intent the gateway did not list for this range"})
		case l.kind == payment.KindRefund && l.refund != "" && !gwRefunds[l.refund]:
			out = append(out, Discrepancy{CheckoutID: l.checkoutID, IntentID: l.intent, RefundID: l.refund, Gateway: "not listed",
				Ledger: string(l.status), Detail: "the ledger records a refund the gateway did not list for this range"})
		}
	}
	return out, nil
}

// refundAgrees: the ledger's pending is the gateway's pending or
// requires_action (the customer must give bank details).
func refundAgrees(ledger payment.Status, gateway string) bool {
	return string(ledger) == gateway || (ledger == payment.StatusPending && gateway == payment.RefundRequiresAction)
}

func intentIDs(in []payment.Intent) []string {
	out := make([]string, len(in))
	for i, x := range in {
		out[i] = x.ID
	}
	return out
}
