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

// starterCase: the start message of the saga sample's checkout, its stock
// gone by the time the queue delivers it: the starter ends it out_of_stock
// (the Starter's sold-out path, which needs no Step Functions) and reports
// no failure, so SQS deletes the message.
func starterCase() functionCase {
	return functionCase{
		prepare: func(t *testing.T, fx *fixture) {
			fx.sagaUpTo(t)
			if _, err := fx.pool.Exec(context.Background(), `UPDATE inventory SET on_hand = 0`); err != nil {
				t.Fatal(err)
			}
		},
		env: func(*fixture) map[string]string {
			return map[string]string{"STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:checkout"}
		},
		invokes: []invocation{{name: "sample", event: "sqs-start.json", check: func(t *testing.T, fx *fixture, body []byte) {
			var resp struct {
				BatchItemFailures []any `json:"batchItemFailures"`
			}
			if err := json.Unmarshal(body, &resp); err != nil || len(resp.BatchItemFailures) != 0 {
				t.Fatalf("answer %s; want no batch item failures", body)
			}
			var status, code string
			if err := fx.pool.QueryRow(context.Background(), `SELECT status, coalesce(failure_code, '') FROM checkouts WHERE id = '5b0c1c2e-3f4a-4b5c-8d6e-7f8091a2b3c4'`).Scan(&status, &code); err != nil {
				t.Fatal(err)
			}
			if status != "failed" || code != "out_of_stock" {
				t.Fatalf("checkout %s/%s; want failed/out_of_stock", status, code)
			}
		}}},
	}
}
