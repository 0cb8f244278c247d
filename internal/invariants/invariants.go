// Package invariants proves, from the database and the gateway's own books,
// that the checkout kept its promises: nothing oversold, no checkout
// charged twice, every successful charge ended in exactly one order or in a
// refund, no refund without a charge, no stock left held, every checkout
// final, and every case handed to a person names a real problem.
//
// It only reads: the database checks run in one READ ONLY, REPEATABLE READ
// transaction (a consistent snapshot), and the gateway is only listed. So
// it can run against a live deployment (with a read-only database role and
// a restricted Stripe key that can read PaymentIntents and Refunds).
package invariants

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/payment"
)

// Ledger is the gateway's side of the books (payment.Stripe implements it).
type Ledger interface {
	Ledger(ctx context.Context, since time.Time) ([]payment.Intent, []payment.Refund, error)
}

// Options say what to check.
type Options struct {
	Pool *pgxpool.Pool
	// Gateway, when set, is listed for every PaymentIntent and refund
	// created since Since; nil skips the gateway checks.
	Gateway Ledger
	Since   time.Time
	// InFlightAfter: checkouts created after it may still be running (a
	// live system); zero means every checkout must be final.
	InFlightAfter time.Time
	// HoldGrace is how long past its expiry a hold may stay before the
	// sweeper must have released it; default 2 minutes.
	HoldGrace time.Duration
	// Reviews are the bodies of the manual-review queue's messages, when
	// the caller could read them; each must name a real problem.
	Reviews []string
}

// Count is one figure of the report.
type Count struct {
	Name  string `json:"name"`
	Value int64  `json:"value"`
}

// Violation is one broken promise.
type Violation struct {
	Check   string `json:"check"`
	Subject string `json:"subject"`
	Detail  string `json:"detail"`
}

// Report is what Check found.
type Report struct {
	Counts     []Count     `json:"counts"`
	Checks     []CheckRun  `json:"checks"`
	Violations []Violation `json:"violations"`
}

// CheckRun is one check and how many subjects broke it.
type CheckRun struct {
	Name       string `json:"name"`
	Promise    string `json:"promise"`
	Checked    int    `json:"checked"`
	Violations int    `json:"violations"`
}

// OK reports whether no promise was broken.
func (r Report) OK() bool { return len(r.Violations) == 0 }

// run collects one check's results.
type run struct {
	r   *Report
	idx int
}

func (r *Report) check(name, promise string) *run {
	r.Checks = append(r.Checks, CheckRun{Name: name, Promise: promise})
	return &run{r: r, idx: len(r.Checks) - 1}
}

func (c *run) saw(n int) { c.r.Checks[c.idx].Checked += n }

func (c *run) fail(subject, format string, args ...any) {
	c.r.Checks[c.idx].Violations++
	c.r.Violations = append(c.r.Violations, Violation{Check: c.r.Checks[c.idx].Name, Subject: subject, Detail: fmt.Sprintf(format, args...)})
}

func (r *Report) count(name string, v int64) {
	r.Counts = append(r.Counts, Count{Name: name, Value: v})
}

// Check runs every check and returns the report. An error means a check
// could not run (the database or the gateway failed), not that one failed.
func Check(ctx context.Context, o Options) (Report, error) {
	if o.HoldGrace <= 0 {
		o.HoldGrace = 2 * time.Minute
	}
	var rep Report
	tx, err := o.Pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return rep, fmt.Errorf("invariants: begin: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read only
	db := &snapshot{tx: tx, o: o}
	if err := db.load(ctx); err != nil {
		return rep, err
	}
	db.counts(&rep)
	db.checkFinal(&rep)
	db.checkOrders(&rep)
	if err := db.checkStock(ctx, &rep); err != nil {
		return rep, err
	}
	db.checkLedger(&rep)
	if o.Gateway != nil {
		intents, refunds, err := o.Gateway.Ledger(ctx, o.Since)
		if err != nil {
			return rep, fmt.Errorf("invariants: list the gateway's payments: %w", err)
		}
		db.checkGateway(&rep, intents, refunds)
	}
	if err := db.checkReviews(ctx, &rep); err != nil {
		return rep, err
	}
	return rep, nil
}
