package stripefake

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"
)

// chaosRun drives a fixed sequence of requests (one at a time, letting
// each one's asynchronous work finish) through a fake in chaos mode and
// returns which API fault hit each request and which webhook fault hit
// each event.
func chaosRun(t *testing.T, c Chaos) (api, hooks []string) {
	t.Helper()
	rc := newReceiver(t)
	f := webhookFake(t, rc)
	if err := f.SetChaos(c); err != nil {
		t.Fatal(err)
	}
	sc := f.Client()
	for i := range 12 {
		pi, err := sc.PaymentIntents.New(piParams(int64(1000+i), "usd", "pm_card_visa", false))
		waitIdle(t, f)
		if err != nil {
			continue
		}
		_, _ = sc.PaymentIntents.Confirm(pi.ID, nil)
		waitIdle(t, f)
		_, _ = sc.PaymentIntents.Get(pi.ID, nil)
		waitIdle(t, f)
	}
	for _, r := range f.Requests() {
		if r.Fault != "" && !r.Chaos {
			t.Fatalf("fault without the chaos flag: %+v", r)
		}
		if r.Fault == Processing && !strings.HasSuffix(r.Path, "/confirm") {
			t.Fatalf("processing on %s", r.Path)
		}
		api = append(api, fmt.Sprintf("%s %s:%s", r.Method, r.Path[:min(len(r.Path), 20)], r.Fault))
	}
	for _, ev := range f.Events() {
		hooks = append(hooks, ev.Type+":"+string(ev.Fault))
	}
	return api, hooks
}

func TestChaosDeterministicGivenSeed(t *testing.T) {
	t.Parallel()
	c := Chaos{Rate: 0.5, Kinds: []FaultKind{Status500, Status429, Status500After, Processing, Latency, Slow},
		WebhookRate: 0.5, WebhookKinds: []FaultKind{WebhookDuplicate, WebhookDelay, WebhookDrop},
		Delay: 5 * time.Millisecond, Seed: 42}
	api1, hooks1 := chaosRun(t, c)
	api2, hooks2 := chaosRun(t, c)
	if !equalStrings(api1, api2) || !equalStrings(hooks1, hooks2) {
		t.Fatalf("same seed, different faults:\n%v\n%v\n%v\n%v", api1, api2, hooks1, hooks2)
	}
	faulted, hooked := 0, 0
	for _, s := range api1 {
		if !strings.HasSuffix(s, ":") {
			faulted++
		}
	}
	for _, s := range hooks1 {
		if !strings.HasSuffix(s, ":") {
			hooked++
		}
	}
	if faulted == 0 || faulted == len(api1) || hooked == 0 || hooked == len(hooks1) {
		t.Fatalf("rate 0.5 faulted %d of %d requests, %d of %d events", faulted, len(api1), hooked, len(hooks1))
	}
	c.Seed = 43
	api3, _ := chaosRun(t, c)
	if equalStrings(api1, api3) {
		t.Fatal("another seed gave the same faults")
	}
}

func TestChaosEligibilityAndPrecedence(t *testing.T) {
	t.Parallel()
	f, sc := newTest(t)
	// Processing applies only to confirm requests: other requests get
	// another eligible kind, or none when there is none.
	if err := f.SetChaos(Chaos{Rate: 1, Kinds: []FaultKind{Processing}, Delay: time.Hour}); err != nil {
		t.Fatal(err)
	}
	pi := mustPI(t, sc, piParams(1000, "usd", "pm_card_visa", false))
	got, err := sc.PaymentIntents.Confirm(pi.ID, nil)
	if err != nil || got.Status != stripe.PaymentIntentStatusProcessing {
		t.Fatalf("confirm under chaos: %v %+v", err, got)
	}
	if err := f.SetChaos(Chaos{Rate: 1, Kinds: []FaultKind{Processing, Status429}}); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		_, err := sc.PaymentIntents.Get(pi.ID, nil)
		wantErr(t, err, 429, stripe.ErrorTypeInvalidRequest, "rate_limit", "")
	}
	// Queued faults take precedence.
	if err := f.InjectFault(Fault{Kind: Status500}); err != nil {
		t.Fatal(err)
	}
	_, err = sc.PaymentIntents.Get(pi.ID, nil)
	wantErr(t, err, 500, stripe.ErrorTypeAPI, "", "")
	log := f.Requests()
	if r := log[len(log)-1]; r.Fault != Status500 || r.Chaos {
		t.Fatalf("queued fault logged %+v", r)
	}
	if r := log[1]; r.Fault != Processing || !r.Chaos {
		t.Fatalf("chaos fault logged %+v", r)
	}
	if r := log[0]; r.Fault != "" {
		t.Fatalf("create got %+v", r)
	}
	f.StopChaos()
	if _, err := sc.PaymentIntents.Get(pi.ID, nil); err != nil {
		t.Fatalf("after StopChaos: %v", err)
	}
	if _, ok := f.ChaosConfig(); ok {
		t.Fatal("chaos still on")
	}
}

func TestChaosControlEndpoint(t *testing.T) {
	t.Parallel()
	f, sc := newTest(t)
	st, body := controlDo(t, http.MethodPost, f.URL+"/_fake/chaos",
		`{"rate":1,"kinds":["status_429"],"webhook_rate":0.25,"webhook_kinds":["webhook_drop"],"delay":"20ms","seed":7}`)
	if st != 200 || body["enabled"] != true {
		t.Fatalf("POST chaos: %d %v", st, body)
	}
	c, ok := f.ChaosConfig()
	if !ok || c.Rate != 1 || c.WebhookRate != 0.25 || c.Delay != 20*time.Millisecond || c.Seed != 7 ||
		len(c.Kinds) != 1 || c.Kinds[0] != Status429 || c.WebhookKinds[0] != WebhookDrop {
		t.Fatalf("config %+v", c)
	}
	st, body = controlDo(t, http.MethodGet, f.URL+"/_fake/chaos", "")
	if cj, _ := body["chaos"].(map[string]any); st != 200 || cj["delay"] != "20ms" || cj["seed"] != float64(7) {
		t.Fatalf("GET chaos: %d %v", st, body)
	}
	_, err := sc.PaymentIntents.New(piParams(1000, "usd", "", false))
	wantErr(t, err, 429, stripe.ErrorTypeInvalidRequest, "rate_limit", "")
	if st, body = controlDo(t, http.MethodDelete, f.URL+"/_fake/chaos", ""); st != 200 || body["enabled"] != false {
		t.Fatalf("DELETE chaos: %d %v", st, body)
	}
	if _, err := sc.PaymentIntents.New(piParams(1000, "usd", "", false)); err != nil {
		t.Fatalf("after DELETE: %v", err)
	}
	for _, bad := range []string{
		`{"rate":2,"kinds":["status_500"]}`,
		`{"rate":0.5}`,
		`{"rate":0.5,"kinds":["webhook_drop"]}`,
		`{"webhook_rate":0.5,"webhook_kinds":["status_500"]}`,
		`{"rate":0.5,"kinds":["meteor"]}`,
		`{"rate":0.5,"kinds":["status_500"],"webhookRate":1}`,
		`{"rate":0.5,"kinds":["status_500"],"delay":"soon"}`,
	} {
		if st, _ := controlDo(t, http.MethodPost, f.URL+"/_fake/chaos", bad); st != 400 {
			t.Errorf("POST %s: %d, want 400", bad, st)
		}
	}
}
