package stack

import (
	"os"
	"runtime/debug"
)

// LocalGCPercent is the garbage collector's target the local stack's
// processes (make dev, the e2e benchmark) run with unless GOGC is set.
const LocalGCPercent = 400

// RelaxGC sets the collector's target to LocalGCPercent unless the GOGC
// environment variable chooses one. The local stack runs every Lambda, both
// emulators, the API Gateway front and the Stripe fake in one process whose
// live heap is a few tens of megabytes; at Go's default of 100 the
// collector took about a tenth of that process's CPU under `make
// bench-e2e`. Four times the heap growth between collections costs a few
// tens of megabytes more. On AWS each Lambda is its own process and keeps
// Go's default. Call it from a main, before starting the stack.
func RelaxGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(LocalGCPercent)
	}
}
