package torture

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/internal/auth"
	"github.com/checkout-dev/checkout/internal/local/stack"
)

// shop is the storefront side: the catalog and the buyers, over HTTP.
type shop struct {
	api  string
	mu   sync.Mutex
	rnd  *rand.Rand
	http http.Client
}

// products of a run; HOT sells out.
var products = []struct {
	sku    string
	amount int64
	share  int // stock = checkouts * share / 8
}{
	{"TORTURE-HOT", 1999, 1},
	{"TORTURE-TEE", 2500, 8},
	{"TORTURE-MUG", 1200, 4},
}

// paymentMethods and their weights: mostly good cards, and every test card
// that exercises a money path (declines, 3-D Secure, disputes, refunds
// that stay pending or fail later).
var paymentMethods = []struct {
	pm     string
	weight int
}{
	{"pm_card_visa", 50}, {"pm_card_mastercard", 10}, {"pm_card_chargeDeclined", 8},
	{"pm_card_chargeDeclinedInsufficientFunds", 5}, {"pm_card_authenticationRequired", 7},
	{"pm_card_createDispute", 5}, {"pm_card_pendingRefund", 8}, {"pm_card_refundFail", 7},
}

const apiKey = stack.DefaultAPIKey

func (s *shop) token(sub string, admin bool) string {
	tok, err := auth.Mint([]byte(stack.DefaultJWTSecret), auth.MintOptions{Subject: sub, Admin: admin, TTL: 2 * time.Hour})
	if err != nil {
		panic(err) // a constant secret and subject cannot fail
	}
	return tok
}

func (s *shop) do(ctx context.Context, method, path, token string, body any, header map[string]string) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.api+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("x-api-key", apiKey)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// retry calls fn until it reports done, through the stack's restarts.
func retry(ctx context.Context, what string, fn func() (done bool, err error)) error {
	var last error
	for delay := 50 * time.Millisecond; ; delay = min(delay*2, 2*time.Second) {
		done, err := fn()
		if done {
			return err
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (last: %v)", what, ctx.Err(), last)
		case <-time.After(delay):
		}
	}
}

func (s *shop) seed(ctx context.Context, checkouts int) error {
	admin := s.token("torture-admin", true)
	for _, p := range products {
		stock := max(checkouts*p.share/8, 1)
		for _, c := range []struct {
			path string
			body any
		}{
			{"/v1/admin/products/" + p.sku, map[string]any{"name": "Torture " + p.sku, "amount": p.amount, "currency": "USD"}},
			{"/v1/admin/inventory/" + p.sku, map[string]any{"quantity": stock}},
		} {
			err := retry(ctx, "seed "+p.sku, func() (bool, error) {
				code, b, err := s.do(ctx, http.MethodPut, c.path, admin, c.body, nil)
				if err != nil || code >= 500 || code == 429 {
					return false, fmt.Errorf("%d %s %v", code, b, err)
				}
				if code != 200 && code != 201 {
					return true, fmt.Errorf("PUT %s: %d %s", c.path, code, b)
				}
				return true, nil
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// cart draws one buyer's cart and payment method.
func (s *shop) cart() (items []map[string]any, pm string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	lines := 1 + s.rnd.IntN(2)
	seen := map[string]bool{}
	for range lines {
		p := products[s.rnd.IntN(len(products))]
		if seen[p.sku] {
			continue
		}
		seen[p.sku] = true
		items = append(items, map[string]any{"sku": p.sku, "quantity": 1 + s.rnd.IntN(2)})
	}
	total := 0
	for _, m := range paymentMethods {
		total += m.weight
	}
	n := s.rnd.IntN(total)
	for _, m := range paymentMethods {
		if n < m.weight {
			return items, m.pm
		}
		n -= m.weight
	}
	return items, "pm_card_visa"
}

type checkoutView struct {
	ID      string `json:"checkout_id"`
	Status  string `json:"status"`
	Failure *struct {
		Code string `json:"code"`
	} `json:"failure"`
	NextAction *struct {
		URL string `json:"url"`
	} `json:"next_action"`
}

func final(status string) bool {
	return status == "completed" || status == "failed" || status == "needs_review"
}

// buy runs every buyer and returns each checkout's final outcome.
func (s *shop) buy(ctx context.Context, cfg Config, submitted *atomic.Int64, logf func(string, ...any)) ([]string, error) {
	outcomes := make([]string, cfg.Checkouts)
	errs := make(chan error, cfg.Checkouts)
	sem := make(chan struct{}, cfg.Concurrency)
	var wg sync.WaitGroup
	var finals atomic.Int64
	progress := time.NewTicker(5 * time.Second)
	defer progress.Stop()
	go func() {
		for range progress.C {
			logf("%d submitted, %d final", submitted.Load(), finals.Load())
		}
	}()
	for i := range cfg.Checkouts {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			out, err := s.buyer(ctx, i, submitted)
			if err != nil {
				errs <- fmt.Errorf("buyer %d: %w", i, err)
				return
			}
			outcomes[i] = out
			finals.Add(1)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return nil, err
	}
	return outcomes, nil
}

// authenticate plays the customer of a checkout that needs 3-D Secure on
// the fake's page: most complete it, some fail it, some walk away (the
// checkout then times out).
func (s *shop) authenticate(ctx context.Context, url string) error {
	s.mu.Lock()
	n := s.rnd.IntN(4)
	s.mu.Unlock()
	outcome := map[int]string{0: "succeed", 1: "succeed", 2: "fail"}[n]
	if outcome == "" {
		return nil // walks away
	}
	return retry(ctx, "authenticate", func() (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"&outcome="+outcome, nil)
		if err != nil {
			return true, err
		}
		client := http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Do(req)
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusSeeOther, http.StatusOK, http.StatusConflict: // 409: the intent moved on (the saga timed out first)
			return true, nil
		}
		return false, fmt.Errorf("3-D Secure page: %d", resp.StatusCode)
	})
}

// buyer places one checkout (retrying with the same Idempotency-Key through
// faults and restarts) and waits until it is final.
func (s *shop) buyer(ctx context.Context, i int, submitted *atomic.Int64) (string, error) {
	tok := s.token("buyer-"+strconv.Itoa(i), false)
	items, pm := s.cart()
	key := uuid.NewString()
	var v checkoutView
	err := retry(ctx, "create", func() (bool, error) {
		code, b, err := s.do(ctx, http.MethodPost, "/v1/checkouts", tok,
			map[string]any{"items": items, "currency": "USD", "payment_method": pm}, map[string]string{"Idempotency-Key": key})
		switch {
		case err != nil || code >= 500 || code == 429:
			return false, fmt.Errorf("%d %s %v", code, b, err)
		case code != 202 && code != 200:
			return true, fmt.Errorf("POST /v1/checkouts: %d %s", code, b)
		}
		return true, json.Unmarshal(b, &v)
	})
	if err != nil {
		return "", err
	}
	submitted.Add(1)
	acted := false
	for !final(v.Status) {
		if v.Status == "requires_action" {
			if !acted && v.NextAction != nil && v.NextAction.URL != "" {
				acted = true
				if err := s.authenticate(ctx, v.NextAction.URL); err != nil {
					return "", err
				}
			}
			// A long poll answers at once while the customer must act.
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
		err := retry(ctx, "poll "+v.ID, func() (bool, error) {
			code, b, err := s.do(ctx, http.MethodGet, "/v1/checkouts/"+v.ID+"?wait=20", tok, nil, nil)
			if err != nil || code != 200 {
				return false, fmt.Errorf("%d %s %v", code, b, err)
			}
			return true, json.Unmarshal(b, &v)
		})
		if err != nil {
			return "", err
		}
	}
	if v.Failure != nil {
		return v.Status + "/" + v.Failure.Code, nil
	}
	return v.Status, nil
}
