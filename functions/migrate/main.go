// Command migrate is the CloudFormation custom resource that prepares the
// database on every deploy: it applies the migrations as the database
// owner and keeps the least-privilege role every other function connects
// as (internal/dbsetup). Wiring only.
//
// Environment: DATABASE_SECRET_ARN (the owner's secret) and
// DATABASE_PROXY_ENDPOINT, or DATABASE_URL; APP_DATABASE_SECRET_ARN (the
// application role's secret: {"username","password"}).
package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/checkout-dev/checkout/internal/app"
	"github.com/checkout-dev/checkout/internal/dbsetup"
)

func main() {
	log := app.Logger().With("function", "migrate")
	lambda.Start(cfn.LambdaWrap(func(ctx context.Context, ev cfn.Event) (string, map[string]any, error) {
		const id = "checkout-database-setup"
		if ev.RequestType == cfn.RequestDelete {
			return id, nil, nil // the data outlives the stack's custom resource
		}
		cfg, err := app.FromEnv(ctx)
		if err != nil {
			return id, nil, err
		}
		secretARN, err := app.RequiredEnv("APP_DATABASE_SECRET_ARN")
		if err != nil {
			return id, nil, err
		}
		raw, err := app.SecretString(ctx, secretARN)
		if err != nil {
			return id, nil, fmt.Errorf("APP_DATABASE_SECRET_ARN: %w", err)
		}
		var s struct{ Username, Password string }
		if err := json.Unmarshal([]byte(raw), &s); err != nil || s.Username == "" || s.Password == "" {
			return id, nil, fmt.Errorf("APP_DATABASE_SECRET_ARN: want JSON with username and password")
		}
		res, err := dbsetup.Run(ctx, cfg.DatabaseURL, s.Username, s.Password)
		if err != nil {
			log.ErrorContext(ctx, "database setup failed", "err", err)
			return id, nil, err
		}
		log.InfoContext(ctx, "database ready", "role", res.Role, "role_created", res.RoleCreated)
		return id, map[string]any{"Role": res.Role}, nil
	}))
}
