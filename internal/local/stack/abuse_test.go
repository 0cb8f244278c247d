package stack_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
)

// TestStockHoldingAttackOverHTTP replays the attack a review found: two
// attackers loop large checkouts paid with a card that is always declined,
// so the stock sits reserved while honest buyers arrive. With the product
// capped at 2 per customer the big checkouts are refused before they hold
// anything (409 purchase_limit_exceeded), each declined hold is released
// with its failure, and every honest buyer gets a unit.
func TestStockHoldingAttackOverHTTP(t *testing.T) {
	t.Parallel()
	e := startE2E(t, roomy)
	const honest = 20
	// Two attackers can hold at most 2 units each at any moment.
	const stock = honest + 2*2
	e.product("E2E-DROP", 4900, stock)
	if r := e.admin("PUT", "/v1/admin/products/E2E-DROP", `{"name":"Test E2E-DROP","amount":4900,"currency":"USD","max_per_customer":2}`); r.status != 200 {
		t.Fatalf("cap the product: %d %s", r.status, r.raw)
	}
	if r := e.do("GET", "/v1/products/E2E-DROP", "", e2eAPIKey, nil, ""); r.status != 200 || r.body["max_per_customer"] != float64(2) {
		t.Fatalf("product: %d %s; want max_per_customer 2", r.status, r.raw)
	}

	stop := make(chan struct{})
	var refusedBig, declined atomic.Int64
	var attackers sync.WaitGroup
	for a := range 2 {
		attackers.Add(1)
		go func() {
			defer attackers.Done()
			tok := e.token(fmt.Sprintf("attacker-%d", a), false)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if r := e.post(tok, uuid.NewString(), cart("E2E-DROP", 30, "pm_card_chargeDeclined")); r.status == 409 && r.code() == "purchase_limit_exceeded" {
					refusedBig.Add(1)
				} else {
					t.Errorf("attacker's 30-unit checkout: %d %s; want 409 purchase_limit_exceeded", r.status, r.raw)
					return
				}
				r := e.post(tok, uuid.NewString(), cart("E2E-DROP", 2, "pm_card_chargeDeclined"))
				if id := r.str("checkout_id"); id != "" {
					if done := e.wait(tok, id); done.failure() == "payment_declined" {
						declined.Add(1)
					}
				}
			}
		}()
	}

	results := make([]reply, honest)
	var buyers sync.WaitGroup
	for i := range honest {
		buyers.Add(1)
		go func() {
			defer buyers.Done()
			tok := e.token(fmt.Sprintf("honest-%d", i), false)
			r := e.post(tok, uuid.NewString(), cart("E2E-DROP", 1, "pm_card_visa"))
			if r.str("checkout_id") == "" {
				results[i] = r
				return
			}
			results[i] = e.wait(tok, r.str("checkout_id"))
		}()
	}
	buyers.Wait()
	close(stop)
	attackers.Wait()

	completed := 0
	for i, r := range results {
		if r.str("status") == "completed" {
			completed++
		} else {
			t.Errorf("honest buyer %d: %d %s", i, r.status, r.raw)
		}
	}
	t.Logf("%d/%d honest buyers completed; attackers: %d big checkouts refused, %d declined holds", completed, honest, refusedBig.Load(), declined.Load())
	if completed != honest {
		t.Fatalf("%d of %d honest buyers got the stock; want all", completed, honest)
	}
	if declined.Load() == 0 {
		t.Fatal("the attackers never held stock with a declined card: the test did not attack")
	}
	if on, res := e.level("E2E-DROP"); on != stock-honest || res != 0 {
		t.Fatalf("on_hand %d reserved %d; want %d and nothing held", on, res, stock-honest)
	}
}

// TestAnonymousCatalogBurstDoesNotStarveCheckouts: the storefront's API key
// ships in the page, so anyone can burn its throttle with anonymous catalog
// reads. The usage plan gives every method its own bucket per key: the
// burst is throttled on GET /v1/products/{sku} alone and a signed-in buyer
// still checks out.
func TestAnonymousCatalogBurstDoesNotStarveCheckouts(t *testing.T) {
	t.Parallel()
	// The template's throttles (burst 200, 100 rps per method); WAF's per-IP
	// rule out of the way, since here the attacker and the buyer share
	// 127.0.0.1.
	e := startE2E(t, map[string]string{"WafIpRateLimit": "1000000", "WafUserRateLimit": "100000"})
	var throttled atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if r := e.do("GET", "/v1/products/TEE-BLACK-M", "", e2eAPIKey, nil, ""); r.status == 429 {
					throttled.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if throttled.Load() == 0 {
		t.Fatal("400 anonymous catalog reads in a burst were never throttled: the test did not exhaust the catalog's bucket")
	}
	// The catalog's bucket is empty now; the checkout's is not.
	if r := e.do("GET", "/v1/products/TEE-BLACK-M", "", e2eAPIKey, nil, ""); r.status != 429 {
		t.Logf("catalog read right after the burst: %d (the bucket refilled)", r.status)
	}
	tok := e.token("innocent", false)
	r := e.post(tok, uuid.NewString(), cart("TEE-BLACK-M", 1, "pm_card_visa"))
	if r.status != 202 && r.status != 200 {
		t.Fatalf("the innocent buyer's checkout after %d throttled catalog reads: %d %s; want it accepted", throttled.Load(), r.status, r.raw)
	}
	if done := e.wait(tok, r.str("checkout_id")); done.str("status") != "completed" {
		t.Fatalf("innocent buyer: %s", done.raw)
	}
}
