package app

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
)

// RunStep is the whole main of a saga-step Lambda: read the config, open the
// pool and the gateway once per container, and serve the named step.
func RunStep(name string) {
	log := Logger()
	ctx := context.Background()
	cfg, err := FromEnv(ctx)
	if err != nil {
		log.Error("configuration", "function", name, "err", err)
		os.Exit(1)
	}
	core, err := OpenCore(ctx, cfg, log.With("function", name))
	if err != nil {
		log.Error("start-up", "function", name, "err", err)
		os.Exit(1)
	}
	lambda.Start(core.Steps.Handler(name))
}
