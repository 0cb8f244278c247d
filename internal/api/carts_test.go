package api

import (
	"context"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/uuid"

	cartstore "github.com/checkout-dev/checkout/internal/cart"
	"github.com/checkout-dev/checkout/internal/redistest"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

// cartEnv is localEnv with carts on a Redis of the test's own.
func cartEnv(t *testing.T) *env {
	t.Helper()
	e := localEnv(t)
	rdb, prefix := redistest.ClientOn(t, redistest.StartPrivate(t, redistest.Options{}))
	d := e.h.d
	d.Carts = cartstore.New(rdb, cartstore.Options{Prefix: prefix, TTL: time.Hour})
	d.CartLinks = rdb
	e.h = New(d)
	return e
}

func putItem(user, id, sku, body string) events.APIGatewayProxyRequest {
	return newReq("PUT", "/v1/carts/"+id+"/items/"+sku, asUser(user), jsonBody(body))
}

func TestCarts(t *testing.T) {
	t.Parallel()
	e := cartEnv(t)
	resp := do(t, e.h, newReq("POST", "/v1/carts", asUser("ann")))
	if resp.StatusCode != http.StatusCreated || resp.Headers["Location"] == "" {
		t.Fatalf("create: %d %v %s", resp.StatusCode, resp.Headers, resp.Body)
	}
	c := decode[CartBody](t, resp)
	if c.CartID == "" || time.Until(c.ExpiresAt) < 50*time.Minute || len(c.Lines) != 0 {
		t.Fatalf("new cart %+v", c)
	}
	// Two lines, priced from the catalog now.
	do(t, e.h, putItem("ann", c.CartID, "TEE-1", `{"quantity":2}`))
	resp = do(t, e.h, putItem("ann", c.CartID, "MUG-1", `{"quantity":1}`))
	got := decode[CartBody](t, resp)
	if resp.StatusCode != 200 || len(got.Lines) != 2 || got.Total != 2*1999+1250 || got.Currency != "USD" || got.Lines[1].Amount != 2*1999 {
		t.Fatalf("cart %d %+v", resp.StatusCode, got)
	}
	lines := func() CartBody { // the cart without its expiry, which moves with the clock
		b := decode[CartBody](t, do(t, e.h, newReq("GET", "/v1/carts/"+c.CartID, asUser("ann"))))
		b.ExpiresAt = time.Time{}
		return b
	}
	before := lines()
	for _, tc := range []struct {
		name   string
		req    events.APIGatewayProxyRequest
		status int
		code   string
	}{
		{"unknown SKU", putItem("ann", c.CartID, "NOPE-1", `{"quantity":1}`), 400, "invalid_request"},
		{"another currency", putItem("ann", c.CartID, "EUR-1", `{"quantity":1}`), 400, "invalid_request"},
		{"too many", putItem("ann", c.CartID, "TEE-1", `{"quantity":1001}`), 400, "invalid_request"},
		{"negative", putItem("ann", c.CartID, "TEE-1", `{"quantity":-1}`), 400, "invalid_request"},
		{"no quantity", putItem("ann", c.CartID, "TEE-1", `{}`), 400, "invalid_request"},
		{"bad JSON", putItem("ann", c.CartID, "TEE-1", `{"quantity":`), 400, "invalid_request"},
		{"malformed cart id", putItem("ann", "not-a-cart", "TEE-1", `{"quantity":1}`), 400, "invalid_request"},
		{"another user's cart", putItem("bob", c.CartID, "TEE-1", `{"quantity":1}`), 404, "not_found"},
		{"another user reads it", newReq("GET", "/v1/carts/"+c.CartID, asUser("bob")), 404, "not_found"},
		{"another user deletes it", newReq("DELETE", "/v1/carts/"+c.CartID, asUser("bob")), 404, "not_found"},
		{"anonymous", newReq("POST", "/v1/carts"), 401, "unauthorized"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, do(t, e.h, tc.req), tc.status, tc.code)
		})
	}
	if after := lines(); !reflect.DeepEqual(after, before) {
		t.Fatalf("bad input changed the cart:\n%+v\n%+v", before, after)
	}
	// 0 removes a line.
	if got := decode[CartBody](t, do(t, e.h, putItem("ann", c.CartID, "MUG-1", `{"quantity":0}`))); len(got.Lines) != 1 || got.Total != 2*1999 {
		t.Fatalf("after removing MUG-1: %+v", got)
	}
	// Delete: then it is gone.
	if resp := do(t, e.h, newReq("DELETE", "/v1/carts/"+c.CartID, asUser("ann"))); resp.StatusCode != 204 {
		t.Fatalf("delete: %d %s", resp.StatusCode, resp.Body)
	}
	wantError(t, do(t, e.h, newReq("GET", "/v1/carts/"+c.CartID, asUser("ann"))), 404, "not_found")
}

// TestCheckoutFromACart: POST /v1/checkouts with cart_id checks out the
// cart's lines; once the checkout completes, reading it empties the cart
// (lines added meanwhile would stay).
func TestCheckoutFromACart(t *testing.T) {
	t.Parallel()
	e := cartEnv(t)
	c := decode[CartBody](t, do(t, e.h, newReq("POST", "/v1/carts", asUser("ann"))))
	for _, tc := range []struct {
		name, body, field string
	}{
		{"empty cart", `{"cart_id":"` + c.CartID + `","currency":"USD","payment_method":"pm_card_visa"}`, "cart_id"},
		{"items and cart", `{"cart_id":"` + c.CartID + `","items":[{"sku":"TEE-1","quantity":1}],"currency":"USD","payment_method":"pm_card_visa"}`, "cart_id"},
		{"someone else's or no cart", `{"cart_id":"0b9c3f1e-8a4d-4c2b-9f57-3f1d2c5e6a7b","currency":"USD","payment_method":"pm_card_visa"}`, "cart_id"},
	} {
		eb := wantError(t, do(t, e.h, postReq("ann", uuid.NewString(), tc.body)), 400, "invalid_request")
		if eb.Error.Details["field"] != tc.field {
			t.Errorf("%s: details %v", tc.name, eb.Error.Details)
		}
	}
	do(t, e.h, putItem("ann", c.CartID, "TEE-1", `{"quantity":3}`))
	resp := do(t, e.h, postReq("ann", "k1", `{"cart_id":"`+c.CartID+`","currency":"USD","payment_method":"pm_card_visa"}`))
	if resp.StatusCode != 202 {
		t.Fatalf("checkout from the cart: %d %s", resp.StatusCode, resp.Body)
	}
	co := decode[CheckoutBody](t, resp)
	if co.Amount != 3*1999 {
		t.Fatalf("checkout %+v; want the cart's 3 x 1999", co)
	}
	id := uuid.MustParse(co.CheckoutID)
	// The saga's end, short-circuited: the checkout is completed.
	if _, err := e.pool.Exec(context.Background(), `UPDATE checkouts SET status = 'completed', completed_at = now() WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if got := decode[CheckoutBody](t, do(t, e.h, newReq("GET", "/v1/checkouts/"+co.CheckoutID, asUser("ann")))); got.Status != "completed" {
		t.Fatalf("checkout %+v", got)
	}
	if got := decode[CartBody](t, do(t, e.h, newReq("GET", "/v1/carts/"+c.CartID, asUser("ann")))); len(got.Lines) != 0 {
		t.Fatalf("the cart after its checkout completed: %+v; want it emptied", got)
	}
}

// TestCartsWithoutRedis: a deployment without the Redis layer answers the
// cart routes 503, saying why.
func TestCartsWithoutRedis(t *testing.T) {
	t.Parallel()
	e := newEnvOnPool(t, pgtest.NewPool(t), nil)
	wantError(t, do(t, e.h, newReq("POST", "/v1/carts", asUser("ann"))), 503, "service_unavailable")
}
