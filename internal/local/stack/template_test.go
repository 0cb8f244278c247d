package stack_test

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/checkout-dev/checkout/localaws/sam"
)

// The real template.yaml, read through the SAM model: what the local stack
// will run.

// repoRoot walks up from the working directory to the directory holding go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// loadRepoTemplate loads /<repo>/template.yaml with its defaults.
func loadRepoTemplate(t *testing.T) *sam.Template {
	t.Helper()
	tpl, err := sam.Load(filepath.Join(repoRoot(t), "template.yaml"))
	if err != nil {
		t.Fatalf("Load(template.yaml): %v", err)
	}
	return tpl
}

// rawRepoTemplate is /<repo>/template.yaml as written: intrinsics kept,
// nothing resolved (for checks of resources the SAM model does not cover).
func rawRepoTemplate(t *testing.T) sam.Value {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var tpl sam.Value
	if err := yaml.Unmarshal(raw, &tpl); err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	return tpl
}

func TestRepoTemplateFunctions(t *testing.T) {
	t.Parallel()
	tpl := loadRepoTemplate(t)
	want := map[string]string{
		"ReserveStockFunction":        "reserve-stock",
		"ChargePaymentFunction":       "charge-payment",
		"AwaitAuthenticationFunction": "await-authentication",
		"CreateOrderFunction":         "create-order",
		"CapturePaymentFunction":      "capture-payment",
		"ReleaseStockFunction":        "release-stock",
		"RefundPaymentFunction":       "refund-payment",
		"MarkOutcomeFunction":         "mark-outcome",
		"ApiFunction":                 "api",
		"AuthorizerFunction":          "authorizer",
		"StripeWebhookFunction":       "stripe-webhook",
		"PaymentReconcilerFunction":   "payment-reconciler",
		"NotificationFunction":        "notification",
		"ShippingFunction":            "shipping",
		"AnalyticsFunction":           "analytics",
		"SweeperFunction":             "sweeper",
		"ReconciliationFunction":      "reconciliation",
		"MigrateFunction":             "migrate",
		"StarterFunction":             "starter",
	}
	got := map[string]string{}
	for id, f := range tpl.Functions {
		got[id] = f.Name
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("functions = %v, want %v", got, want)
	}
	for _, id := range tpl.FunctionIDs() {
		f := tpl.Functions[id]
		t.Run(id, func(t *testing.T) {
			if f.CodeURI != "functions/"+f.Name {
				t.Errorf("CodeUri = %q, want functions/%s", f.CodeURI, f.Name)
			}
			if f.Dir != filepath.Join(tpl.Dir, "functions", f.Name) {
				t.Errorf("Dir = %q", f.Dir)
			}
			// Globals merged in.
			if f.Runtime != "provided.al2023" || f.Handler != "bootstrap" || !reflect.DeepEqual(f.Architectures, []string{"arm64"}) {
				t.Errorf("runtime/handler/arch = %q %q %v", f.Runtime, f.Handler, f.Architectures)
			}
			if f.BuildMethod != "makefile" {
				t.Errorf("BuildMethod = %q", f.BuildMethod)
			}
			env, _ := f.Env()
			for k, v := range map[string]string{"LOG_LEVEL": "INFO", "INVENTORY_STRATEGY": "gated", "RESERVATION_TTL": "15m", "DATABASE_NAME": "checkout"} {
				if env[k] != v {
					t.Errorf("env %s = %q, want %q", k, env[k], v)
				}
			}
			if f.Timeout <= 0 || f.MemorySize < 128 {
				t.Errorf("Timeout %s MemorySize %d", f.Timeout, f.MemorySize)
			}
		})
	}
	api := tpl.Functions["ApiFunction"]
	if api.Timeout != 29*time.Second || api.MemorySize != 512 {
		t.Errorf("ApiFunction timeout/memory = %s/%d, want 29s/512 (function overrides Globals)", api.Timeout, api.MemorySize)
	}
	if tpl.Functions["ReserveStockFunction"].Timeout != 10*time.Second {
		t.Errorf("ReserveStockFunction timeout = %s, want the Globals 10s", tpl.Functions["ReserveStockFunction"].Timeout)
	}
	// Function env merges with Globals env; resource-derived values stay references.
	_, refs := api.Env()
	if r, ok := refs["STATE_MACHINE_ARN"].Ref(); !ok || r != "CheckoutStateMachine" {
		t.Errorf("STATE_MACHINE_ARN = %s, want !Ref CheckoutStateMachine", refs["STATE_MACHINE_ARN"])
	}
	if r, ok := refs["DATABASE_SECRET_ARN"].Ref(); !ok || r != "AppDatabaseSecret" {
		t.Errorf("DATABASE_SECRET_ARN = %s, want !Ref AppDatabaseSecret (the least-privilege role)", refs["DATABASE_SECRET_ARN"])
	}
	_, mrefs := tpl.Functions["MigrateFunction"].Env()
	if res, attr, ok := mrefs["DATABASE_SECRET_ARN"].GetAtt(); !ok || res != "DatabaseCluster" || attr != "MasterUserSecret.SecretArn" {
		t.Errorf("MigrateFunction DATABASE_SECRET_ARN = %s (condition CreateDatabase should pick the cluster's owner secret)", mrefs["DATABASE_SECRET_ARN"])
	}
	if _, refs := tpl.Functions["AuthorizerFunction"].Env(); refs["CHECKOUT_JWKS_URL"].String() != "!Ref JwksUrl" {
		t.Errorf("CHECKOUT_JWKS_URL (parameter without default) should stay !Ref JwksUrl, got %s", refs["CHECKOUT_JWKS_URL"])
	}
}

func TestRepoTemplateExistingDatabaseOverride(t *testing.T) {
	t.Parallel()
	tpl := loadRepoTemplate(t)
	const secret = "arn:aws:secretsmanager:us-east-1:000000000000:secret:db"
	r, err := tpl.Resolve(map[string]string{"ExistingDatabaseSecretArn": secret, "ExistingProxyEndpoint": "db.local"})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Conditions["UseExistingDatabase"] || r.Conditions["CreateDatabase"] {
		t.Fatalf("conditions = %v", r.Conditions)
	}
	// The owner's secret goes to the setup function only; the steps use
	// the application role's (a resource: not a literal).
	env, refs := r.Functions["ReserveStockFunction"].Env()
	if env["DATABASE_PROXY_ENDPOINT"] != "db.local" || refs["DATABASE_SECRET_ARN"].String() != "!Ref AppDatabaseSecret" {
		t.Errorf("env = %v refs %v", env, refs)
	}
	if env, _ := r.Functions["MigrateFunction"].Env(); env["DATABASE_SECRET_ARN"] != secret {
		t.Errorf("migrate env = %v; want the owner's secret", env)
	}
	// The original is untouched.
	if _, refs := tpl.Functions["MigrateFunction"].Env(); refs["DATABASE_SECRET_ARN"].IsNull() {
		t.Error("Resolve modified the receiver")
	}
}

func TestRepoTemplateRoutes(t *testing.T) {
	t.Parallel()
	tpl := loadRepoTemplate(t)
	type route struct {
		method, path, fn, authorizer string
		apiKey                       bool
	}
	want := []route{
		{"GET", "/v1/admin/inventory/{sku}", "ApiFunction", "JwtAuthorizer", true},
		{"OPTIONS", "/v1/admin/inventory/{sku}", "ApiFunction", "", false},
		{"PUT", "/v1/admin/inventory/{sku}", "ApiFunction", "JwtAuthorizer", true},
		{"DELETE", "/v1/admin/inventory/{sku}/gate", "ApiFunction", "JwtAuthorizer", true},
		{"GET", "/v1/admin/inventory/{sku}/gate", "ApiFunction", "JwtAuthorizer", true},
		{"OPTIONS", "/v1/admin/inventory/{sku}/gate", "ApiFunction", "", false},
		{"PUT", "/v1/admin/inventory/{sku}/gate", "ApiFunction", "JwtAuthorizer", true},
		{"OPTIONS", "/v1/admin/products/{sku}", "ApiFunction", "", false},
		{"PUT", "/v1/admin/products/{sku}", "ApiFunction", "JwtAuthorizer", true},
		{"OPTIONS", "/v1/carts", "ApiFunction", "", false},
		{"POST", "/v1/carts", "ApiFunction", "JwtAuthorizer", true},
		{"DELETE", "/v1/carts/{id}", "ApiFunction", "JwtAuthorizer", true},
		{"GET", "/v1/carts/{id}", "ApiFunction", "JwtAuthorizer", true},
		{"OPTIONS", "/v1/carts/{id}", "ApiFunction", "", false},
		{"OPTIONS", "/v1/carts/{id}/items/{sku}", "ApiFunction", "", false},
		{"PUT", "/v1/carts/{id}/items/{sku}", "ApiFunction", "JwtAuthorizer", true},
		{"OPTIONS", "/v1/checkouts", "ApiFunction", "", false},
		{"POST", "/v1/checkouts", "ApiFunction", "JwtAuthorizer", true},
		{"GET", "/v1/checkouts/{id}", "ApiFunction", "JwtAuthorizer", true},
		{"OPTIONS", "/v1/checkouts/{id}", "ApiFunction", "", false},
		{"GET", "/v1/health", "ApiFunction", "", false},
		{"GET", "/v1/orders/{id}", "ApiFunction", "JwtAuthorizer", true},
		{"OPTIONS", "/v1/orders/{id}", "ApiFunction", "", false},
		{"GET", "/v1/products/{sku}", "ApiFunction", "", true},
		{"OPTIONS", "/v1/products/{sku}", "ApiFunction", "", false},
		{"POST", "/v1/webhooks/stripe", "StripeWebhookFunction", "", false},
	}
	var got []route
	for _, r := range tpl.Routes {
		if r.Api != "CheckoutApi" {
			t.Errorf("route %s %s on %s", r.Method, r.Path, r.Api)
		}
		got = append(got, route{r.Method, r.Path, r.FunctionID, r.Authorizer, r.ApiKeyRequired})
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("routes:\n got %v\nwant %v", got, want)
	}
}

func TestRepoTemplateApiAuthAndUsagePlan(t *testing.T) {
	t.Parallel()
	tpl := loadRepoTemplate(t)
	api, err := tpl.Api()
	if err != nil {
		t.Fatal(err)
	}
	if api.LogicalID != "CheckoutApi" || api.StageName != "dev" || api.DefaultAuthorizer != "JwtAuthorizer" || !api.ApiKeyRequired {
		t.Errorf("api = %+v", api)
	}
	z := api.Authorizers["JwtAuthorizer"]
	want := &sam.Authorizer{Name: "JwtAuthorizer", PayloadType: "TOKEN", FunctionID: "AuthorizerFunction",
		IdentityHeader: "Authorization", ValidationExpression: "^Bearer [-0-9A-Za-z._~+/]+=*$", ResultTTL: 300 * time.Second}
	if !reflect.DeepEqual(z, want) {
		t.Errorf("authorizer = %+v, want %+v", z, want)
	}
	// Per-method buckets and no plan-wide one: catalog reads have their own
	// budget, so they cannot starve checkouts; no quota on the public key.
	plan := api.UsagePlan
	if plan == nil || plan.LogicalID != "StorefrontUsagePlan" || plan.RateLimit != 0 || plan.QuotaLimit != 0 {
		t.Fatalf("usage plan = %+v; want StorefrontUsagePlan, no plan-wide throttle, no quota", plan)
	}
	for _, r := range tpl.Routes {
		if !r.ApiKeyRequired {
			continue
		}
		th, ok := plan.MethodThrottle(r.Method, r.Path)
		want := sam.Throttle{BurstLimit: 200, RateLimit: 100}
		if !ok || th != want {
			t.Errorf("%s %s: throttle %+v (%v); want its own bucket %+v", r.Method, r.Path, th, ok, want)
		}
	}

	over, err := tpl.Resolve(map[string]string{"ThrottleBurstLimit": "5", "ThrottleRateLimit": "2", "QuotaLimit": "50",
		"QuotaPeriod": "WEEK", "AuthorizerResultTtl": "0", "StageName": "local", "CatalogThrottleRateLimit": "7"})
	if err != nil {
		t.Fatal(err)
	}
	oa, _ := over.Api()
	op := oa.UsagePlan
	if th, _ := op.MethodThrottle("POST", "/v1/checkouts"); th != (sam.Throttle{BurstLimit: 5, RateLimit: 2}) {
		t.Errorf("overridden checkout throttle %+v", th)
	}
	if th, _ := op.MethodThrottle("GET", "/v1/products/{sku}"); th != (sam.Throttle{BurstLimit: 200, RateLimit: 7}) {
		t.Errorf("overridden catalog throttle %+v", th)
	}
	if op.QuotaLimit != 50 || op.QuotaWindow() != 7*24*time.Hour || oa.StageName != "local" || oa.Authorizers["JwtAuthorizer"].ResultTTL != 0 {
		t.Errorf("overridden api = %+v plan %+v", oa, op)
	}
}

func TestRepoTemplateQueues(t *testing.T) {
	t.Parallel()
	tpl := loadRepoTemplate(t)
	pairs := map[string]string{
		"NotificationQueue":  "NotificationDLQ",
		"ShippingQueue":      "ShippingDLQ",
		"AnalyticsQueue":     "AnalyticsDLQ",
		"ManualReviewQueue":  "ManualReviewDLQ",
		"PaymentEventsQueue": "PaymentEventsDLQ",
		"StartQueue":         "StartDLQ",
	}
	var ids []string
	for src, dlq := range pairs {
		ids = append(ids, src, dlq)
	}
	sort.Strings(ids)
	if got := tpl.QueueIDs(); !reflect.DeepEqual(got, ids) {
		t.Fatalf("queues = %v, want %v", got, ids)
	}
	for src, dlq := range pairs {
		q, d := tpl.Queues[src], tpl.Queues[dlq]
		receives := 3
		if src == "StartQueue" {
			receives = 100 // a throttled start is retried for a while before it is given up
		}
		if q.Redrive == nil || q.Redrive.DeadLetterQueue != dlq || q.Redrive.MaxReceiveCount != receives {
			t.Errorf("%s redrive = %+v", src, q.Redrive)
		}
		if d.RedriveAllow == nil || d.RedriveAllow.Permission != "byQueue" || !reflect.DeepEqual(d.RedriveAllow.SourceQueues, []string{src}) {
			t.Errorf("%s redrive allow = %+v", dlq, d.RedriveAllow)
		}
		if d.MessageRetentionPeriod != 14*24*time.Hour {
			t.Errorf("%s retention = %s, want 14 days", dlq, d.MessageRetentionPeriod)
		}
		if d.Redrive != nil {
			t.Errorf("%s: a DLQ should not redrive", dlq)
		}
	}
	if n := tpl.Queues["NotificationQueue"].Name; n != "checkout-notification" {
		t.Errorf("NotificationQueue name = %q (QueueName !Sub with AWS::StackName)", n)
	}
	// Every SQS consumer: batch 10, partial failures, visibility >= 6x its timeout.
	consumers := 0
	for _, id := range tpl.FunctionIDs() {
		f := tpl.Functions[id]
		for _, ev := range f.Events {
			if ev.SQS == nil {
				continue
			}
			consumers++
			q := tpl.Queues[ev.SQS.Queue]
			if ev.SQS.BatchSize != 10 || !ev.SQS.ReportsBatchItemFailures() || !ev.SQS.Enabled {
				t.Errorf("%s: %+v", id, ev.SQS)
			}
			if q.VisibilityTimeout < 6*f.Timeout {
				t.Errorf("%s: visibility %s < 6 x %s", q.LogicalID, q.VisibilityTimeout, f.Timeout)
			}
		}
	}
	if consumers != 5 {
		t.Errorf("SQS consumers = %d, want 5 (notification, shipping, analytics, payment-reconciler, starter)", consumers)
	}

	over, err := tpl.Resolve(map[string]string{"MaxReceiveCount": "7", "AWS::StackName": "dev"})
	if err != nil {
		t.Fatal(err)
	}
	if q := over.Queues["ShippingQueue"]; q.Redrive.MaxReceiveCount != 7 || q.Name != "dev-shipping" {
		t.Errorf("overridden ShippingQueue = %+v", q)
	}
	if d := over.Queues["ShippingDLQ"]; !reflect.DeepEqual(d.RedriveAllow.SourceQueues, []string{"ShippingQueue"}) {
		t.Errorf("source queues after stack rename = %v", d.RedriveAllow.SourceQueues)
	}
}

func TestRepoTemplateSchedule(t *testing.T) {
	t.Parallel()
	tpl := loadRepoTemplate(t)
	f := tpl.Functions["SweeperFunction"]
	if len(f.Events) != 1 || f.Events[0].Schedule == nil {
		t.Fatalf("sweeper events = %+v", f.Events)
	}
	s := f.Events[0].Schedule
	if s.Expression != "rate(1 minute)" || s.Interval != time.Minute || !s.Enabled {
		t.Errorf("schedule = %+v", s)
	}
}

func TestRepoTemplateStateMachine(t *testing.T) {
	t.Parallel()
	tpl := loadRepoTemplate(t)
	sm, err := tpl.StateMachine()
	if err != nil {
		t.Fatal(err)
	}
	if sm.LogicalID != "CheckoutStateMachine" || sm.Type != "STANDARD" || sm.DefinitionURI != "statemachine/checkout.asl.json" {
		t.Errorf("state machine = %+v", sm)
	}
	if sm.DefinitionPath != filepath.Join(repoRoot(t), "statemachine", "checkout.asl.json") {
		t.Errorf("DefinitionPath = %s", sm.DefinitionPath)
	}
	if !sm.Tracing || (sm.LoggingLevel != "ERROR" && sm.LoggingLevel != "ALL") {
		t.Errorf("tracing %v logging %q", sm.Tracing, sm.LoggingLevel)
	}
	want := map[string]sam.Substitution{}
	for _, fn := range []string{"ReserveStock", "ChargePayment", "AwaitAuthentication", "CreateOrder", "CapturePayment", "ReleaseStock", "RefundPayment", "MarkOutcome"} {
		want[fn+"FunctionArn"] = sam.Substitution{Placeholder: fn + "FunctionArn", Kind: sam.SubstFunctionArn, Resource: fn + "Function"}
	}
	for _, q := range []string{"Notification", "Shipping", "Analytics", "ManualReview"} {
		want[q+"QueueUrl"] = sam.Substitution{Placeholder: q + "QueueUrl", Kind: sam.SubstQueueURL, Resource: q + "Queue"}
	}
	if !reflect.DeepEqual(sm.Substitutions, want) {
		t.Errorf("substitutions:\n got %v\nwant %v", sm.Substitutions, want)
	}
}

func TestRepoTemplateRateRules(t *testing.T) {
	t.Parallel()
	tpl := loadRepoTemplate(t)
	want := []sam.RateRule{
		{WebACL: "ApiWebAcl", Name: "RateLimitPerIp", Priority: 0, Limit: 2000, Window: 5 * time.Minute, AggregateKeyType: "IP",
			Action: "Block", ResponseCode: 429, ResponseHeaders: map[string]string{"Retry-After": "300"}},
		{WebACL: "ApiWebAcl", Name: "RateLimitPerUser", Priority: 1, Limit: 300, Window: time.Minute, AggregateKeyType: "CUSTOM_KEYS",
			CustomKeys: []sam.RateKey{{Kind: "Header", Name: "authorization"}},
			Action:     "Block", ResponseCode: 429, ResponseHeaders: map[string]string{"Retry-After": "60"}},
	}
	if !reflect.DeepEqual(tpl.RateRules, want) {
		t.Errorf("rate rules:\n got %+v\nwant %+v", tpl.RateRules, want)
	}
	over, err := tpl.Resolve(map[string]string{"WafUserRateLimit": "10"})
	if err != nil {
		t.Fatal(err)
	}
	if over.RateRules[1].Limit != 10 {
		t.Errorf("overridden per-user limit = %d", over.RateRules[1].Limit)
	}
}

func TestRepoTemplateParameterValidation(t *testing.T) {
	t.Parallel()
	tpl := loadRepoTemplate(t)
	cases := []struct {
		name   string
		params map[string]string
		want   string
	}{
		{"unknown parameter", map[string]string{"Nope": "1"}, "template: Parameters: Nope: override for a parameter the template does not declare"},
		{"allowed values", map[string]string{"QuotaPeriod": "YEAR"}, `template: Parameters: QuotaPeriod: value "YEAR" is not one of AllowedValues [DAY WEEK MONTH]`},
		{"min value", map[string]string{"MaxReceiveCount": "0"}, "template: Parameters: MaxReceiveCount: value 0 is below MinValue 1"},
		{"not a number", map[string]string{"ThrottleRateLimit": "fast"}, `template: Parameters: ThrottleRateLimit: value "fast" is not a Number`},
		{"pattern", map[string]string{"JwksUrl": "http://idp"}, `template: Parameters: JwksUrl: value "http://idp" does not match AllowedPattern ^https://.+$`},
		{"read-only pseudo", map[string]string{"AWS::NoValue": "x"}, "template: Parameters: AWS::NoValue: unknown or read-only pseudo parameter"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := tpl.Resolve(c.params)
			if err == nil || err.Error() != c.want {
				t.Fatalf("err = %v\nwant %s", err, c.want)
			}
		})
	}
}
