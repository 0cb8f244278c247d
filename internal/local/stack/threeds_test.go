package stack_test

import (
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/checkout-dev/checkout/internal/local/stack"
	"github.com/checkout-dev/checkout/internal/webhook"
)

// threeDS starts a stack whose fake sends its signed webhooks to the
// stack, as `make dev` does, with a short authentication timeout.
func threeDS(t *testing.T, timeout string) *e2e {
	t.Helper()
	params := maps.Clone(roomy)
	params["AuthenticationTimeoutSeconds"] = timeout
	params["CheckoutReturnUrl"] = "https://shop.example/checkout/done"
	e := startE2E(t, params)
	if err := e.fake.SetWebhookEndpoint(e.stack.APIURL+webhook.Path, stack.DefaultWebhookSecret); err != nil {
		t.Fatal(err)
	}
	e.product("CARD-3DS", 2500, 4)
	return e
}

// requiresAction posts a checkout paid with a card that needs 3-D Secure
// and waits (long-polling, which returns as soon as the customer must
// act) until it shows its next action.
func (e *e2e) requiresAction(token, key string) (id, url string) {
	e.t.Helper()
	r := e.post(token, key, cart("CARD-3DS", 2, "pm_card_authenticationRequired"))
	if r.status != 202 {
		e.t.Fatalf("POST: %d %s", r.status, r.raw)
	}
	id = r.str("checkout_id")
	deadline := time.Now().Add(30 * time.Second)
	for {
		g := e.do("GET", "/v1/checkouts/"+id+"?wait=10", token, e2eAPIKey, nil, "")
		if g.str("status") == "requires_action" {
			na, _ := g.body["next_action"].(map[string]any)
			url, _ = na["url"].(string)
			if na["type"] != "redirect_to_url" || !strings.Contains(url, "/_fake/3ds/pi_") || !strings.HasPrefix(g.str("client_secret"), "pi_") {
				e.t.Fatalf("requires_action body %s; want next_action redirect_to_url to the fake's page and the client_secret", g.raw)
			}
			return id, url
		}
		if time.Now().After(deadline) || g.str("status") == "failed" || g.str("status") == "completed" {
			e.t.Fatalf("checkout %s: %s; want requires_action", id, g.raw)
		}
	}
}

// authenticate clicks the fake's page: outcome succeed or fail. The page
// answers 303 to the shop's return URL, as Stripe does.
func (e *e2e) authenticate(url, outcome string) {
	e.t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(url + "&outcome=" + outcome)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "https://shop.example/checkout/done?") || !strings.Contains(loc, "payment_intent=pi_") {
		e.t.Fatalf("3-D Secure page: %d Location %q; want 303 back to the shop", resp.StatusCode, loc)
	}
}

// TestStackThreeDSecure drives 3-D Secure over HTTP, as a storefront and
// its customer would: the checkout waits in requires_action with the
// redirect URL; completing the authentication ends completed with one
// order and one captured charge, failing it ends
// payment_authentication_failed, and ignoring it ends
// authentication_timeout; in both failures the intent is canceled and the
// stock is back.
func TestStackThreeDSecure(t *testing.T) {
	t.Parallel()
	t.Run("complete", func(t *testing.T) {
		t.Parallel()
		e := threeDS(t, "120")
		alice := e.token("alice", false)
		id, url := e.requiresAction(alice, "3ds-complete")
		if on, res := e.level("CARD-3DS"); on != 4 || res != 2 {
			t.Fatalf("while authenticating: on_hand %d reserved %d; want the 2 units still held", on, res)
		}
		e.authenticate(url, "succeed")
		r := e.wait(alice, id)
		if r.str("status") != "completed" || r.str("order_id") == "" {
			t.Fatalf("after authentication: %s; want completed with an order", r.raw)
		}
		if _, ok := r.body["next_action"]; ok {
			t.Errorf("a completed checkout shows a next action: %s", r.raw)
		}
		if n := e.count(`SELECT count(*) FROM orders WHERE checkout_id = $1`, id); n != 1 {
			t.Errorf("%d orders; want 1", n)
		}
		charges := e.capturedCharges(1)
		if len(charges) != 1 || charges[0].Amount != 5000 || !charges[0].Captured {
			t.Errorf("charges %+v; want one captured charge of 5000", charges)
		}
		if on, res := e.level("CARD-3DS"); on != 2 || res != 0 {
			t.Errorf("on_hand %d reserved %d; want 2 sold", on, res)
		}
	})
	t.Run("fail", func(t *testing.T) {
		t.Parallel()
		e := threeDS(t, "120")
		bob := e.token("bob", false)
		id, url := e.requiresAction(bob, "3ds-fail")
		e.authenticate(url, "fail")
		r := e.wait(bob, id)
		if r.str("status") != "failed" || r.failure() != "payment_authentication_failed" {
			t.Fatalf("after a failed authentication: %s; want failed/payment_authentication_failed", r.raw)
		}
		e.wantUndone(id)
	})
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		e := threeDS(t, "3")
		carol := e.token("carol", false)
		id, _ := e.requiresAction(carol, "3ds-ignored")
		r := e.wait(carol, id)
		if r.str("status") != "failed" || r.failure() != "authentication_timeout" {
			t.Fatalf("after the timeout: %s; want failed/authentication_timeout", r.raw)
		}
		e.wantUndone(id)
	})
}

// wantUndone checks a failed 3-D Secure checkout left nothing behind: the
// intent canceled, no money held or taken, the stock back.
func (e *e2e) wantUndone(id string) {
	e.t.Helper()
	for _, pi := range e.fake.PaymentIntentsByMetadata("checkout_id", id) {
		if pi.Status != "canceled" {
			e.t.Errorf("PaymentIntent %s is %s; want canceled", pi.ID, pi.Status)
		}
	}
	if held := e.fake.AuthorizedCharges(); len(held) != 0 {
		e.t.Errorf("charges holding money %+v; want none", held)
	}
	if on, res := e.level("CARD-3DS"); on != 4 || res != 0 {
		e.t.Errorf("on_hand %d reserved %d; want 4 and 0", on, res)
	}
	if n := e.count(`SELECT count(*) FROM orders WHERE checkout_id = $1`, id); n != 0 {
		e.t.Errorf("%d orders; want 0", n)
	}
}
