package lambdatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/jackc/pgx/v5"

	"github.com/checkout-dev/checkout/localaws/motoserver"
)

// migrateCase runs functions/migrate as CloudFormation would: a Create
// event whose ResponseURL is a server of this test (standing in for the
// pre-signed S3 URL), the application role's secret in Secrets Manager
// (moto_server), the owner's DSN in DATABASE_URL.
func migrateCase() functionCase {
	var (
		mu        sync.Mutex
		responses []map[string]any
		role      = ""
		respURL   = ""
	)
	return functionCase{
		prepare: func(t *testing.T, fx *fixture) {
			b := make([]byte, 5)
			_, _ = rand.Read(b)
			role = "app_" + hex.EncodeToString(b)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				raw, _ := io.ReadAll(r.Body)
				var m map[string]any
				_ = json.Unmarshal(raw, &m)
				mu.Lock()
				responses = append(responses, m)
				mu.Unlock()
			}))
			t.Cleanup(srv.Close)
			respURL = srv.URL + "/cfn-response"
			t.Cleanup(func() {
				conn, err := pgx.Connect(context.Background(), fx.dsn)
				if err != nil {
					return
				}
				defer conn.Close(context.Background())
				_, _ = conn.Exec(context.Background(), "DROP OWNED BY "+pgx.Identifier{role}.Sanitize())
				_, _ = conn.Exec(context.Background(), "DROP ROLE IF EXISTS "+pgx.Identifier{role}.Sanitize())
			})
		},
		env: func(fx *fixture) map[string]string {
			moto := motoserver.Start(fx.t)
			sm := secretsmanager.New(secretsmanager.Options{Region: "us-east-1", BaseEndpoint: aws.String(moto),
				Credentials: credentials.NewStaticCredentialsProvider("lambdatest", "lambdatest", "")})
			out, err := sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String("checkout-app-db"),
				SecretString: aws.String(fmt.Sprintf(`{"username":%q,"password":"generated-by-secrets-manager"}`, role))})
			if err != nil {
				fx.t.Fatalf("moto CreateSecret: %v", err)
			}
			return map[string]string{"APP_DATABASE_SECRET_ARN": aws.ToString(out.ARN), "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto}
		},
		invokes: []invocation{{name: "create", payload: func(t *testing.T, fx *fixture) []byte {
			var ev map[string]any
			if err := json.Unmarshal(fx.event(t, "migrate.json"), &ev); err != nil {
				t.Fatal(err)
			}
			ev["ResponseURL"] = respURL
			b, _ := json.Marshal(ev)
			return b
		}, check: func(t *testing.T, fx *fixture, _ []byte) {
			mu.Lock()
			defer mu.Unlock()
			if len(responses) != 1 || responses[0]["Status"] != "SUCCESS" {
				t.Fatalf("CloudFormation got %v; want one SUCCESS", responses)
			}
			if data, _ := responses[0]["Data"].(map[string]any); data["Role"] != role {
				t.Errorf("response data %v; want Role %s", responses[0]["Data"], role)
			}
			var login bool
			if err := fx.pool.QueryRow(context.Background(), `SELECT rolcanlogin FROM pg_roles WHERE rolname = $1`, role).Scan(&login); err != nil || !login {
				t.Fatalf("role %s: login %v err %v; want a login role", role, login, err)
			}
		}}},
	}
}
