package sam

import (
	"errors"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestShortAndLongFormTags(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, src, want string
	}{
		{"Ref", "!Ref Foo", "!Ref Foo"},
		{"Ref long", "{Ref: Foo}", "!Ref Foo"},
		{"GetAtt dotted", "!GetAtt Db.MasterUserSecret.SecretArn", "!GetAtt Db.MasterUserSecret.SecretArn"},
		{"GetAtt list", "!GetAtt [Q, Arn]", "!GetAtt Q.Arn"},
		{"GetAtt long", `{"Fn::GetAtt": [Q, Arn]}`, "!GetAtt Q.Arn"},
		{"Sub", "!Sub 'x-${AWS::Region}'", `!Sub "x-${AWS::Region}"`},
		{"Join nested", "!Join [',', [a, !Ref B]]", `!Join [",", ["a", !Ref B]]`},
		{"If", "!If [C, a, b]", `!If ["C", "a", "b"]`},
		{"Select Split", "!Select [1, !Split ['@', !Ref E]]", `!Select ["1", !Split ["@", !Ref E]]`},
		{"FindInMap", "!FindInMap [M, k1, k2]", `!FindInMap ["M", "k1", "k2"]`},
		{"Condition", "!Condition IsProd", `!Condition "IsProd"`},
		{"plain map", "{a: 1, Ref: 2}", `{a: "1", Ref: "2"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var v Value
			if err := yaml.Unmarshal([]byte(c.src), &v); err != nil {
				t.Fatal(err)
			}
			if got := v.String(); got != c.want {
				t.Errorf("got %s, want %s", got, c.want)
			}
		})
	}
}

func TestTagErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ src, want string }{
		{"!Bogus x", "line 1: unknown YAML tag !Bogus"},
		{"!GetAtt NoDot", `line 1: !GetAtt "NoDot": want Resource.Attribute`},
		{"!GetAtt [a, b, c]", "line 1: Fn::GetAtt takes [resource, attribute], got 3 elements"},
		{"!Ref [a]", `line 1: Ref takes a name, got ["a"]`},
	} {
		var v Value
		err := yaml.Unmarshal([]byte(c.src), &v)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.src, err, c.want)
		}
	}
}

// evalTemplate declares parameters, mappings and conditions and resolves
// the environment of one function whose variables are the cases.
const evalTemplate = `
Parameters:
  Env: {Type: String, Default: prod}
  Email: {Type: String, Default: ops@example.com}
  Subnets: {Type: CommaDelimitedList, Default: "a, b,c"}
  NoDefault: {Type: String}
Mappings:
  Sizes:
    prod: {Memory: 1024}
    dev: {Memory: 128}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  IsDev: !Not [!Condition IsProd]
  Both: !And [!Condition IsProd, !Equals [!Ref "AWS::Region", eu-west-1]]
  Either: !Or [!Condition IsDev, {Condition: IsProd}]
Resources:
  Q:
    Type: AWS::SQS::Queue
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/fn
      MemorySize: !FindInMap [Sizes, !Ref Env, Memory]
      Environment:
        Variables:
          REF: !Ref Env
          SUB: !Sub "${Env}-${AWS::StackName}-${AWS::Region}-${!Literal}"
          SUB_VARS: !Sub ["${A}/${B}", {A: !Ref Env, B: x}]
          SUB_RES: !Sub "https://${Q.QueueName}/${Env}"
          IF: !If [IsProd, yes-prod, not-prod]
          IF_NOVALUE: !If [IsDev, x, !Ref "AWS::NoValue"]
          DOMAIN: !Select [1, !Split ["@", !Ref Email]]
          JOIN: !Join ["+", !Ref Subnets]
          JOIN_LONG: {"Fn::Join": ["-", [a, {"Ref": Env}]]}
          SELECT_LIST: !Select [2, !Ref Subnets]
          BOTH: !If [Both, "1", "0"]
          EITHER: !If [Either, "1", "0"]
          B64: !Base64 hi
          QURL: !Ref Q
          QARN: !GetAtt Q.Arn
          MISSING: !Ref NoDefault
`

func TestIntrinsicEvaluation(t *testing.T) {
	t.Parallel()
	check := func(t *testing.T, tpl *Template, want map[string]string, wantRefs map[string]string) {
		t.Helper()
		env, refs := tpl.Functions["Fn"].Env()
		for k, v := range want {
			if got, ok := env[k]; !ok || got != v {
				t.Errorf("%s = %q (present %v), want %q", k, got, ok, v)
			}
		}
		for k, v := range wantRefs {
			if got := refs[k].String(); got != v {
				t.Errorf("%s = %s, want %s", k, got, v)
			}
		}
	}
	tpl := mustParse(t, evalTemplate)
	check(t, tpl, map[string]string{
		"REF": "prod", "SUB": "prod-checkout-us-east-1-${Literal}", "SUB_VARS": "prod/x", "IF": "yes-prod",
		"DOMAIN": "example.com", "JOIN": "a+b+c", "JOIN_LONG": "a-prod", "SELECT_LIST": "c",
		"BOTH": "0", "EITHER": "1", "B64": "aGk=",
	}, map[string]string{
		"QURL": "!Ref Q", "QARN": "!GetAtt Q.Arn", "MISSING": "!Ref NoDefault",
		"SUB_RES": `!Sub "https://${Q.QueueName}/${Env}"`,
	})
	if _, ok := tpl.Functions["Fn"].Environment["IF_NOVALUE"]; ok {
		t.Error("IF_NOVALUE should be removed by AWS::NoValue")
	}
	if tpl.Functions["Fn"].MemorySize != 1024 {
		t.Errorf("MemorySize via FindInMap = %d", tpl.Functions["Fn"].MemorySize)
	}
	if !tpl.Conditions["IsProd"] || tpl.Conditions["IsDev"] || tpl.Conditions["Both"] || !tpl.Conditions["Either"] {
		t.Errorf("conditions = %v", tpl.Conditions)
	}

	dev, err := tpl.Resolve(map[string]string{"Env": "dev", "AWS::Region": "eu-west-1", "NoDefault": "given"})
	if err != nil {
		t.Fatal(err)
	}
	check(t, dev, map[string]string{"REF": "dev", "IF": "not-prod", "IF_NOVALUE": "x", "SUB": "dev-checkout-eu-west-1-${Literal}",
		"BOTH": "0", "EITHER": "1", "MISSING": "given"}, nil)
	if dev.Functions["Fn"].MemorySize != 128 {
		t.Errorf("dev MemorySize = %d", dev.Functions["Fn"].MemorySize)
	}
	prodEU, err := tpl.Resolve(map[string]string{"AWS::Region": "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	if !prodEU.Conditions["Both"] {
		t.Error("Both should hold for prod in eu-west-1")
	}
}

func TestGlobalsMerge(t *testing.T) {
	t.Parallel()
	tpl := mustParse(t, `
Globals:
  Function:
    Timeout: 10
    Runtime: provided.al2023
    Architectures: [arm64]
    Layers: [g1]
    Environment:
      Variables: {A: global, B: global}
Resources:
  Plain:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: functions/plain/}
  Custom:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/custom
      Timeout: 20
      Architectures: [x86_64]
      Environment:
        Variables: {B: local, C: local}
`)
	p, c := tpl.Functions["Plain"], tpl.Functions["Custom"]
	if p.Timeout != 10e9 || c.Timeout != 20e9 {
		t.Errorf("timeouts %s %s", p.Timeout, c.Timeout)
	}
	if p.Name != "plain" || p.MemorySize != DefaultMemorySize {
		t.Errorf("plain = %+v", p)
	}
	penv, _ := p.Env()
	cenv, _ := c.Env()
	if penv["A"] != "global" || penv["B"] != "global" || cenv["A"] != "global" || cenv["B"] != "local" || cenv["C"] != "local" {
		t.Errorf("env plain %v custom %v", penv, cenv)
	}
	// Lists are additive, as SAM merges them.
	if got := strings.Join(c.Architectures, ","); got != "arm64,x86_64" {
		t.Errorf("architectures = %s", got)
	}
}

func TestFieldErrors(t *testing.T) {
	t.Parallel()
	const head = `
Parameters:
  Burst: {Type: Number}
Resources:
  Q: {Type: AWS::SQS::Queue}
  Auth:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: functions/auth}
`
	cases := []struct {
		name, body, want string
		unsupported      bool
	}{
		{"cron schedule", `
  Sweep:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/sweep
      Events:
        Tick: {Type: Schedule, Properties: {Schedule: "cron(0 * * * ? *)"}}`,
			`template: Sweep: Events.Tick.Properties.Schedule: not supported by the local runtime: cron schedule "cron(0 * * * ? *)" (use rate(...))`, true},
		{"bad rate unit", `
  Sweep:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/sweep
      Events:
        Tick: {Type: Schedule, Properties: {Schedule: "rate(1 minutes)"}}`,
			`template: Sweep: Events.Tick.Properties.Schedule: schedule "rate(1 minutes)": use "minute" for 1 and "minutes" otherwise`, false},
		{"timeout not a number", `
  F:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: functions/f, Timeout: soon}`,
			`template: F: Timeout: expected an integer, got "soon"`, false},
		{"inline code", `
  F:
    Type: AWS::Serverless::Function
    Properties: {InlineCode: "x", Handler: index.handler}`,
			`template: F: InlineCode: not supported by the local runtime: inline code; use CodeUri`, true},
		{"implicit api", `
  F:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/f
      Events:
        Get: {Type: Api, Properties: {Path: /x, Method: get}}`,
			`template: F: Events.Get.Properties.RestApiId: not supported by the local runtime: the implicit ServerlessRestApi; set RestApiId: !Ref <Api>`, true},
		{"unsupported event", `
  F:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/f
      Events:
        Up: {Type: S3, Properties: {Bucket: b}}`,
			`template: F: Events.Up.Type: not supported by the local runtime: event type "S3" (Api, SQS and Schedule are)`, true},
		{"sqs queue not a queue", `
  F:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/f
      Events:
        In: {Type: SQS, Properties: {Queue: !GetAtt Auth.Arn}}`,
			`template: F: Events.In.Properties.Queue: Auth is not an AWS::SQS::Queue of this template`, false},
		{"sqs queue by url", `
  F:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/f
      Events:
        In: {Type: SQS, Properties: {Queue: !Ref Q}}`,
			`template: F: Events.In.Properties.Queue: not supported by the local runtime: want !GetAtt X.Arn, got !Ref Q`, true},
		{"usage plan param without default", `
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: v1
      Auth:
        UsagePlan:
          CreateUsagePlan: PER_API
          Throttle: {BurstLimit: !Ref Burst, RateLimit: 1}`,
			`template: Api: Auth.UsagePlan.Throttle.BurstLimit: no local value: !Ref Burst (a resource, or a parameter with no Default and no override)`, false},
		{"unknown default authorizer", `
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: v1
      Auth: {DefaultAuthorizer: Jwt}`,
			`template: Api: Auth.DefaultAuthorizer: no authorizer "Jwt" in Auth.Authorizers`, false},
		{"authorizer not a function", `
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: v1
      Auth:
        Authorizers:
          Jwt: {FunctionArn: !GetAtt Q.Arn}`,
			`template: Api: Auth.Authorizers.Jwt.FunctionArn: Q is not an AWS::Serverless::Function of this template`, false},
		{"redrive to unknown queue", `
  Src:
    Type: AWS::SQS::Queue
    Properties:
      RedrivePolicy: {deadLetterTargetArn: !GetAtt Nope.Arn, maxReceiveCount: 3}`,
			`template: Src: RedrivePolicy.deadLetterTargetArn: line 13: !GetAtt Nope.Arn: no resource Nope`, false},
		{"redrive count", `
  Src:
    Type: AWS::SQS::Queue
    Properties:
      RedrivePolicy: {deadLetterTargetArn: !GetAtt Q.Arn, maxReceiveCount: 0}`,
			`template: Src: RedrivePolicy.maxReceiveCount: 0 is outside 1..1000`, false},
		{"redrive allow unknown source", `
  Dlq:
    Type: AWS::SQS::Queue
    Properties:
      RedriveAllowPolicy:
        redrivePermission: byQueue
        sourceQueueArns: [!Sub "arn:aws:sqs:${AWS::Region}:${AWS::AccountId}:ghost"]`,
			`template: Dlq: RedriveAllowPolicy.sourceQueueArns[0]: ARN arn:aws:sqs:us-east-1:000000000000:ghost names queue "ghost", which this template does not declare`, false},
		{"inline state machine", `
  Sm:
    Type: AWS::Serverless::StateMachine
    Properties: {Definition: {StartAt: A}}`,
			`template: Sm: Definition: not supported by the local runtime: an inline definition; use DefinitionUri`, true},
		{"substitution of an unsupported resource", `
  Sm:
    Type: AWS::Serverless::StateMachine
    Properties:
      DefinitionUri: sm.json
      DefinitionSubstitutions: {X: !GetAtt Auth.FunctionUrl}`,
			`template: Sm: DefinitionSubstitutions.X: not supported by the local runtime: !GetAtt Auth.FunctionUrl (want a plain value, a function's !GetAtt .Arn or !Ref, or a queue's !Ref, .Arn, .QueueUrl or .QueueName)`, true},
		{"ref to nothing", `
  F:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/f
      Environment: {Variables: {X: !Ref Ghost}}`,
			`template: F: Environment.Variables.X: line 14: Ref to Ghost, which is neither a parameter nor a resource`, false},
		{"waf window", `
  Acl:
    Type: AWS::WAFv2::WebACL
    Properties:
      Rules:
        - Name: r
          Priority: 0
          Statement: {RateBasedStatement: {Limit: 100, AggregateKeyType: IP, EvaluationWindowSec: 30}}`,
			`template: Acl: Rules[0].Statement.RateBasedStatement.EvaluationWindowSec: want 60, 120, 300 or 600, got 30`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(head + c.body))
			if err == nil {
				t.Fatalf("no error, want %s", c.want)
			}
			if err.Error() != c.want {
				t.Errorf("err = %v\nwant  %s", err, c.want)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Errorf("err is not a *FieldError: %T", err)
			}
			if got := errors.Is(err, ErrUnsupported); got != c.unsupported {
				t.Errorf("errors.Is(ErrUnsupported) = %v, want %v", got, c.unsupported)
			}
		})
	}
}
