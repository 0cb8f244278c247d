package stack

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/checkout-dev/checkout/internal/saga"
	"github.com/checkout-dev/checkout/localaws/asl"
	"github.com/checkout-dev/checkout/localaws/sam"
	"github.com/checkout-dev/checkout/localaws/sfn"
)

// LambdaFaults makes the local Lambda runtime fail the way AWS's does, at
// random: a function that dies before it does anything, or — the case that
// matters for money — one whose work committed but whose answer was lost
// (Sandbox.Timedout, Lambda.Unknown, Runtime.ExitError after the handler
// returned). For torture runs; never on by default.
type LambdaFaults struct {
	Rate float64 // probability per invocation, 0..1
	Seed int64   // 0: a random seed
	// LoseAnswers scripts faults for tests: the first n invocations of the
	// named function (its CodeUri folder, e.g. "create-order") run to the
	// end and then lose their answer (Sandbox.Timedout).
	LoseAnswers map[string]int

	mu  sync.Mutex
	rnd *rand.Rand
}

// lostErrors are the errors Step Functions reports when a Lambda function
// dies or its answer is lost, with causes shaped like AWS's.
var lostErrors = []struct{ name, cause string }{
	{"Sandbox.Timedout", "Task timed out after %.2f seconds"},
	{"Lambda.Unknown", "The cause could not be determined because Lambda did not return an error type."},
	{"Runtime.ExitError", "Runtime exited with error: signal: killed"},
}

// draw decides one invocation's fault: none, or which error and whether
// the handler runs first.
func (f *LambdaFaults) draw(function string) (hit bool, afterWork bool, which int) {
	if f == nil {
		return false, false, 0
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.LoseAnswers[function] > 0 {
		f.LoseAnswers[function]--
		return true, true, 0
	}
	if f.Rate <= 0 {
		return false, false, 0
	}
	if f.rnd == nil {
		seed := f.Seed
		if seed == 0 {
			seed = time.Now().UnixNano()
		}
		f.rnd = rand.New(rand.NewPCG(uint64(seed), uint64(seed>>1)+1))
	}
	if f.rnd.Float64() >= f.Rate {
		return false, false, 0
	}
	return true, f.rnd.IntN(2) == 0, f.rnd.IntN(len(lostErrors))
}

func lostError(which int, timeout time.Duration) error {
	e := lostErrors[which]
	msg := e.cause
	if e.name == "Sandbox.Timedout" {
		msg = fmt.Sprintf(msg, timeout.Seconds())
	}
	return &asl.TaskError{ErrorName: e.name, Cause: lambdaCause(e.name, msg)}
}

func lambdaCause(typ, msg string) string {
	b, _ := json.Marshal(map[string]string{"errorType": typ, "errorMessage": msg})
	return string(b)
}

// lambdaHandler runs a saga step as Lambda runs function fn: with the
// function's Timeout as the context deadline, and Sandbox.Timedout when
// the handler is still running at the deadline (the handler is then
// canceled and waited for, as a frozen sandbox does nothing more). faults,
// when set, injects the runtime's own failures.
func lambdaHandler(fn *sam.Function, h saga.Handler, faults *LambdaFaults) sfn.Handler {
	timeout := fn.Timeout
	if timeout <= 0 {
		timeout = sam.DefaultFunctionTimeout
	}
	return func(ctx context.Context, payload json.RawMessage) (json.RawMessage, error) {
		hit, afterWork, which := faults.draw(fn.Name)
		if hit && !afterWork {
			return nil, lostError(which, timeout)
		}
		cctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		type result struct {
			out []byte
			err error
		}
		done := make(chan result, 1)
		go func() {
			out, err := h.Invoke(cctx, payload)
			done <- result{out, err}
		}()
		select {
		case r := <-done:
			if r.err != nil {
				return nil, r.err // typed: its Go type name is the ASL error name
			}
			if hit {
				return nil, lostError(which, timeout)
			}
			return r.out, nil
		case <-cctx.Done():
			<-done
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, lostError(0, timeout)
		}
	}
}
