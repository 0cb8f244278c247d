package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/checkout-dev/checkout/localaws/sfn"
)

// TestSFNTransitionQuotaKnobs: CHECKOUT_SFN_TRANSITION_BURST and _RATE
// replace AWS's StateTransition bucket (either alone keeps the other's
// default), 0 or off turns the throttling off, and anything else is an
// error naming the variable.
func TestSFNTransitionQuotaKnobs(t *testing.T) {
	tests := []struct {
		name, burst, rate string
		want              *sfn.TransitionQuota
		wantErr           string
	}{
		{name: "unset: AWS's default", want: nil},
		{name: "both", burst: "50", rate: "12.5", want: &sfn.TransitionQuota{Burst: 50, Rate: 12.5}},
		{name: "burst alone", burst: "800", want: &sfn.TransitionQuota{Burst: 800, Rate: 5000}},
		{name: "rate alone", rate: "800", want: &sfn.TransitionQuota{Burst: 5000, Rate: 800}},
		{name: "burst 0", burst: "0", rate: "10", want: &sfn.TransitionQuota{}},
		{name: "rate off", rate: "OFF", want: &sfn.TransitionQuota{}},
		{name: "burst off", burst: "off", want: &sfn.TransitionQuota{}},
		{name: "fractional burst", burst: "2.5", wantErr: "CHECKOUT_SFN_TRANSITION_BURST=\"2.5\": want a whole number"},
		{name: "negative burst", burst: "-1", wantErr: "CHECKOUT_SFN_TRANSITION_BURST"},
		{name: "word rate", rate: "fast", wantErr: "CHECKOUT_SFN_TRANSITION_RATE=\"fast\": want state transitions per second"},
		{name: "negative rate", rate: "-5", wantErr: "CHECKOUT_SFN_TRANSITION_RATE"},
		{name: "infinite rate", rate: "Inf", wantErr: "CHECKOUT_SFN_TRANSITION_RATE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkKnobs(t, "CHECKOUT_SFN_TRANSITION", tt.burst, tt.rate, sfnTransitionQuota, tt.want, tt.wantErr)
		})
	}
}

// TestSFNStartQuotaKnobs: the StartExecution knobs read the same way.
func TestSFNStartQuotaKnobs(t *testing.T) {
	tests := []struct {
		name, burst, rate string
		want              map[string]sfn.APIQuota
		wantErr           string
	}{
		{name: "unset: AWS's default", want: nil},
		{name: "both", burst: "3", rate: "5", want: map[string]sfn.APIQuota{"StartExecution": {Burst: 3, Rate: 5}}},
		{name: "burst alone", burst: "100", want: map[string]sfn.APIQuota{"StartExecution": {Burst: 100, Rate: 300}}},
		{name: "off", burst: "0", want: map[string]sfn.APIQuota{}},
		{name: "bad rate", rate: "x", wantErr: "CHECKOUT_SFN_START_RATE=\"x\": want calls per second"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkKnobs(t, "CHECKOUT_SFN_START", tt.burst, tt.rate, sfnQuotas, tt.want, tt.wantErr)
		})
	}
}

// checkKnobs sets prefix_BURST and prefix_RATE and checks what read makes
// of them: want, or an error containing wantErr.
func checkKnobs[T any](t *testing.T, prefix, burst, rate string, read func() (T, error), want T, wantErr string) {
	t.Helper()
	t.Setenv(prefix+"_BURST", burst)
	t.Setenv(prefix+"_RATE", rate)
	got, err := read()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("err %v; want one containing %q", err, wantErr)
		}
		return
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, %v; want %+v", got, err, want)
	}
}

// TestDescribeSFNQuotas: the banner names the quotas that differ from
// AWS's defaults, and nothing when none does.
func TestDescribeSFNQuotas(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		start       map[string]sfn.APIQuota
		transitions *sfn.TransitionQuota
		want        string
	}{
		{name: "defaults", want: ""},
		{name: "transitions", transitions: &sfn.TransitionQuota{Burst: 5, Rate: 20}, want: "state transitions a bucket of 5 refilled at 20/s"},
		{name: "transitions off", transitions: &sfn.TransitionQuota{}, want: "state transitions not throttled"},
		{name: "both", start: map[string]sfn.APIQuota{}, transitions: &sfn.TransitionQuota{Burst: 800, Rate: 800},
			want: "StartExecution not throttled; state transitions a bucket of 800 refilled at 800/s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := describeSFNQuotas(tt.start, tt.transitions); got != tt.want {
				t.Errorf("got %q; want %q", got, tt.want)
			}
		})
	}
}
