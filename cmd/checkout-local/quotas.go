package main

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/checkout-dev/checkout/localaws/sfn"
)

// sfnQuotas reads CHECKOUT_SFN_START_BURST and CHECKOUT_SFN_START_RATE,
// the local Step Functions' StartExecution quota (default AWS's: 1300 and
// 300 per second; 0 or "off" in either turns the throttling off). nil
// means the default.
func sfnQuotas() (map[string]sfn.APIQuota, error) {
	def := sfn.DefaultAPIQuotas()["StartExecution"]
	burst, rate, set, err := bucketKnobs("CHECKOUT_SFN_START", "calls", def.Burst, def.Rate)
	if err != nil || !set {
		return nil, err
	}
	if burst == 0 || rate == 0 {
		return map[string]sfn.APIQuota{}, nil
	}
	return map[string]sfn.APIQuota{"StartExecution": {Burst: burst, Rate: rate}}, nil
}

// sfnTransitionQuota reads CHECKOUT_SFN_TRANSITION_BURST and
// CHECKOUT_SFN_TRANSITION_RATE, the local Step Functions' StateTransition
// bucket (default AWS's in the largest regions: 5000 and 5000 per second;
// 0 or "off" in either turns the throttling off). nil means the default.
func sfnTransitionQuota() (*sfn.TransitionQuota, error) {
	def := sfn.DefaultTransitionQuota()
	burst, rate, set, err := bucketKnobs("CHECKOUT_SFN_TRANSITION", "state transitions", def.Burst, def.Rate)
	if err != nil || !set {
		return nil, err
	}
	if burst == 0 || rate == 0 {
		return &sfn.TransitionQuota{}, nil
	}
	return &sfn.TransitionQuota{Burst: burst, Rate: rate}, nil
}

// bucketKnobs reads the token bucket prefix_BURST (a whole number of what)
// and prefix_RATE (what per second), each defaulting to its def; "off"
// reads as 0. set is false when neither is in the environment.
func bucketKnobs(prefix, what string, defBurst int, defRate float64) (burst int, rate float64, set bool, err error) {
	burstName, rateName := prefix+"_BURST", prefix+"_RATE"
	burstEnv, rateEnv := strings.TrimSpace(os.Getenv(burstName)), strings.TrimSpace(os.Getenv(rateName))
	if burstEnv == "" && rateEnv == "" {
		return 0, 0, false, nil
	}
	burst, rate = defBurst, defRate
	if burstEnv != "" {
		n, err := strconv.Atoi(burstEnv)
		switch {
		case strings.EqualFold(burstEnv, "off"):
			burst = 0
		case err != nil || n < 0:
			return 0, 0, false, fmt.Errorf("%s=%q: want a whole number of %s, like %d (0 or off turns the throttling off)", burstName, burstEnv, what, defBurst)
		default:
			burst = n
		}
	}
	if rateEnv != "" {
		r, err := strconv.ParseFloat(rateEnv, 64)
		switch {
		case strings.EqualFold(rateEnv, "off"):
			rate = 0
		case err != nil || r < 0 || math.IsNaN(r) || math.IsInf(r, 0):
			return 0, 0, false, fmt.Errorf("%s=%q: want %s per second, like %g (0 or off turns the throttling off)", rateName, rateEnv, what, defRate)
		default:
			rate = r
		}
	}
	return burst, rate, true, nil
}

// describeSFNQuotas says, for the banner, which Step Functions quotas
// differ from AWS's defaults; "" when none does.
func describeSFNQuotas(start map[string]sfn.APIQuota, transitions *sfn.TransitionQuota) string {
	var parts []string
	if start != nil {
		if q, ok := start["StartExecution"]; ok {
			parts = append(parts, fmt.Sprintf("StartExecution a bucket of %d refilled at %g/s", q.Burst, q.Rate))
		} else {
			parts = append(parts, "StartExecution not throttled")
		}
	}
	if transitions != nil {
		if transitions.Unlimited() {
			parts = append(parts, "state transitions not throttled")
		} else {
			parts = append(parts, fmt.Sprintf("state transitions a bucket of %d refilled at %g/s", transitions.Burst, transitions.Rate))
		}
	}
	return strings.Join(parts, "; ")
}
