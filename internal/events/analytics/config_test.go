package analytics_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/checkout-dev/checkout/internal/events/analytics"
	"github.com/checkout-dev/checkout/internal/events/analytics/s3sink"
	"github.com/checkout-dev/checkout/internal/events/eventstest"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

func TestSinkFromEnvChoice(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		want    string // the sink's String(); "" when an error is expected
		wantErr string
	}{
		{"nothing set", nil, "", "no sink configured: set ANALYTICS_BUCKET"},
		{"folder", map[string]string{"ANALYTICS_DIR": "/tmp/a"}, "folder /tmp/a", ""},
		{"bucket and prefix", map[string]string{"ANALYTICS_BUCKET": "b", "ANALYTICS_PREFIX": "/raw/orders/"}, "s3://b/raw/orders", ""},
		{"bucket without prefix", map[string]string{"ANALYTICS_BUCKET": "b"}, "s3://b/", ""},
		{"bucket wins over folder", map[string]string{"ANALYTICS_BUCKET": "b", "ANALYTICS_PREFIX": "p", "ANALYTICS_DIR": "/tmp/a"}, "s3://b/p", ""},
		{"prefix without bucket", map[string]string{"ANALYTICS_PREFIX": "p", "ANALYTICS_DIR": "/tmp/a"}, "", "ANALYTICS_PREFIX is set but ANALYTICS_BUCKET is not"},
		{"bad path style", map[string]string{"ANALYTICS_BUCKET": "b", "ANALYTICS_S3_PATH_STYLE": "yes please"}, "", "ANALYTICS_S3_PATH_STYLE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := s3sink.FromEnv(context.Background(), func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want it to mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || s.String() != tc.want {
				t.Fatalf("sink %v err %v, want %s", s, err, tc.want)
			}
		})
	}
	if _, err := s3sink.FromEnv(context.Background(), func(string) string { return "" }); !errors.Is(err, s3sink.ErrNoSink) {
		t.Fatalf("err %v, want ErrNoSink", err)
	}
}

// TestSinkFromEnvS3 configures the S3 sink exactly as the deployed Lambda
// does (environment only, the SDK's default configuration) and writes to
// moto_server through it. Not parallel: it sets process environment.
func TestSinkFromEnvS3(t *testing.T) {
	if _, err := exec.LookPath("moto_server"); err != nil && os.Getenv("CI") == "" {
		t.Skip("moto_server not installed")
	}
	c, bucket, endpoint := motoS3(t)
	home := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_S3":         endpoint,
		"AWS_ENDPOINT_URL":            "http://127.0.0.1:1", // only the S3 override may be used
		"AWS_REGION":                  "us-east-1",
		"AWS_ACCESS_KEY_ID":           "AKIDTEST",
		"AWS_SECRET_ACCESS_KEY":       "secret",
		"AWS_SESSION_TOKEN":           "",
		"AWS_PROFILE":                 "",
		"AWS_CONFIG_FILE":             filepath.Join(home, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(home, "credentials"),
		"AWS_EC2_METADATA_DISABLED":   "true",
		"ANALYTICS_BUCKET":            bucket,
		"ANALYTICS_PREFIX":            "/events/",
		"ANALYTICS_S3_PATH_STYLE":     "true",
		"ANALYTICS_DIR":               filepath.Join(home, "ignored"),
	} {
		t.Setenv(k, v)
	}
	s, err := s3sink.FromEnv(context.Background(), os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(context.Background(), "dt=2026-11-26/hour=10/x.ndjson", []byte("{\"a\":1}\n")); err != nil {
		t.Fatalf("put through the configured sink: %v", err)
	}
	g, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("events/dt=2026-11-26/hour=10/x.ndjson")})
	if err != nil {
		t.Fatalf("object not at events/dt=2026-11-26/hour=10/x.ndjson: %v", err)
	}
	defer g.Body.Close()
	b, _ := io.ReadAll(g.Body)
	if string(b) != "{\"a\":1}\n" || aws.ToString(g.ContentType) != "application/x-ndjson" {
		t.Fatalf("object %q content type %q", b, aws.ToString(g.ContentType))
	}
	if _, err := os.Stat(filepath.Join(home, "ignored")); !os.IsNotExist(err) {
		t.Fatalf("ANALYTICS_DIR was written although ANALYTICS_BUCKET is set: %v", err)
	}
}

// TestS3PutFailureFailsBatch: a put that S3 rejects (no such bucket) fails
// every message of the batch, claims nothing and records the reason.
func TestS3PutFailureFailsBatch(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("moto_server"); err != nil && os.Getenv("CI") == "" {
		t.Skip("moto_server not installed")
	}
	c, _, _ := motoS3(t)
	db := pgtest.NewPool(t)
	sink := &s3sink.S3{Client: c, Bucket: "no-such-bucket-" + eventstest.Uniq("x"), Prefix: "p"}
	con := analytics.NewSinkConsumer(db, sink, slog.New(slog.DiscardHandler))
	in := lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{
		{MessageId: "a", Body: eventstest.JSON(eventstest.Event())}, {MessageId: "b", Body: eventstest.JSON(eventstest.Event())}}}
	resp, err := con.Handle(context.Background(), in)
	if err != nil || len(resp.BatchItemFailures) != 2 {
		t.Fatalf("%v %+v, want both failed", err, resp)
	}
	if n := claims(t, db); n != 0 {
		t.Fatalf("claims %d, want 0", n)
	}
	var reason string
	if err := db.QueryRow(context.Background(), `SELECT reason FROM consumer_failures WHERE message_id = 'a'`).Scan(&reason); err != nil ||
		!strings.Contains(reason, "s3://"+sink.Bucket+"/p/dt=") {
		t.Fatalf("failure reason %q (%v), want it to name the object", reason, err)
	}
}

func TestFolderRejectsEscapingKeys(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	f := &analytics.Folder{Dir: filepath.Join(root, "sink")}
	for _, k := range []string{"", "/etc/x.ndjson", "../x.ndjson", "a/../../x.ndjson", "."} {
		t.Run(k, func(t *testing.T) {
			if err := f.Put(context.Background(), k, []byte("x\n")); err == nil {
				t.Fatalf("key %q accepted", k)
			}
		})
	}
	if got := folderObjects(t, root); len(got) != 0 {
		t.Fatalf("files written: %v", keys(got))
	}
}
