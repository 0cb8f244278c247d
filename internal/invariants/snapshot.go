package invariants

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/checkout-dev/checkout/internal/checkout"
	"github.com/checkout-dev/checkout/internal/payment"
)

type checkoutRow struct {
	id                       uuid.UUID
	status                   checkout.Status
	code, message            string
	amount                   int64
	currency                 string
	created                  time.Time
	charge                   *payment.Transaction
	refunds                  []payment.Transaction
	orderID                  *uuid.UUID
	orderAmount              int64
	orderCurrency, orderStat string
}

// returning is what the checkout's refunds gave back or the gateway is
// giving back (pending). A refund only sent (processing) does not count.
func (c *checkoutRow) returning() int64 {
	var n int64
	for _, r := range c.refunds {
		if r.Status == payment.StatusSucceeded || r.Status == payment.StatusPending {
			n += r.Amount
		}
	}
	return n
}

func (c *checkoutRow) refunded() int64 {
	var n int64
	for _, r := range c.refunds {
		if r.Status == payment.StatusSucceeded {
			n += r.Amount
		}
	}
	return n
}

// snapshot is the database as one REPEATABLE READ transaction sees it.
type snapshot struct {
	tx        pgx.Tx
	o         Options
	checkouts map[uuid.UUID]*checkoutRow
	byIntent  map[string]uuid.UUID // recorded charge intent → checkout
	orders    int
	// refusedRefund: checkouts whose refund the gateway reported failed
	// (the bank refused it) and that were handed to a person for it.
	refusedRefund map[uuid.UUID]bool
}

// withPerson reports whether the money a checkout still holds is owed
// because the gateway refused or failed its refund (a closed card, a
// charged-back payment), and a person was asked to act: by reconciliation
// (a refund_failed review) or by the saga (the checkout is needs_review).
func (s *snapshot) withPerson(c *checkoutRow) bool {
	if !s.refusedRefund[c.id] && c.status != checkout.StatusNeedsReview {
		return false
	}
	for _, r := range c.refunds {
		if r.Status == payment.StatusFailed {
			return true
		}
	}
	return false
}

func (s *snapshot) load(ctx context.Context) error {
	s.checkouts, s.byIntent, s.refusedRefund = map[uuid.UUID]*checkoutRow{}, map[string]uuid.UUID{}, map[uuid.UUID]bool{}
	rows, err := s.tx.Query(ctx, `SELECT id, status, coalesce(failure_code, ''), coalesce(failure_message, ''), amount, currency, created_at FROM checkouts`)
	if err != nil {
		return fmt.Errorf("invariants: checkouts: %w", err)
	}
	for rows.Next() {
		c := &checkoutRow{}
		if err := rows.Scan(&c.id, &c.status, &c.code, &c.message, &c.amount, &c.currency, &c.created); err != nil {
			return err
		}
		s.checkouts[c.id] = c
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("invariants: checkouts: %w", err)
	}
	rows, err = s.tx.Query(ctx, `SELECT id, checkout_id, amount, currency, status FROM orders`)
	if err != nil {
		return fmt.Errorf("invariants: orders: %w", err)
	}
	for rows.Next() {
		var id, cid uuid.UUID
		var amount int64
		var currency, status string
		if err := rows.Scan(&id, &cid, &amount, &currency, &status); err != nil {
			return err
		}
		s.orders++
		if c := s.checkouts[cid]; c != nil {
			c.orderID, c.orderAmount, c.orderCurrency, c.orderStat = &id, amount, currency, status
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("invariants: orders: %w", err)
	}
	rows, err = s.tx.Query(ctx, `SELECT id, checkout_id, kind, status, amount, currency, coalesce(provider_payment_id, ''),
		coalesce(provider_refund_id, ''), coalesce(failure_code, ''), attempt, coalesce(origin, '') FROM payment_transactions ORDER BY id`)
	if err != nil {
		return fmt.Errorf("invariants: payments: %w", err)
	}
	for rows.Next() {
		var t payment.Transaction
		var cid uuid.UUID
		if err := rows.Scan(&t.ID, &cid, &t.Kind, &t.Status, &t.Amount, &t.Currency, &t.ProviderPaymentID, &t.ProviderRefundID,
			&t.FailureCode, &t.Attempt, &t.Origin); err != nil {
			return err
		}
		t.CheckoutID = cid.String()
		c := s.checkouts[cid]
		if c == nil {
			continue
		}
		if t.Kind == payment.KindCharge {
			c.charge = &t
			if t.ProviderPaymentID != "" {
				s.byIntent[t.ProviderPaymentID] = cid
			}
		} else {
			c.refunds = append(c.refunds, t)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("invariants: payments: %w", err)
	}
	rows, err = s.tx.Query(ctx, `SELECT DISTINCT checkout_id FROM audit_log WHERE action = 'review_requested' AND detail->>'reason' = 'refund_failed'`)
	if err != nil {
		return fmt.Errorf("invariants: review requests: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	for _, id := range ids {
		s.refusedRefund[id] = true
	}
	return err
}

func (s *snapshot) counts(rep *Report) {
	by := map[checkout.Status]int64{}
	var charged, refunded, voided int64
	for _, c := range s.checkouts {
		by[c.status]++
		if c.charge != nil {
			switch c.charge.Status {
			case payment.StatusSucceeded, payment.StatusRefunded, payment.StatusAuthorized:
				charged++
			case payment.StatusCanceled:
				voided++
			}
		}
		if c.refunded() > 0 {
			refunded++
		}
	}
	rep.count("checkouts", int64(len(s.checkouts)))
	for _, st := range []checkout.Status{checkout.StatusCompleted, checkout.StatusFailed, checkout.StatusNeedsReview} {
		rep.count("  "+string(st), by[st])
	}
	rep.count("  in flight", by[checkout.StatusPending]+by[checkout.StatusProcessing]+by[checkout.StatusRequiresAction])
	rep.count("orders", int64(s.orders))
	var refused int64
	for _, c := range s.checkouts {
		if s.withPerson(c) {
			refused++
		}
	}
	rep.count("charges taken (ledger)", charged)
	rep.count("charges refunded (ledger)", refunded)
	rep.count("payments voided (ledger)", voided)
	rep.count("refunds the bank refused (with a person)", refused)
}

// mustBeFinal reports whether the checkout is old enough to have to be final.
func (s *snapshot) mustBeFinal(c *checkoutRow) bool {
	return s.o.InFlightAfter.IsZero() || c.created.Before(s.o.InFlightAfter)
}

func (s *snapshot) checkFinal(rep *Report) {
	chk := rep.check("checkouts_final", "every checkout ends completed, failed or needs_review")
	for _, c := range s.checkouts {
		if !s.mustBeFinal(c) {
			continue
		}
		chk.saw(1)
		if !checkout.IsFinal(c.status) {
			chk.fail(c.id.String(), "still %s since %s", c.status, c.created.UTC().Format(time.RFC3339))
		}
	}
}

func (s *snapshot) checkOrders(rep *Report) {
	chk := rep.check("one_order_per_completed_checkout", "a completed checkout has exactly one order, for its amount; no other checkout has one")
	for _, c := range s.checkouts {
		chk.saw(1)
		switch {
		case c.status == checkout.StatusCompleted && c.orderID == nil:
			chk.fail(c.id.String(), "completed without an order")
		case c.status != checkout.StatusCompleted && c.orderID != nil:
			chk.fail(c.id.String(), "%s but has order %s", c.status, c.orderID)
		case c.orderID != nil && (c.orderAmount != c.amount || c.orderCurrency != c.currency):
			chk.fail(c.id.String(), "order %s is for %d %s, the checkout for %d %s", c.orderID, c.orderAmount, c.orderCurrency, c.amount, c.currency)
		}
	}
}

// checkLedger checks the money of every final checkout from the ledger.
func (s *snapshot) checkLedger(rep *Report) {
	chk := rep.check("ledger_money_settled", "a completed checkout's charge is taken; a failed one's was never taken, voided or refunded in full")
	for _, c := range s.checkouts {
		if !checkout.IsFinal(c.status) {
			continue
		}
		chk.saw(1)
		ch := c.charge
		if c.status == checkout.StatusCompleted {
			if ch == nil || (ch.Status != payment.StatusSucceeded && ch.Status != payment.StatusAuthorized && ch.Status != payment.StatusRefunded) {
				chk.fail(c.id.String(), "completed, but its charge is %s", statusOf(ch))
			}
			continue
		}
		if ch == nil {
			continue
		}
		switch ch.Status {
		case payment.StatusCanceled, payment.StatusRefunded:
		case payment.StatusSucceeded:
			if c.returning() < ch.Amount && !s.withPerson(c) {
				chk.fail(c.id.String(), "%s without an order, charge succeeded, only %d of %d given back", c.status, c.returning(), ch.Amount)
			}
		default:
			chk.fail(c.id.String(), "%s without an order, but its charge is still %s (intent %s)", c.status, ch.Status, ch.ProviderPaymentID)
		}
	}
	chk = rep.check("refunds_have_charges", "every refund in the ledger belongs to a charge that was taken, and they never exceed it")
	for _, c := range s.checkouts {
		for _, r := range c.refunds {
			chk.saw(1)
			if c.charge == nil || (c.charge.Status != payment.StatusSucceeded && c.charge.Status != payment.StatusRefunded) {
				chk.fail(c.id.String(), "refund %s (%s) but the charge is %s", r.ProviderRefundID, r.Status, statusOf(c.charge))
			}
		}
		if c.charge != nil && c.returning() > c.charge.Amount {
			chk.fail(c.id.String(), "refunds of %d exceed the charge of %d", c.returning(), c.charge.Amount)
		}
	}
}

func statusOf(t *payment.Transaction) string {
	if t == nil {
		return "missing"
	}
	return string(t.Status)
}

// checkReviews checks that every case handed to a person names a real
// problem: the checkouts marked needs_review, the reconciler's review
// requests (audit rows), and the queue's messages when given.
func (s *snapshot) checkReviews(ctx context.Context, rep *Report) error {
	chk := rep.check("reviews_name_real_problems", "every needs_review checkout and manual-review message names a problem that the ledger shows")
	var reviews int64
	for _, c := range s.checkouts {
		if c.status != checkout.StatusNeedsReview {
			continue
		}
		reviews++
		chk.saw(1)
		s.verifyCompensationFailure(chk, c)
	}
	type request struct {
		checkout                    uuid.UUID
		reason, refundID, disputeID string
	}
	rows, err := s.tx.Query(ctx, `SELECT checkout_id, detail->>'reason', coalesce(detail->>'refund_id', ''), coalesce(detail->>'dispute_id', '')
		FROM audit_log WHERE action = 'review_requested' AND checkout_id IS NOT NULL`)
	if err != nil {
		return fmt.Errorf("invariants: review requests: %w", err)
	}
	requests, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (request, error) {
		var q request
		err := r.Scan(&q.checkout, &q.reason, &q.refundID, &q.disputeID)
		return q, err
	})
	if err != nil {
		return fmt.Errorf("invariants: review requests: %w", err)
	}
	for _, q := range requests {
		reviews++
		chk.saw(1)
		s.verifyReason(ctx, chk, q.checkout, q.reason, q.refundID, q.disputeID)
	}
	for _, body := range s.o.Reviews {
		chk.saw(1)
		s.verifyMessage(ctx, chk, body)
	}
	rep.count("cases for a person", reviews)
	return nil
}

// verifyCompensationFailure checks a needs_review checkout's recorded reason.
func (s *snapshot) verifyCompensationFailure(chk *run, c *checkoutRow) {
	switch {
	case strings.TrimSpace(c.message) == "" || c.code == "":
		chk.fail(c.id.String(), "needs_review without a reason")
	case strings.Contains(c.message, "OrderConfirmed") || strings.Contains(c.message, "has a confirmed order"):
		if c.orderID == nil {
			chk.fail(c.id.String(), "review says an order exists, but none does: %s", c.message)
		}
	case c.code == "refund_failed":
		if !s.withPerson(c) {
			chk.fail(c.id.String(), "needs_review for a failed refund, but the ledger holds none: %s", c.message)
		}
	}
}

func (s *snapshot) verifyReason(ctx context.Context, chk *run, cid uuid.UUID, reason, refundID, disputeID string) {
	c := s.checkouts[cid]
	if c == nil {
		chk.fail(cid.String(), "review %s names no existing checkout", reason)
		return
	}
	switch reason {
	case "refund_failed":
		for _, r := range c.refunds {
			if r.Status == payment.StatusFailed && (refundID == "" || r.ProviderRefundID == refundID) {
				return
			}
		}
		chk.fail(cid.String(), "review refund_failed, but no failed refund %s in the ledger", refundID)
	case "dispute_opened":
		var n int
		if err := s.tx.QueryRow(ctx, `SELECT count(*) FROM payment_disputes WHERE id = $1`, disputeID).Scan(&n); err != nil {
			chk.fail(cid.String(), "review dispute_opened: cannot look up dispute %s: %v", disputeID, err)
		} else if n == 0 {
			chk.fail(cid.String(), "review dispute_opened, but no dispute %s is recorded", disputeID)
		}
	case "amount_mismatch":
		// Only the gateway can show it; checkGateway compares amounts.
	default:
		chk.fail(cid.String(), "review with an unknown reason %q", reason)
	}
}

// verifyMessage checks one manual-review queue message.
func (s *snapshot) verifyMessage(ctx context.Context, chk *run, body string) {
	var m struct {
		Type       string `json:"type"`
		CheckoutID string `json:"checkout_id"`
		Detail     struct {
			RefundID  string `json:"refund_id"`
			DisputeID string `json:"dispute_id"`
		} `json:"detail"`
	}
	if err := json.Unmarshal([]byte(body), &m); err != nil || m.Type == "" {
		chk.fail("message", "not a manual-review message: %.200s", body)
		return
	}
	cid, err := uuid.Parse(m.CheckoutID)
	c := s.checkouts[cid]
	if err != nil || c == nil {
		chk.fail("message", "%s names no existing checkout (%q)", m.Type, m.CheckoutID)
		return
	}
	switch m.Type {
	case "compensation_failed":
		// A refund refused because the order exists (its step lost every
		// answer) leaves the checkout completed: the order's events are
		// what the person must send.
		orderKept := c.status == checkout.StatusCompleted && c.orderID != nil && strings.Contains(body, "OrderConfirmed")
		if c.status != checkout.StatusNeedsReview && !orderKept {
			chk.fail(cid.String(), "compensation_failed message, but the checkout is %s", c.status)
		}
	case "publish_failed":
		if c.orderID == nil {
			chk.fail(cid.String(), "publish_failed message, but the checkout has no order")
		}
	case "capture_failed":
		// The order exists and its money was not captured (yet: the
		// reconciliation job may have captured it since).
		if c.orderID == nil {
			chk.fail(cid.String(), "capture_failed message, but the checkout has no order")
		}
	default:
		s.verifyReason(ctx, chk, cid, m.Type, m.Detail.RefundID, m.Detail.DisputeID)
	}
}
