package api

import (
	"github.com/checkout-dev/checkout/internal/execution"
	"github.com/checkout-dev/checkout/localaws/motoserver"

	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/localaws/pgtest"
)

// backend returns a Step Functions client whose server records executions
// for a database built on pool.
type backend func(t *testing.T, pool *pgxpool.Pool) *sfn.Client

// TestPostCheckoutWithMoto runs the start path against moto_server, an
// independent implementation of the Step Functions API.
func TestPostCheckoutWithMoto(t *testing.T) {
	t.Parallel()
	client := sfnClient(motoserver.Start(t))
	checkoutScenarios(t, func(*testing.T, *pgxpool.Pool) *sfn.Client { return client })
}

// TestPostCheckoutWithLocalSFN runs the same path against the project's own
// local Step Functions (localaws/sfn), as make dev does.
func TestPostCheckoutWithLocalSFN(t *testing.T) {
	t.Parallel()
	checkoutScenarios(t, func(t *testing.T, pool *pgxpool.Pool) *sfn.Client { return sfnClient(startLocalSFN(t, pool)) })
}

func checkoutScenarios(t *testing.T, be backend) {
	setup := func(t *testing.T) (*env, *sfn.Client, string) {
		t.Helper()
		pool := pgtest.NewPool(t)
		c := be(t, pool)
		machine := createMachine(t, c)
		return newEnvOnPool(t, pool, execution.SFN{Client: c, StateMachineARN: machine}), c, machine
	}

	t.Run("happy path, replay and reuse", func(t *testing.T) {
		t.Parallel()
		e, c, machine := setup(t)
		body := cart(`{"sku":"TEE-1","quantity":2},{"sku":"MUG-1","quantity":1}`)
		resp := do(t, e.h, postReq("user-1", "key-1", body))
		if resp.StatusCode != 202 {
			t.Fatalf("status %d %s; want 202", resp.StatusCode, resp.Body)
		}
		got := decode[CheckoutBody](t, resp)
		if got.Status != "pending" || got.Amount != 2*1999+1250 || got.Currency != "USD" || got.Failure != nil || got.OrderID != "" {
			t.Fatalf("body %+v", got)
		}
		if loc := resp.Headers["Location"]; loc != "/v1/checkouts/"+got.CheckoutID {
			t.Errorf("Location %q", loc)
		}
		if ra := resp.Headers["Retry-After"]; ra != "1" {
			t.Errorf("Retry-After %q; want 1", ra)
		}
		arn := execution.ExecutionARN(machine, got.CheckoutID)
		desc, err := c.DescribeExecution(context.Background(), &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
		if err != nil {
			t.Fatalf("DescribeExecution %s: %v", arn, err)
		}
		if aws.ToString(desc.Name) != got.CheckoutID {
			t.Errorf("execution name %q; want the checkout id %s", aws.ToString(desc.Name), got.CheckoutID)
		}
		var input, want map[string]any
		if err := json.Unmarshal([]byte(aws.ToString(desc.Input)), &input); err != nil {
			t.Fatalf("execution input %q: %v", aws.ToString(desc.Input), err)
		}
		_ = json.Unmarshal([]byte(fmt.Sprintf(`{"checkout_id":%q,"user_id":"user-1","currency":"USD","amount":5248,
			"payment_method":"pm_card_visa","items":[{"sku":"MUG-1","quantity":1},{"sku":"TEE-1","quantity":2}],
			"authentication_timeout_seconds":900}`, got.CheckoutID)), &want)
		if !reflect.DeepEqual(input, want) {
			t.Errorf("execution input\n got %v\nwant %v", input, want)
		}
		stored, err := e.co.Get(context.Background(), uuid.MustParse(got.CheckoutID))
		if err != nil || stored.ExecutionID != aws.ToString(desc.ExecutionArn) {
			t.Errorf("recorded execution %q (err %v); want %s", stored.ExecutionID, err, aws.ToString(desc.ExecutionArn))
		}

		// The same key and body: the same checkout, no second execution.
		again := do(t, e.h, postReq("user-1", "key-1", cart(`{"sku":"MUG-1","quantity":1},{"sku":"TEE-1","quantity":2}`)))
		if again.StatusCode != 202 || decode[CheckoutBody](t, again).CheckoutID != got.CheckoutID {
			t.Fatalf("replay: %d %s", again.StatusCode, again.Body)
		}
		if n := executions(t, c, machine); len(n) != 1 || n[0] != got.CheckoutID {
			t.Fatalf("executions %v; want exactly [%s]", n, got.CheckoutID)
		}
		// The same key with another body: 422, nothing new.
		reused := do(t, e.h, postReq("user-1", "key-1", cart(`{"sku":"TEE-1","quantity":3}`)))
		eb := wantError(t, reused, 422, "idempotency_key_reused")
		if eb.Error.Details["checkout_id"] != got.CheckoutID {
			t.Errorf("details %v; want the original checkout id", eb.Error.Details)
		}
		if n := e.count(t, "checkouts"); n != 1 {
			t.Errorf("%d checkouts; want 1", n)
		}
		if n := executions(t, c, machine); len(n) != 1 {
			t.Errorf("executions %v; want 1", n)
		}
		// Another user may use the same key for their own checkout.
		other := do(t, e.h, postReq("user-2", "key-1", body))
		if other.StatusCode != 202 || decode[CheckoutBody](t, other).CheckoutID == got.CheckoutID {
			t.Fatalf("other user: %d %s", other.StatusCode, other.Body)
		}
	})

	t.Run("20 concurrent duplicates", func(t *testing.T) {
		t.Parallel()
		e, c, machine := setup(t)
		const n = 20
		ids := make([]string, n)
		statuses := make([]int, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req := postReq("user-1", "same-key", cart(`{"sku":"TEE-1","quantity":1}`))
				resp, _ := e.h.Handle(context.Background(), req)
				checkResponse(t, req, resp)
				statuses[i] = resp.StatusCode
				var b CheckoutBody
				_ = json.Unmarshal([]byte(resp.Body), &b)
				ids[i] = b.CheckoutID
			}()
		}
		wg.Wait()
		for i := range n {
			if statuses[i] != 202 || ids[i] != ids[0] || ids[0] == "" {
				t.Fatalf("request %d: %d %q; want 202 %q", i, statuses[i], ids[i], ids[0])
			}
		}
		if got := e.count(t, "checkouts"); got != 1 {
			t.Fatalf("%d checkouts; want 1", got)
		}
		if ex := executions(t, c, machine); len(ex) != 1 || ex[0] != ids[0] {
			t.Fatalf("executions %v; want [%s]", ex, ids[0])
		}
	})

	t.Run("sold out fast path", func(t *testing.T) {
		t.Parallel()
		e, c, machine := setup(t)
		resp := do(t, e.h, postReq("user-1", "k-sold", cart(`{"sku":"LAST-1","quantity":2}`)))
		if resp.StatusCode != 200 {
			t.Fatalf("status %d %s; want 200 with the final result", resp.StatusCode, resp.Body)
		}
		got := decode[CheckoutBody](t, resp)
		if got.Status != "failed" || got.Failure == nil || got.Failure.Code != "out_of_stock" || !strings.Contains(got.Failure.Message, "LAST-1") {
			t.Fatalf("body %s; want failed out_of_stock naming LAST-1", resp.Body)
		}
		if ex := executions(t, c, machine); len(ex) != 0 {
			t.Fatalf("executions %v; want none", ex)
		}
		if n := e.count(t, "reservations"); n != 0 {
			t.Fatalf("%d reservations; want 0", n)
		}
		again := do(t, e.h, postReq("user-1", "k-sold", cart(`{"sku":"LAST-1","quantity":2}`)))
		if again.StatusCode != 200 || again.Body != resp.Body {
			t.Fatalf("replay %d %s; want the same answer %s", again.StatusCode, again.Body, resp.Body)
		}
		// The one unit left is still sellable.
		ok := do(t, e.h, postReq("user-1", "k-last", cart(`{"sku":"LAST-1","quantity":1}`)))
		if ok.StatusCode != 202 {
			t.Fatalf("last unit: %d %s", ok.StatusCode, ok.Body)
		}
		if ex := executions(t, c, machine); len(ex) != 1 {
			t.Fatalf("executions %v; want 1", ex)
		}
	})

	t.Run("start failure answers 503 and the retry starts it", func(t *testing.T) {
		t.Parallel()
		e, c, machine := setup(t)
		broken := New(e.deps(execution.SFN{Client: c, StateMachineARN: missingMachine(machine)}))
		body := cart(`{"sku":"TEE-1","quantity":1}`)
		resp := do(t, broken, postReq("user-1", "k-retry", body))
		wantError(t, resp, 503, "service_unavailable")
		if resp.Headers["Retry-After"] == "" {
			t.Error("503 without Retry-After")
		}
		var status, execID string
		if err := e.pool.QueryRow(context.Background(), `SELECT status, coalesce(execution_id, '') FROM checkouts`).Scan(&status, &execID); err != nil {
			t.Fatal(err)
		}
		if status != "pending" || execID != "" {
			t.Fatalf("after a failed start: %s %q; want pending without execution", status, execID)
		}
		again := do(t, e.h, postReq("user-1", "k-retry", body))
		if again.StatusCode != 202 {
			t.Fatalf("retry: %d %s; want 202", again.StatusCode, again.Body)
		}
		id := decode[CheckoutBody](t, again).CheckoutID
		if ex := executions(t, c, machine); len(ex) != 1 || ex[0] != id {
			t.Fatalf("executions %v; want [%s]", ex, id)
		}
		if err := e.pool.QueryRow(context.Background(), `SELECT coalesce(execution_id, '') FROM checkouts`).Scan(&execID); err != nil || execID != execution.ExecutionARN(machine, id) {
			t.Fatalf("execution_id %q err %v", execID, err)
		}
	})

	t.Run("bad input writes nothing", func(t *testing.T) {
		t.Parallel()
		e, c, machine := setup(t)
		lines := make([]string, 101)
		for i := range lines {
			lines[i] = fmt.Sprintf(`{"sku":"S-%d","quantity":1}`, i)
		}
		tee := `{"sku":"TEE-1","quantity":1}`
		ok := func(r events.APIGatewayProxyRequest) events.APIGatewayProxyRequest { return r }
		cases := []struct {
			name   string
			req    events.APIGatewayProxyRequest
			status int
			code   string
			field  string
		}{
			{"zero quantity", postReq("u", "k", cart(`{"sku":"TEE-1","quantity":0}`)), 400, "invalid_request", "items[0].quantity"},
			{"negative quantity", postReq("u", "k", cart(`{"sku":"TEE-1","quantity":-2}`)), 400, "invalid_request", "items[0].quantity"},
			{"huge quantity", postReq("u", "k", cart(`{"sku":"TEE-1","quantity":1000000}`)), 400, "invalid_request", "items[0].quantity"},
			{"quantity beyond int", postReq("u", "k", cart(`{"sku":"TEE-1","quantity":1e30}`)), 400, "invalid_request", "items[0].quantity"},
			{"fractional quantity", postReq("u", "k", cart(tee+`,{"sku":"MUG-1","quantity":1.5}`)), 400, "invalid_request", "items[1].quantity"},
			{"quantity as a string", postReq("u", "k", cart(`{"sku":"TEE-1","quantity":"1"}`)), 400, "invalid_request", "items[0].quantity"},
			{"field name in upper case", postReq("u", "k", `{"ITEMS":[`+tee+`],"currency":"USD","payment_method":"pm_card_visa"}`), 400, "invalid_request", "ITEMS"},
			{"item field in another case", postReq("u", "k", cart(`{"Sku":"TEE-1","quantity":1}`)), 400, "invalid_request", "items[0].Sku"},
			{"total above the largest card charge", postReq("u", "k", cart(`{"sku":"GOLD-1","quantity":11}`)), 400, "invalid_request", "items"},
			{"unknown sku", postReq("u", "k", cart(tee+`,{"sku":"NOPE-1","quantity":1}`)), 400, "invalid_request", "items[1].sku"},
			{"empty cart", postReq("u", "k", cart(``)), 400, "invalid_request", "items"},
			{"no items field", postReq("u", "k", `{"currency":"USD","payment_method":"pm_card_visa"}`), 400, "invalid_request", "items"},
			{"more than 100 lines", postReq("u", "k", cart(strings.Join(lines, ","))), 400, "invalid_request", "items"},
			{"duplicate sku", postReq("u", "k", cart(tee+","+tee)), 400, "invalid_request", "items[1].sku"},
			{"currency mismatch", postReq("u", "k", cart(`{"sku":"EUR-1","quantity":1}`)), 400, "invalid_request", "currency"},
			{"missing payment method", postReq("u", "k", `{"items":[`+tee+`],"currency":"USD"}`), 400, "invalid_request", "payment_method"},
			{"malformed json", postReq("u", "k", `{"items":[`), 400, "invalid_request", "body"},
			{"not an object", postReq("u", "k", `[]`), 400, "invalid_request", "body"},
			{"null body", postReq("u", "k", `null`), 400, "invalid_request", "items"},
			{"empty body", postReq("u", "k", ``), 400, "invalid_request", "body"},
			{"unknown field", postReq("u", "k", `{"items":[`+tee+`],"currency":"USD","payment_method":"pm_card_visa","price":1}`), 400, "invalid_request", "price"},
			{"client price", postReq("u", "k", cart(`{"sku":"TEE-1","quantity":1,"unit_amount":1}`)), 400, "invalid_request", "items[0].unit_amount"},
			{"trailing data", postReq("u", "k", cart(tee)+` {}`), 400, "invalid_request", "body"},
			{"1 MiB body", postReq("u", "k", cart(tee)+strings.Repeat(" ", 1<<20)), 413, "payload_too_large", ""},
			{"wrong content type", ok(newReq("POST", "/v1/checkouts", asUser("u"), header("Idempotency-Key", "k"), header("Content-Type", "text/plain"), withBody(cart(tee)))), 415, "unsupported_media_type", "Content-Type"},
			{"no content type", ok(newReq("POST", "/v1/checkouts", asUser("u"), header("Idempotency-Key", "k"), withBody(cart(tee)))), 415, "unsupported_media_type", "Content-Type"},
			{"missing key", ok(newReq("POST", "/v1/checkouts", asUser("u"), jsonBody(cart(tee)))), 400, "invalid_request", "Idempotency-Key"},
			{"empty key", postReq("u", "", cart(tee)), 400, "invalid_request", "Idempotency-Key"},
			{"300-char key", postReq("u", strings.Repeat("k", 300), cart(tee)), 400, "invalid_request", "Idempotency-Key"},
			{"key with a space", postReq("u", "a b", cart(tee)), 400, "invalid_request", "Idempotency-Key"},
			{"key with non-ASCII", postReq("u", "clé", cart(tee)), 400, "invalid_request", "Idempotency-Key"},
			{"no principal", ok(newReq("POST", "/v1/checkouts", header("Idempotency-Key", "k"), jsonBody(cart(tee)))), 401, "unauthorized", ""},
		}
		before := e.rows(t)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				resp := do(t, e.h, tc.req)
				eb := wantError(t, resp, tc.status, tc.code)
				if tc.field != "" && eb.Error.Details["field"] != tc.field {
					t.Errorf("details %v (%s); want field %q", eb.Error.Details, eb.Error.Message, tc.field)
				}
				if after := e.rows(t); !reflect.DeepEqual(after, before) {
					t.Errorf("rows %v after bad input; want %v", after, before)
				}
			})
		}
		if ex := executions(t, c, machine); len(ex) != 0 {
			t.Fatalf("executions %v after bad input; want none", ex)
		}
	})
}
