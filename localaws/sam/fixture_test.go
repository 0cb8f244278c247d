package sam

import (
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// The model read from a file: testdata/template.yaml.

func TestFixtureFunctions(t *testing.T) {
	t.Parallel()
	tpl := loadFixture(t)
	if got, want := tpl.FunctionIDs(), []string{"ApiFunction", "AuthFunction", "PackFunction", "PickFunction", "TidyFunction"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("functions = %v, want %v", got, want)
	}
	for _, id := range tpl.FunctionIDs() {
		f := tpl.Functions[id]
		if f.CodeURI != "functions/"+f.Name || f.Dir != filepath.Join(tpl.Dir, "functions", f.Name) {
			t.Errorf("%s: name %q CodeUri %q Dir %q", id, f.Name, f.CodeURI, f.Dir)
		}
		// Globals merged in.
		if f.Runtime != "provided.al2023" || f.Handler != "bootstrap" || !reflect.DeepEqual(f.Architectures, []string{"arm64"}) {
			t.Errorf("%s: runtime/handler/arch = %q %q %v", id, f.Runtime, f.Handler, f.Architectures)
		}
		if env, _ := f.Env(); env["LOG_LEVEL"] != "INFO" {
			t.Errorf("%s: LOG_LEVEL = %q, want the parameter default", id, env["LOG_LEVEL"])
		}
	}
	if f, ok := tpl.FunctionByName("pick"); !ok || f.LogicalID != "PickFunction" || f.BuildMethod != "go1.x" {
		t.Errorf("FunctionByName(pick) = %+v, %v", f, ok)
	}
	api := tpl.Functions["ApiFunction"]
	if api.Timeout != 29*time.Second || api.MemorySize != 512 {
		t.Errorf("ApiFunction timeout/memory = %s/%d, want 29s/512 (function overrides Globals)", api.Timeout, api.MemorySize)
	}
	if pick := tpl.Functions["PickFunction"]; pick.Timeout != 10*time.Second || pick.MemorySize != 128 {
		t.Errorf("PickFunction timeout/memory = %s/%d, want the Globals 10s/128", pick.Timeout, pick.MemorySize)
	}
	// Function env merges with Globals env; resource-derived values stay references.
	_, refs := api.Env()
	if r, ok := refs["FLOW_ARN"].Ref(); !ok || r != "OrderFlow" {
		t.Errorf("FLOW_ARN = %s, want !Ref OrderFlow", refs["FLOW_ARN"])
	}
	if res, attr, ok := refs["TABLE_ARN"].GetAtt(); !ok || res != "Table" || attr != "Arn" {
		t.Errorf("TABLE_ARN = %s (condition UseExistingTable is false: the table's own ARN)", refs["TABLE_ARN"])
	}
	if _, refs := tpl.Functions["AuthFunction"].Env(); refs["IDENTITY_URL"].String() != "!Ref IdentityUrl" {
		t.Errorf("IDENTITY_URL (parameter without default) should stay !Ref IdentityUrl, got %s", refs["IDENTITY_URL"])
	}

	over, err := tpl.Resolve(map[string]string{"ExistingTableArn": "arn:aws:dynamodb:us-east-1:000000000000:table/t"})
	if err != nil {
		t.Fatal(err)
	}
	if !over.Conditions["UseExistingTable"] || over.Conditions["CreateTable"] {
		t.Errorf("conditions = %v", over.Conditions)
	}
	if env, _ := over.Functions["PickFunction"].Env(); env["TABLE_ARN"] != "arn:aws:dynamodb:us-east-1:000000000000:table/t" {
		t.Errorf("overridden TABLE_ARN = %q", env["TABLE_ARN"])
	}
	if _, refs := tpl.Functions["PickFunction"].Env(); refs["TABLE_ARN"].IsNull() {
		t.Error("Resolve modified the receiver")
	}
}

func TestFixtureRoutesAndAuth(t *testing.T) {
	t.Parallel()
	tpl := loadFixture(t)
	type route struct {
		method, path, fn, authorizer string
		apiKey                       bool
	}
	want := []route{
		{"GET", "/health", "ApiFunction", "", false},
		{"POST", "/orders", "ApiFunction", "TokenAuthorizer", true},
		{"GET", "/orders/{id}", "ApiFunction", "TokenAuthorizer", true},
	}
	var got []route
	for _, r := range tpl.Routes {
		if r.Api != "ShopApi" {
			t.Errorf("route %s %s on %s", r.Method, r.Path, r.Api)
		}
		got = append(got, route{r.Method, r.Path, r.FunctionID, r.Authorizer, r.ApiKeyRequired})
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("routes:\n got %v\nwant %v", got, want)
	}

	api, err := tpl.Api()
	if err != nil {
		t.Fatal(err)
	}
	if api.LogicalID != "ShopApi" || api.StageName != "dev" || api.DefaultAuthorizer != "TokenAuthorizer" || !api.ApiKeyRequired {
		t.Errorf("api = %+v", api)
	}
	wantAuth := &Authorizer{Name: "TokenAuthorizer", PayloadType: "TOKEN", FunctionID: "AuthFunction",
		IdentityHeader: "Authorization", ValidationExpression: "^Bearer .+$", ResultTTL: time.Minute}
	if z := api.Authorizers["TokenAuthorizer"]; !reflect.DeepEqual(z, wantAuth) {
		t.Errorf("authorizer = %+v, want %+v", z, wantAuth)
	}
	plan := &UsagePlan{CreateUsagePlan: "PER_API", BurstLimit: 20, RateLimit: 10, QuotaLimit: 1000, QuotaPeriod: "DAY"}
	if !reflect.DeepEqual(api.UsagePlan, plan) || api.UsagePlan.QuotaWindow() != 24*time.Hour {
		t.Errorf("usage plan = %+v, want %+v", api.UsagePlan, plan)
	}

	over, err := tpl.Resolve(map[string]string{"BurstLimit": "5", "QuotaPeriod": "WEEK", "AuthorizerTtl": "0", "StageName": "local"})
	if err != nil {
		t.Fatal(err)
	}
	oa, _ := over.Api()
	plan = &UsagePlan{CreateUsagePlan: "PER_API", BurstLimit: 5, RateLimit: 10, QuotaLimit: 1000, QuotaPeriod: "WEEK"}
	if !reflect.DeepEqual(oa.UsagePlan, plan) || oa.StageName != "local" || oa.Authorizers["TokenAuthorizer"].ResultTTL != 0 {
		t.Errorf("overridden api = %+v plan %+v", oa, oa.UsagePlan)
	}
}

func TestFixtureQueuesAndEvents(t *testing.T) {
	t.Parallel()
	tpl := loadFixture(t)
	if got := tpl.QueueIDs(); !reflect.DeepEqual(got, []string{"PackDLQ", "PackQueue"}) {
		t.Fatalf("queues = %v", got)
	}
	q, d := tpl.Queues["PackQueue"], tpl.Queues["PackDLQ"]
	if q.Name != DefaultStackName+"-pack" || q.VisibilityTimeout != 3*time.Minute {
		t.Errorf("PackQueue = %+v (QueueName !Sub with AWS::StackName)", q)
	}
	if q.Redrive == nil || q.Redrive.DeadLetterQueue != "PackDLQ" || q.Redrive.MaxReceiveCount != 4 {
		t.Errorf("redrive = %+v", q.Redrive)
	}
	if d.RedriveAllow == nil || d.RedriveAllow.Permission != "byQueue" || !reflect.DeepEqual(d.RedriveAllow.SourceQueues, []string{"PackQueue"}) {
		t.Errorf("redrive allow = %+v", d.RedriveAllow)
	}
	if d.MessageRetentionPeriod != 14*24*time.Hour || d.Redrive != nil {
		t.Errorf("PackDLQ = %+v", d)
	}
	if byName, ok := tpl.QueueByName(DefaultStackName + "-pack-dlq"); !ok || byName != d {
		t.Errorf("QueueByName = %+v, %v", byName, ok)
	}

	pack := tpl.Functions["PackFunction"]
	if len(pack.Events) != 1 || pack.Events[0].SQS == nil {
		t.Fatalf("PackFunction events = %+v", pack.Events)
	}
	if ev := pack.Events[0].SQS; ev.Queue != "PackQueue" || ev.BatchSize != 5 || !ev.ReportsBatchItemFailures() || !ev.Enabled {
		t.Errorf("SQS event = %+v", ev)
	}
	tidy := tpl.Functions["TidyFunction"]
	if len(tidy.Events) != 1 || tidy.Events[0].Schedule == nil {
		t.Fatalf("TidyFunction events = %+v", tidy.Events)
	}
	if s := tidy.Events[0].Schedule; s.Expression != "rate(5 minutes)" || s.Interval != 5*time.Minute || !s.Enabled {
		t.Errorf("schedule = %+v", s)
	}

	over, err := tpl.Resolve(map[string]string{"MaxReceiveCount": "7", "AWS::StackName": "dev"})
	if err != nil {
		t.Fatal(err)
	}
	if q := over.Queues["PackQueue"]; q.Redrive.MaxReceiveCount != 7 || q.Name != "dev-pack" {
		t.Errorf("overridden PackQueue = %+v", q)
	}
	if d := over.Queues["PackDLQ"]; !reflect.DeepEqual(d.RedriveAllow.SourceQueues, []string{"PackQueue"}) {
		t.Errorf("source queues after stack rename = %v", d.RedriveAllow.SourceQueues)
	}
}

func TestFixtureStateMachine(t *testing.T) {
	t.Parallel()
	tpl := loadFixture(t)
	sm, err := tpl.StateMachine()
	if err != nil {
		t.Fatal(err)
	}
	if sm.LogicalID != "OrderFlow" || sm.Type != "STANDARD" || sm.DefinitionURI != "statemachine/flow.asl.json" ||
		sm.DefinitionPath != filepath.Join(tpl.Dir, "statemachine", "flow.asl.json") {
		t.Errorf("state machine = %+v", sm)
	}
	if !sm.Tracing || sm.LoggingLevel != "ERROR" {
		t.Errorf("tracing %v logging %q", sm.Tracing, sm.LoggingLevel)
	}
	want := map[string]Substitution{
		"PickFunctionArn": {Placeholder: "PickFunctionArn", Kind: SubstFunctionArn, Resource: "PickFunction"},
		"PackQueueUrl":    {Placeholder: "PackQueueUrl", Kind: SubstQueueURL, Resource: "PackQueue"},
	}
	if !reflect.DeepEqual(sm.Substitutions, want) {
		t.Errorf("substitutions:\n got %v\nwant %v", sm.Substitutions, want)
	}
}

func TestFixtureRateRules(t *testing.T) {
	t.Parallel()
	tpl := loadFixture(t)
	want := []RateRule{{WebACL: "ShopWebAcl", Name: "PerIp", Priority: 0, Limit: 500, Window: 5 * time.Minute, AggregateKeyType: "IP",
		Action: "Block", ResponseCode: 429, ResponseHeaders: map[string]string{"Retry-After": "300"}}}
	if !reflect.DeepEqual(tpl.RateRules, want) {
		t.Errorf("rate rules:\n got %+v\nwant %+v", tpl.RateRules, want)
	}
	over, err := tpl.Resolve(map[string]string{"IpRateLimit": "10"})
	if err != nil {
		t.Fatal(err)
	}
	if over.RateRules[0].Limit != 10 {
		t.Errorf("overridden limit = %d", over.RateRules[0].Limit)
	}
}

func TestFixtureParameterValidation(t *testing.T) {
	t.Parallel()
	tpl := loadFixture(t)
	cases := []struct {
		name   string
		params map[string]string
		want   string
	}{
		{"unknown parameter", map[string]string{"Nope": "1"}, "template: Parameters: Nope: override for a parameter the template does not declare"},
		{"allowed values", map[string]string{"QuotaPeriod": "YEAR"}, `template: Parameters: QuotaPeriod: value "YEAR" is not one of AllowedValues [DAY WEEK MONTH]`},
		{"min value", map[string]string{"MaxReceiveCount": "0"}, "template: Parameters: MaxReceiveCount: value 0 is below MinValue 1"},
		{"max value", map[string]string{"AuthorizerTtl": "3601"}, "template: Parameters: AuthorizerTtl: value 3601 is above MaxValue 3600"},
		{"not a number", map[string]string{"BurstLimit": "many"}, `template: Parameters: BurstLimit: value "many" is not a Number`},
		{"pattern", map[string]string{"IdentityUrl": "http://idp"}, `template: Parameters: IdentityUrl: value "http://idp" does not match AllowedPattern ^https://.+$`},
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
