package app

import (
	"context"
	"log/slog"
	"os"

	"github.com/checkout-dev/checkout/internal/execution"
	"github.com/checkout-dev/checkout/internal/saga"
)

// RunStep is the whole main of a saga-step Lambda: read the config, open the
// pool and the gateway once per container, and serve the named step. The
// steps resume waiting executions through Step Functions (only the
// functions allowed to, by the template, ever do).
func RunStep(name saga.Step) {
	core, log := MustOpenCore(string(name))
	core.Steps.Resumer = MustResumer(log)
	StartTraced(core.Steps.Handler(name))
}

// MustResumer returns the Step Functions client that completes the task
// tokens of executions waiting for their customer; on failure it logs and
// exits.
func MustResumer(log *slog.Logger) execution.SFN {
	client, err := SFNClient(context.Background())
	if err != nil {
		log.Error("aws configuration", "err", err)
		os.Exit(1)
	}
	return execution.SFN{Client: client}
}

// MustOpenCore is a Lambda's start-up: it reads the config and opens the
// core (OpenCore) once per container, with a logger naming function. On
// failure it logs the error and exits the process with status 1.
func MustOpenCore(function string) (*Core, *slog.Logger) {
	log := Logger().With("function", function)
	SetupTracing(function, log)
	ctx := context.Background()
	cfg, err := FromEnv(ctx)
	if err != nil {
		log.Error("configuration", "err", err)
		os.Exit(1)
	}
	core, err := OpenCore(ctx, cfg, log)
	if err != nil {
		log.Error("start-up", "err", err)
		os.Exit(1)
	}
	return core, log
}
