package sqs_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/localaws"
	"github.com/checkout-dev/checkout/localaws/motoserver"
	"github.com/checkout-dev/checkout/localaws/pgtest"
	localsqs "github.com/checkout-dev/checkout/localaws/sqs"
)

func TestMain(m *testing.M) { pgtest.Main(m, localaws.Migrate) }

// clock is the injectable clock of our server.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// target is one SQS implementation under test: ours or moto_server.
type target struct {
	name   string
	moto   bool
	url    string
	client *awssqs.Client
	clock  *clock // ours only

	// ours only: the server, its pool and a restart function.
	pool    *pgxpool.Pool
	srv     *localsqs.Server
	restart func(t *testing.T)
}

// advance moves time forward: our clock jumps, moto is waited for.
func (tg *target) advance(d time.Duration) {
	if tg.clock != nil {
		tg.clock.Advance(d)
		return
	}
	time.Sleep(d)
}

func newClient(url string) *awssqs.Client {
	return awssqs.New(awssqs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDLOCALTEST", "secret", ""),
		HTTPClient: &http.Client{Transport: &http.Transport{
			MaxIdleConnsPerHost: 64, DisableCompression: true,
		}},
		RetryMaxAttempts: 1,
	})
}

// ours starts our server on a fresh database with a fake clock.
func ours(tb testing.TB) *target {
	tb.Helper()
	pool := pgtest.NewPool(tb)
	clk := &clock{t: time.Now().UTC().Truncate(time.Millisecond)}
	tg := &target{name: "ours", clock: clk, pool: pool}
	start := func() {
		tg.srv = localsqs.New(pool, localsqs.Options{Now: clk.Now, PollInterval: 50 * time.Millisecond})
		hs := httptest.NewServer(tg.srv)
		tg.url = hs.URL
		tg.client = newClient(hs.URL)
		srv := tg.srv
		tb.Cleanup(func() { srv.Close(); hs.Close() })
	}
	start()
	tg.restart = func(t *testing.T) {
		t.Helper()
		tg.srv.Close()
		start()
	}
	return tg
}

// inCI reports whether missing tools must fail the tests instead of skipping them.
func inCI() bool { return os.Getenv("CI") != "" }

// motoTarget starts moto_server for the calling test (stopped by PID at
// cleanup). Without moto_server it skips, or fails when CI is set.
func motoTarget(tb testing.TB) *target {
	tb.Helper()
	url := motoserver.Start(tb)
	return &target{name: "moto", moto: true, url: url, client: newClient(url)}
}

func uniq(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// apiCode returns the SDK's ErrorCode() of err, or "" when it is no API error.
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// wantTyped asserts that err is the SDK's typed error T with ErrorCode code.
func wantTyped[T error](t *testing.T, err error, code string) {
	t.Helper()
	var typed T
	if !errors.As(err, &typed) {
		t.Fatalf("error = %v (%T), want %T", err, err, typed)
	}
	if got := apiCode(err); got != code {
		t.Fatalf("ErrorCode() = %q, want %q (error %v)", got, code, err)
	}
}

// wantCode asserts an API error with ErrorCode code (for untyped errors).
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := apiCode(err); got != code {
		t.Fatalf("error = %v, want ErrorCode %q (got %q)", err, code, got)
	}
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	t.Cleanup(cancel)
	return c
}

// mustFailure is the panic value of must; catch turns it into t.Fatal.
type mustFailure struct{ err error }

// must returns v, or aborts the current case when err is set. Every case
// runs under catch, which reports the error with t.Fatal.
func must[T any](v T, err error) T {
	if err != nil {
		panic(mustFailure{err})
	}
	return v
}

// catch is deferred by case runners: it turns a must failure into t.Fatal.
func catch(t testing.TB) {
	if r := recover(); r != nil {
		f, ok := r.(mustFailure)
		if !ok {
			panic(r)
		}
		t.Helper()
		t.Fatalf("unexpected error: %v", f.err)
	}
}
