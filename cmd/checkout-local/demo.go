package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/internal/app"
	"github.com/checkout-dev/checkout/internal/checkout"
	"github.com/checkout-dev/checkout/internal/inventory"
	"github.com/checkout-dev/checkout/internal/local/devdb"
	"github.com/checkout-dev/checkout/internal/payment"
	"github.com/checkout-dev/checkout/internal/saga"
	"github.com/checkout-dev/checkout/internal/stripefake"
)

// runDemo starts PostgreSQL (and the Stripe fake), then runs demo.
func runDemo() error {
	ctx, stop := signalContext()
	defer stop()
	logf := func(format string, args ...any) { fmt.Printf("• "+format+"\n", args...) }
	db, err := devdb.Open(ctx, os.Getenv("DATABASE_URL"), filepath.Join(envOr("CHECKOUT_DATA_DIR", ".data"), "pg"), logf)
	if err != nil {
		return err
	}
	defer db.Close()
	gw := payment.Gateway(nil)
	if key := os.Getenv("STRIPE_SECRET_KEY"); key != "" {
		logf("payments: Stripe test mode (STRIPE_SECRET_KEY)")
		gw = payment.NewStripe(payment.StripeConfig{SecretKey: key})
	} else {
		fake := stripefake.New(stripefake.Options{})
		url, stopFake, err := fake.Start("127.0.0.1:0")
		if err != nil {
			return err
		}
		defer func() { stopFake(); fake.Close() }()
		logf("payments: Stripe-compatible fake at %s", url)
		gw = payment.NewStripe(payment.StripeConfig{SecretKey: "sk_test_local", URL: url})
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	core := app.NewCore(db.Pool, gw, app.Config{Strategy: inventory.Conditional, ReservationTTL: 15 * time.Minute}, log)
	return demo(ctx, core, os.Stdout)
}

// demo runs two scripted checkouts through the step handlers, exactly as
// the state machine will call them (JSON in, JSON out): one that succeeds,
// and one whose card is declined so the compensation runs.
func demo(ctx context.Context, core *app.Core, out io.Writer) error {
	scripts := []struct {
		title string
		pm    string
	}{
		{"a checkout that succeeds (pm_card_visa)", "pm_card_visa"},
		{"a checkout whose card is declined (pm_card_chargeDeclined)", "pm_card_chargeDeclined"},
	}
	for _, sc := range scripts {
		fmt.Fprintf(out, "\n== %s\n", sc.title)
		req := checkout.Request{Items: []checkout.Item{{SKU: "TEE-BLACK-M", Quantity: 2}, {SKU: "MUG-LOGO", Quantity: 1}},
			Currency: "USD", PaymentMethod: sc.pm}
		c, _, err := core.Checkouts.CreateOrGet(ctx, "demo-user", "demo-"+uuid.NewString(), req)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "checkout %s recorded: %d %s for %d lines\n", c.ID, c.Amount, c.Currency, len(c.Items))
		st := saga.StateFor(c)
		failed := ""
		for _, step := range []saga.Step{saga.FnReserveStock, saga.FnChargePayment, saga.FnCreateOrder} {
			if st, err = invoke(ctx, core, out, step, st); err != nil {
				failed = saga.ErrorName(err)
				break
			}
		}
		if failed != "" {
			if failed != "OutOfStock" && failed != "InvalidRequest" {
				if _, err := invoke(ctx, core, out, saga.FnReleaseStock, st); err != nil {
					return err
				}
			}
			outcome := saga.Outcome{CheckoutID: st.CheckoutID, Status: checkout.StatusFailed, Error: &saga.StepError{Error: failed}}
			if _, err := invoke(ctx, core, out, saga.FnMarkOutcome, outcome); err != nil {
				return err
			}
		}
		final, err := core.Checkouts.Get(ctx, c.ID)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "checkout %s is %s %s\n", final.ID, final.Status, final.FailureCode)
	}
	for _, sku := range []string{"TEE-BLACK-M", "MUG-LOGO"} {
		l, err := core.Inventory.Level(ctx, sku)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "stock %-12s on_hand=%d reserved=%d available=%d\n", sku, l.OnHand, l.Reserved, l.Available)
	}
	return nil
}

// invoke calls one step through its Lambda-shaped handler and prints it.
func invoke[T any](ctx context.Context, core *app.Core, out io.Writer, step saga.Step, in T) (T, error) {
	payload, err := json.Marshal(in)
	if err != nil {
		return in, err
	}
	start := time.Now()
	res, err := core.Steps.Handler(step).Invoke(ctx, payload)
	if err != nil {
		fmt.Fprintf(out, "  %-15s → %s: %v (%s)\n", step, saga.ErrorName(err), err, time.Since(start).Round(time.Millisecond))
		return in, err
	}
	var next T
	if err := json.Unmarshal(res, &next); err != nil {
		return in, err
	}
	fmt.Fprintf(out, "  %-15s → ok (%s) %s\n", step, time.Since(start).Round(time.Millisecond), summary(step, res))
	return next, nil
}

func summary(step saga.Step, res []byte) string {
	var st saga.State
	_ = json.Unmarshal(res, &st)
	switch step {
	case saga.FnReserveStock:
		if st.Reservation != nil {
			return "held until " + st.Reservation.ExpiresAt.Format(time.TimeOnly)
		}
	case saga.FnChargePayment:
		if st.Payment != nil {
			return "payment " + st.Payment.IntentID + " " + st.Payment.Status
		}
	case saga.FnCreateOrder:
		if st.Order != nil {
			return "order " + st.Order.OrderID
		}
	case saga.FnReleaseStock:
		if st.Release != nil {
			return fmt.Sprintf("released=%v", st.Release.Released)
		}
	}
	return ""
}
