package sam

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseRate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		expr    string
		want    time.Duration
		wantErr string
	}{
		{"rate(1 minute)", time.Minute, ""},
		{"rate(5 minutes)", 5 * time.Minute, ""},
		{" rate(2 hours) ", 2 * time.Hour, ""},
		{"rate(1 day)", 24 * time.Hour, ""},
		{"rate(1 minutes)", 0, `use "minute" for 1`},
		{"rate(3 minute)", 0, `use "minute" for 1 and "minutes" otherwise`},
		{"rate(0 minutes)", 0, "positive integer"},
		{"rate(10 seconds)", 0, "unit must be minute(s), hour(s) or day(s)"},
		{"rate(minute)", 0, "want rate(N unit)"},
		{"every minute", 0, "want rate(N unit)"},
		{"cron(0/5 * * * ? *)", 0, "cron schedule"},
	}
	for _, c := range cases {
		t.Run(c.expr, func(t *testing.T) {
			got, err := ParseRate(c.expr)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("ParseRate = %s, %v; want %s", got, err, c.want)
			}
		})
	}
	if _, err := ParseRate("cron(0 * * * ? *)"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("cron error %v should wrap ErrUnsupported", err)
	}
}

func TestRouteMatch(t *testing.T) {
	t.Parallel()
	cases := []struct {
		route        Route
		method, path string
		want         map[string]string
	}{
		{Route{Method: "GET", Path: "/v1/checkouts/{id}"}, "GET", "/v1/checkouts/abc", map[string]string{"id": "abc"}},
		{Route{Method: "GET", Path: "/v1/checkouts/{id}"}, "get", "/v1/checkouts/abc/", map[string]string{"id": "abc"}},
		{Route{Method: "GET", Path: "/v1/checkouts/{id}"}, "POST", "/v1/checkouts/abc", nil},
		{Route{Method: "GET", Path: "/v1/checkouts/{id}"}, "GET", "/v1/checkouts", nil},
		{Route{Method: "GET", Path: "/v1/checkouts/{id}"}, "GET", "/v1/checkouts/abc/x", nil},
		{Route{Method: "POST", Path: "/v1/checkouts"}, "POST", "/v1/checkouts", map[string]string{}},
		{Route{Method: "POST", Path: "/v1/checkouts"}, "POST", "/v1/checkout", nil},
		{Route{Method: "ANY", Path: "/files/{path+}"}, "DELETE", "/files/a/b/c", map[string]string{"path": "a/b/c"}},
		{Route{Method: "ANY", Path: "/files/{path+}"}, "GET", "/files", nil},
	}
	for _, c := range cases {
		got, ok := c.route.Match(c.method, c.path)
		if ok != (c.want != nil) || (ok && !reflect.DeepEqual(got, c.want)) {
			t.Errorf("%s %s on %s %s = %v %v, want %v", c.method, c.path, c.route.Method, c.route.Path, got, ok, c.want)
		}
	}
}

func TestStateMachineRender(t *testing.T) {
	t.Parallel()
	tpl := loadFixture(t)
	sm, err := tpl.StateMachine()
	if err != nil {
		t.Fatal(err)
	}
	def := `{"A":{"Resource":"${PickFunctionArn}"},"B":{"QueueUrl":"${PackQueueUrl}"},"C":"${PickFunctionArn}"}`
	if got := Placeholders(def); !reflect.DeepEqual(got, []string{"PackQueueUrl", "PickFunctionArn"}) {
		t.Errorf("Placeholders = %v", got)
	}
	out, err := sm.Render(def, func(s Substitution) (string, error) {
		switch s.Kind {
		case SubstFunctionArn:
			return "arn:aws:lambda:us-east-1:000000000000:function:" + s.Resource, nil
		case SubstQueueURL:
			return "http://127.0.0.1:9324/000000000000/" + s.Resource, nil
		}
		return "", errors.New("unexpected kind " + string(s.Kind))
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"A":{"Resource":"arn:aws:lambda:us-east-1:000000000000:function:PickFunction"},"B":{"QueueUrl":"http://127.0.0.1:9324/000000000000/PackQueue"},"C":"arn:aws:lambda:us-east-1:000000000000:function:PickFunction"}`
	if out != want {
		t.Errorf("Render =\n%s\nwant\n%s", out, want)
	}
	_, err = sm.Render(`{"X":"${Typo}"}`, func(Substitution) (string, error) { return "", nil })
	if !errors.Is(err, ErrUnknownPlaceholder) || !strings.Contains(err.Error(), "${Typo}") {
		t.Errorf("unknown placeholder err = %v", err)
	}
	boom := errors.New("no local queue")
	_, err = sm.Render(`"${PackQueueUrl}"`, func(Substitution) (string, error) { return "", boom })
	if !errors.Is(err, boom) {
		t.Errorf("value error not propagated: %v", err)
	}
}
