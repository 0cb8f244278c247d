// Command authorizer is the API Gateway TOKEN authorizer Lambda: it verifies
// the caller's bearer JWT (see internal/auth) and answers with an IAM policy
// for the stage, or "Unauthorized".
//
// Environment: CHECKOUT_JWKS_URL and/or CHECKOUT_JWT_SECRET (one required),
// CHECKOUT_JWT_ISSUER, CHECKOUT_JWT_AUDIENCE, CHECKOUT_JWT_LEEWAY,
// CHECKOUT_USAGE_PLAN_KEY (all optional).
package main

import (
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/checkout-dev/checkout/internal/auth"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	cfg, err := auth.LoadConfig()
	if err != nil {
		log.Error("authorizer: configuration", "error", err.Error())
		os.Exit(1)
	}
	v, err := auth.NewVerifier(cfg)
	if err != nil {
		log.Error("authorizer: verifier", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(auth.NewAuthorizer(v, cfg.UsagePlanKey, log).Handle)
}
