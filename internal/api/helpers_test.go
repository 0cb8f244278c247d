package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/catalog"
	"github.com/checkout-dev/checkout/internal/checkout"
	"github.com/checkout-dev/checkout/internal/inventory"
	"github.com/checkout-dev/checkout/internal/order"
	"github.com/checkout-dev/checkout/internal/postgres"
	"github.com/checkout-dev/checkout/internal/redistest"
	"github.com/checkout-dev/checkout/internal/saga"
	"github.com/checkout-dev/checkout/localaws"
	"github.com/checkout-dev/checkout/localaws/pgtest"
	localsfn "github.com/checkout-dev/checkout/localaws/sfn"
)

func TestMain(m *testing.M) {
	pgtest.AtExit(redistest.StopShared) // the stock gate tests' Redis
	pgtest.Main(m, postgres.Migrate, localaws.Migrate)
}

// env is one handler on a fresh database with a seeded catalog.
type env struct {
	pool *pgxpool.Pool
	h    *Handler
	co   *checkout.Store
	inv  *inventory.Store
}

func newEnvOnPool(t *testing.T, pool *pgxpool.Pool, ex checkout.Executions) *env {
	t.Helper()
	_, err := pool.Exec(context.Background(), `
		INSERT INTO products (sku, name, amount, currency) VALUES
			('TEE-1', 'T-shirt', 1999, 'USD'), ('MUG-1', 'Mug', 1250, 'USD'),
			('EUR-1', 'Euro thing', 500, 'EUR'), ('LAST-1', 'Last one', 700, 'USD'),
			('GOLD-1', 'Gold bar', 9999999, 'USD');
		INSERT INTO inventory (sku, on_hand) VALUES ('TEE-1', 100), ('MUG-1', 100), ('EUR-1', 10), ('LAST-1', 1), ('GOLD-1', 100)`)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{pool: pool, co: checkout.NewStore(pool), inv: inventory.New(pool, inventory.Options{})}
	e.h = New(e.deps(ex))
	return e
}

// deps wires the handler's dependencies on e's database, starting
// executions with ex.
func (e *env) deps(ex checkout.Executions) Deps {
	return Deps{Pool: e.pool, Catalog: catalog.NewStore(e.pool), Checkouts: e.co, Orders: order.NewService(e.pool, e.inv), Inventory: e.inv,
		Starter: checkout.NewStarter(e.pool, e.co, e.inv, ex, saga.Input), Log: quiet}
}

func (e *env) count(t *testing.T, table string) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// rows counts every row bad input must not leave behind.
func (e *env) rows(t *testing.T) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, tb := range []string{"checkouts", "checkout_items", "audit_log", "reservations"} {
		out[tb] = e.count(t, tb)
	}
	return out
}

// --- requests ---------------------------------------------------------------

type reqOpt func(*events.APIGatewayProxyRequest)

func newReq(method, path string, opts ...reqOpt) events.APIGatewayProxyRequest {
	r := events.APIGatewayProxyRequest{HTTPMethod: method, Path: path, Headers: map[string]string{}}
	r.RequestContext.RequestID = uuid.NewString()
	for _, o := range opts {
		o(&r)
	}
	return r
}

func asUser(id string) reqOpt {
	return func(r *events.APIGatewayProxyRequest) {
		r.RequestContext.Authorizer = map[string]any{"principalId": id, "sub": id, "scope": ""}
	}
}

func asAdmin(id string) reqOpt {
	return func(r *events.APIGatewayProxyRequest) {
		r.RequestContext.Authorizer = map[string]any{"principalId": id, "sub": id, "scope": "orders:read admin"}
	}
}

func header(k, v string) reqOpt {
	return func(r *events.APIGatewayProxyRequest) { r.Headers[k] = v }
}

func withBody(b string) reqOpt {
	return func(r *events.APIGatewayProxyRequest) { r.Body = b }
}

func jsonBody(b string) reqOpt {
	return func(r *events.APIGatewayProxyRequest) { r.Body = b; r.Headers["Content-Type"] = "application/json" }
}

func withQuery(k, v string) reqOpt {
	return func(r *events.APIGatewayProxyRequest) {
		if r.QueryStringParameters == nil {
			r.QueryStringParameters = map[string]string{}
		}
		r.QueryStringParameters[k] = v
	}
}

func withResource(resource string, params map[string]string) reqOpt {
	return func(r *events.APIGatewayProxyRequest) { r.Resource = resource; r.PathParameters = params }
}

// postCheckout builds POST /v1/checkouts for user with key and body.
func postReq(user, key, body string) events.APIGatewayProxyRequest {
	return newReq("POST", "/v1/checkouts", asUser(user), header("idempotency-key", key), jsonBody(body))
}

func cart(items string) string {
	return `{"items":[` + items + `],"currency":"USD","payment_method":"pm_card_visa"}`
}

// do serves req and checks what every answer must satisfy: a JSON body with
// Content-Type application/json, the error shape for 4xx/5xx, and a status
// the route table declares for the endpoint (so the OpenAPI test covers it).
func do(t *testing.T, h *Handler, req events.APIGatewayProxyRequest) events.APIGatewayProxyResponse {
	t.Helper()
	resp, err := h.Handle(context.Background(), req)
	if err != nil {
		t.Fatalf("Handle returned error %v", err)
	}
	checkResponse(t, req, resp)
	validateAgainstSpec(t, req, resp)
	return resp
}

func checkResponse(t *testing.T, req events.APIGatewayProxyRequest, resp events.APIGatewayProxyResponse) {
	t.Helper()
	if req.HTTPMethod == http.MethodOptions {
		if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusNotFound {
			t.Errorf("preflight answered %d; want 204, 403 or 404", resp.StatusCode)
		}
	}
	if resp.StatusCode == http.StatusNoContent {
		if resp.Body != "" {
			t.Errorf("204 with a body %q", resp.Body)
		}
		return
	}
	if ct := resp.Headers["Content-Type"]; ct != "application/json" {
		t.Errorf("Content-Type = %q; want application/json", ct)
	}
	if !json.Valid([]byte(resp.Body)) {
		t.Errorf("body is not JSON: %q", resp.Body)
	}
	if resp.StatusCode >= 400 {
		var eb ErrorBody
		if err := json.Unmarshal([]byte(resp.Body), &eb); err != nil || eb.Error.Code == "" || eb.Error.Message == "" {
			t.Errorf("error body %q does not have the error shape", resp.Body)
		}
		if !regexp.MustCompile(`^[a-z]+(_[a-z]+)*$`).MatchString(eb.Error.Code) {
			t.Errorf("error code %q is not snake_case", eb.Error.Code)
		}
	}
	r, _ := match(req)
	if r == nil {
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("unrouted request answered %d; want 404", resp.StatusCode)
		}
		return
	}
	ep := r.endpoint(req.HTTPMethod)
	if req.HTTPMethod == http.MethodOptions {
		return
	}
	if ep == nil {
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("wrong method answered %d; want 405", resp.StatusCode)
		}
		return
	}
	if !slices.Contains(ep.allStatuses(), resp.StatusCode) {
		t.Errorf("%s %s answered %d, which its route table entry does not declare (%v)", ep.method, r.pattern, resp.StatusCode, ep.allStatuses())
	}
}

func decode[T any](t *testing.T, resp events.APIGatewayProxyResponse) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(resp.Body), &v); err != nil {
		t.Fatalf("decode %q: %v", resp.Body, err)
	}
	return v
}

func wantError(t *testing.T, resp events.APIGatewayProxyResponse, status int, code string) ErrorBody {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d body %s; want %d %s", resp.StatusCode, resp.Body, status, code)
	}
	eb := decode[ErrorBody](t, resp)
	if eb.Error.Code != code {
		t.Fatalf("code %q (%s); want %q", eb.Error.Code, resp.Body, code)
	}
	return eb
}

// --- Step Functions servers -------------------------------------------------

func sfnClient(url string) *sfn.Client {
	return sfn.New(sfn.Options{Region: "us-east-1", BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")})
}

var placeholder = regexp.MustCompile(`\$\{([A-Za-z0-9]+)\}`)

// definition is statemachine/checkout.asl.json with its placeholders
// substituted as template.yaml's DefinitionSubstitutions would.
func definition(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../../statemachine/checkout.asl.json")
	if err != nil {
		t.Fatal(err)
	}
	return placeholder.ReplaceAllStringFunc(string(raw), func(m string) string {
		name := placeholder.FindStringSubmatch(m)[1]
		switch {
		case strings.HasSuffix(name, "FunctionArn"):
			return "arn:aws:lambda:us-east-1:123456789012:function:" + strings.TrimSuffix(name, "FunctionArn")
		case strings.HasSuffix(name, "QueueUrl"):
			return "http://127.0.0.1:9/123456789012/" + strings.TrimSuffix(name, "QueueUrl")
		}
		t.Fatalf("unknown placeholder %s", m)
		return ""
	})
}

// createMachine creates the checkout state machine under a unique name.
func createMachine(t *testing.T, c *sfn.Client) string {
	t.Helper()
	out, err := c.CreateStateMachine(context.Background(), &sfn.CreateStateMachineInput{
		Name:       aws.String("checkout-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:20]),
		Definition: aws.String(definition(t)),
		RoleArn:    aws.String("arn:aws:iam::123456789012:role/checkout-sfn"),
	})
	if err != nil {
		t.Fatalf("CreateStateMachine: %v", err)
	}
	return aws.ToString(out.StateMachineArn)
}

func executions(t *testing.T, c *sfn.Client, machine string) []string {
	t.Helper()
	out, err := c.ListExecutions(context.Background(), &sfn.ListExecutionsInput{StateMachineArn: aws.String(machine)})
	if err != nil {
		t.Fatalf("ListExecutions: %v", err)
	}
	var names []string
	for _, e := range out.Executions {
		names = append(names, aws.ToString(e.Name))
	}
	return names
}

// startLocalSFN serves the local Step Functions API (localaws/sfn) on pool.
// The executor is not started, so executions are recorded and stay RUNNING
// without running (like moto's default).
func startLocalSFN(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	ex := localsfn.New(pool, localsfn.Options{Logger: quiet})
	srv := httptest.NewServer(ex.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// brokenExecutions is a real Step Functions endpoint that refuses: a state
// machine ARN that does not exist.
func missingMachine(machine string) string { return machine + "-missing" }

var quiet = slog.New(slog.DiscardHandler)
