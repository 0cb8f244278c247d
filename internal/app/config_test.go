package app

import (
	"context"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/checkout-dev/checkout/localaws/motoserver"
)

// setDatabaseSecret stores secret under name in a moto_server's Secrets
// Manager and sets the environment template.yaml gives the functions:
// DATABASE_SECRET_ARN, the proxy's endpoint, the database's name.
func setDatabaseSecret(t *testing.T, name, secret string) {
	t.Helper()
	moto := motoserver.Start(t)
	sm := secretsmanager.New(secretsmanager.Options{Region: "us-east-1", BaseEndpoint: aws.String(moto),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	out, err := sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(secret)})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": moto, "DATABASE_SECRET_ARN": aws.ToString(out.ARN),
		"DATABASE_PROXY_ENDPOINT": "checkout-db.proxy-abc.eu-west-1.rds.amazonaws.com", "DATABASE_NAME": "checkout"} {
		t.Setenv(k, v)
	}
}

// TestDatabaseURLVerifiesTheServer: the DSN built from the deployed
// secret verifies the server's certificate and name (verify-full; require
// only encrypts), with DATABASE_SSLROOTCERT naming a CA bundle when given.
func TestDatabaseURLVerifiesTheServer(t *testing.T) {
	setDatabaseSecret(t, "checkout-app-db-test", `{"username":"checkout_app","password":"p@ss word"}`)
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

// TestReadReplicaConfig: DATABASE_READ_URL names the replica as given;
// on AWS the RDS Proxy's read-only endpoint gets the writer's login and
// TLS; with neither, there is no replica.
func TestReadReplicaConfig(t *testing.T) {
	setDatabaseSecret(t, "checkout-app-db-read-test", `{"username":"checkout_app","password":"pw"}`)
	for _, k := range []string{"DATABASE_URL", "DATABASE_READ_URL", "DATABASE_PROXY_READ_ENDPOINT", "DATABASE_READ_MAX_LAG"} {
		t.Setenv(k, "")
	}
	ctx := context.Background()
	cfg, err := FromEnv(ctx)
	if err != nil || cfg.DatabaseReadURL != "" || cfg.ReadMaxLag != 0 {
		t.Fatalf("no reader configured: read URL %q, max lag %s, err %v; want none", cfg.DatabaseReadURL, cfg.ReadMaxLag, err)
	}

	t.Setenv("DATABASE_PROXY_READ_ENDPOINT", "checkout-db-read.endpoint.proxy-abc.eu-west-1.rds.amazonaws.com")
	t.Setenv("DATABASE_READ_MAX_LAG", "250ms")
	if cfg, err = FromEnv(ctx); err != nil {
		t.Fatal(err)
	}
	w, err1 := url.Parse(cfg.DatabaseURL)
	r, err2 := url.Parse(cfg.DatabaseReadURL)
	if err1 != nil || err2 != nil {
		t.Fatalf("DSNs %q %q", cfg.DatabaseURL, cfg.DatabaseReadURL)
	}
	if r.Hostname() != os.Getenv("DATABASE_PROXY_READ_ENDPOINT") || w.Hostname() != os.Getenv("DATABASE_PROXY_ENDPOINT") {
		t.Errorf("writer host %s reader host %s; want the proxy and its read-only endpoint", w.Hostname(), r.Hostname())
	}
	if r.User.Username() != "checkout_app" || r.Query().Get("sslmode") != "verify-full" || r.Path != "/checkout" {
		t.Errorf("reader DSN %s; want the writer's login, database and TLS", cfg.DatabaseReadURL)
	}
	if cfg.ReadMaxLag != 250*time.Millisecond {
		t.Errorf("ReadMaxLag = %s; want 250ms", cfg.ReadMaxLag)
	}

	t.Setenv("DATABASE_READ_URL", "postgres://reader@replica.local:5432/checkout")
	if cfg, err = FromEnv(ctx); err != nil || cfg.DatabaseReadURL != "postgres://reader@replica.local:5432/checkout" {
		t.Errorf("DATABASE_READ_URL: %q, %v; want it as given", cfg.DatabaseReadURL, err)
	}

	for _, bad := range []string{"fast", "0s", "-1s"} {
		t.Setenv("DATABASE_READ_MAX_LAG", bad)
		if _, err := FromEnv(ctx); err == nil || !strings.Contains(err.Error(), "DATABASE_READ_MAX_LAG") {
			t.Errorf("DATABASE_READ_MAX_LAG=%q: %v; want an error naming it", bad, err)
		}
	}
	t.Setenv("DATABASE_READ_MAX_LAG", "")
	t.Setenv("DATABASE_READ_URL", "")
	t.Setenv("DATABASE_SECRET_ARN", "")
	t.Setenv("DATABASE_URL", "postgres://writer@primary.local/checkout")
	if _, err := FromEnv(ctx); err == nil || !strings.Contains(err.Error(), "DATABASE_PROXY_READ_ENDPOINT needs DATABASE_SECRET_ARN") {
		t.Errorf("read endpoint without a secret: %v; want an error naming both", err)
	}
}
