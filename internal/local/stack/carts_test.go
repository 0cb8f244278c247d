package stack_test

import (
	"fmt"
	"testing"

	"github.com/google/uuid"
)

// TestCartToCompletedCheckoutOverHTTP: a buyer fills a cart, checks it
// out, and once the checkout completes the cart is empty; another user
// cannot see the cart.
func TestCartToCompletedCheckoutOverHTTP(t *testing.T) {
	t.Parallel()
	e := startE2E(t, roomy)
	ann, bob := e.token("ann", false), e.token("bob", false)
	c := e.do("POST", "/v1/carts", ann, e2eAPIKey, map[string]string{"Content-Type": "application/json"}, "")
	if c.status != 201 || c.str("cart_id") == "" {
		t.Fatalf("create cart: %d %s", c.status, c.raw)
	}
	id := c.str("cart_id")
	put := func(sku string, n int) reply {
		return e.do("PUT", "/v1/carts/"+id+"/items/"+sku, ann, e2eAPIKey, map[string]string{"Content-Type": "application/json"}, fmt.Sprintf(`{"quantity":%d}`, n))
	}
	if r := put("TEE-BLACK-M", 2); r.status != 200 {
		t.Fatalf("put: %d %s", r.status, r.raw)
	}
	if r := put("MUG-LOGO", 1); r.status != 200 || r.body["total"] == float64(0) {
		t.Fatalf("put: %d %s", r.status, r.raw)
	}
	if r := e.do("GET", "/v1/carts/"+id, bob, e2eAPIKey, nil, ""); r.status != 404 {
		t.Fatalf("bob reads ann's cart: %d %s; want 404", r.status, r.raw)
	}
	r := e.post(ann, uuid.NewString(), `{"cart_id":"`+id+`","currency":"USD","payment_method":"pm_card_visa"}`)
	if r.str("checkout_id") == "" {
		t.Fatalf("checkout from the cart: %d %s", r.status, r.raw)
	}
	if done := e.wait(ann, r.str("checkout_id")); done.str("status") != "completed" {
		t.Fatalf("checkout: %s", done.raw)
	}
	got := e.do("GET", "/v1/carts/"+id, ann, e2eAPIKey, nil, "")
	if lines, _ := got.body["lines"].([]any); got.status != 200 || len(lines) != 0 {
		t.Fatalf("the cart after its checkout completed: %d %s; want it empty", got.status, got.raw)
	}
}
