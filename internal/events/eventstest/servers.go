// Package eventstest is the test harness of the SQS consumers and of
// checkoutctl: it starts real SQS protocol servers (moto_server and our
// localaws/sqs), creates queue/dead-letter-queue pairs and drives a
// consumer handler exactly like Lambda's SQS event source mapping.
package eventstest

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/localaws/motoserver"
	localsqs "github.com/checkout-dev/checkout/localaws/sqs"
)

// Target is one SQS implementation under test.
type Target struct {
	Name     string // "moto" or "local"
	Endpoint string // http://127.0.0.1:PORT
	Client   *awssqs.Client
}

// Targets returns moto_server and our local SQS server (on pool). moto is
// left out (with a log line) when it is not installed and CI is unset; with
// CI set its absence fails the test.
func Targets(t testing.TB, pool *pgxpool.Pool) []Target {
	t.Helper()
	var out []Target
	if m, ok := Moto(t); ok {
		out = append(out, m)
	}
	return append(out, Local(t, pool))
}

// Local serves localaws/sqs on pool from a loopback httptest server, closed
// when the test ends. The pool's database must have the emulator's schema
// (localaws.Migrate).
func Local(t testing.TB, pool *pgxpool.Pool) Target {
	t.Helper()
	srv := localsqs.New(pool, localsqs.Options{PollInterval: 50 * time.Millisecond})
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); srv.Close() })
	return Target{Name: "local", Endpoint: hs.URL, Client: NewClient(hs.URL)}
}

// NewClient is the real aws-sdk-go-v2 SQS client pointed at endpoint with
// dummy static credentials.
func NewClient(endpoint string) *awssqs.Client {
	return awssqs.New(awssqs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		HTTPClient:   &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}},
	})
}

// Moto starts moto_server on a free loopback port, killed by PID when the
// test ends. ok is false when moto_server is absent and CI is unset.
func Moto(t testing.TB) (Target, bool) {
	t.Helper()
	url, ok := motoserver.Find(t)
	if !ok {
		return Target{}, false
	}
	return Target{Name: "moto", Endpoint: url, Client: NewClient(url)}, true
}

// Uniq returns prefix plus a random suffix, for queue names.
func Uniq(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}
