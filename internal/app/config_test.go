package app

import (
	"context"
	"net/url"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/checkout-dev/checkout/localaws/motoserver"
)

// TestDatabaseURLVerifiesTheServer: the DSN built from the deployed
// secret verifies the server's certificate and name (verify-full; require
// only encrypts), with DATABASE_SSLROOTCERT naming a CA bundle when given.
func TestDatabaseURLVerifiesTheServer(t *testing.T) {
	moto := motoserver.Start(t)
	sm := secretsmanager.New(secretsmanager.Options{Region: "us-east-1", BaseEndpoint: aws.String(moto),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	out, err := sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String("checkout-app-db-test"),
		SecretString: aws.String(`{"username":"checkout_app","password":"p@ss word"}`)})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": moto, "DATABASE_SECRET_ARN": aws.ToString(out.ARN),
		"DATABASE_PROXY_ENDPOINT": "checkout-db.proxy-abc.eu-west-1.rds.amazonaws.com", "DATABASE_NAME": "checkout"} {
		t.Setenv(k, v)
	}
	for _, ca := range []string{"", "/opt/rds-global-bundle.pem"} {
		t.Setenv("DATABASE_SSLROOTCERT", ca)
		dsn, err := databaseURLFromSecret(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		if q.Get("sslmode") != "verify-full" || q.Get("sslrootcert") != ca || u.User.Username() != "checkout_app" {
			t.Fatalf("DSN %s; want sslmode=verify-full, sslrootcert %q, user checkout_app", dsn, ca)
		}
		if pw, _ := u.User.Password(); pw != "p@ss word" {
			t.Fatalf("password %q", pw)
		}
	}
}
