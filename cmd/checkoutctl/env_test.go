package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/checkout-dev/checkout/internal/events/eventstest"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

// isolateAWS points the AWS configuration at nothing.
func isolateAWS(t *testing.T) {
	t.Helper()
	for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
		"AWS_SESSION_TOKEN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

func TestMissingAWSConfiguration(t *testing.T) {
	isolateAWS(t)
	r := ctl(context.Background(), "", "", nil, "dlq", "list")
	mustCode(t, r, 1)
	if !strings.Contains(r.stderr, "no AWS region: pass --region") {
		t.Fatalf("stderr: %s", r.stderr)
	}
	r = ctl(context.Background(), "", "", nil, "--region", "eu-west-1", "dlq", "list")
	mustCode(t, r, 1)
	if !strings.Contains(r.stderr, "AWS credentials") || !strings.Contains(r.stderr, "aws configure") {
		t.Fatalf("stderr: %s", r.stderr)
	}
	r = ctl(context.Background(), "", "", nil, "--profile", "nope", "dlq", "list")
	mustCode(t, r, 1)
	if !strings.Contains(r.stderr, "nope") {
		t.Fatalf("stderr: %s", r.stderr)
	}
}

// TestEndpointsFile: with no flags, checkoutctl finds .data/endpoints.json
// above the working directory and uses its SQS endpoint and database.
func TestEndpointsFile(t *testing.T) {
	isolateAWS(t)
	sqsPool := pgtest.NewPool(t)
	tg := eventstest.Local(t, sqsPool)
	dsn := pgtest.NewDB(t)
	ctx := context.Background()
	p := eventstest.CreatePair(ctx, t, tg.Client, "checkout-dev-shipping", 3)
	sendBatch(ctx, t, tg.Client, p.DLQURL, []string{"x", "y"})

	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, ".data"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(Endpoints{SQS: tg.Endpoint, DatabaseURL: dsn, PID: os.Getpid()})
	if err := os.WriteFile(filepath.Join(root, ".data", "endpoints.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(root, "a", "b")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(sub)
	var out, errb bytes.Buffer
	code := runEnv(ctx, []string{"dlq", "list", "--json"}, &out, &errb, func(string) string { return "" })
	if code != 0 || !strings.Contains(out.String(), `"name": "checkout-dev-shipping-dlq"`) {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	// Stack-relative names and the database from the file: purge is audited.
	out.Reset()
	code = runEnv(ctx, []string{"dlq", "purge", "shipping-dlq", "--yes", "--actor", "ops"}, &out, &errb, func(string) string { return "" })
	if code != 0 || !strings.Contains(out.String(), "purged checkout-dev-shipping-dlq") {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	// A stale file (its stack is gone) is ignored: AWS is used, and without a region that fails clearly.
	b, _ = json.Marshal(Endpoints{SQS: tg.Endpoint, PID: 1 << 22})
	if err := os.WriteFile(filepath.Join(root, ".data", "endpoints.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	errb.Reset()
	code = runEnv(ctx, []string{"dlq", "list"}, &out, &errb, func(string) string { return "" })
	if code != 1 || !strings.Contains(errb.String(), "not running") || !strings.Contains(errb.String(), "no AWS region") {
		t.Fatalf("exit %d\n%s", code, errb.String())
	}
}

func TestUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"dlq", "show"}, {"dlq", "replay", "q"}, {"dlq", "replay", "q", "--all", "--id", "x"}, {"nope"}, {"dlq", "nope"},
		{"dlq", "list", "--bogus"}, {"review", "resolve"}, {"dlq", "show", "q", "--limit", "0"},
	} {
		r := ctl(context.Background(), "http://127.0.0.1:1", "", nil, args...)
		if r.code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, r.code, r.stderr)
		}
	}
	var out bytes.Buffer
	for _, cmd := range [][]string{{"dlq", "list"}, {"dlq", "show"}, {"dlq", "replay"}, {"dlq", "purge"}, {"review", "list"}, {"review", "show"}, {"review", "resolve"}} {
		out.Reset()
		if code := runEnv(context.Background(), append(cmd, "--help"), &out, &out, func(string) string { return "" }); code != 0 || !strings.Contains(out.String(), "Examples:") {
			t.Errorf("%v --help: exit %d, no examples:\n%s", cmd, code, out.String())
		}
	}
}
