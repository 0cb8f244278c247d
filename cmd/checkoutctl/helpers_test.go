package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/events"
	"github.com/checkout-dev/checkout/internal/postgres"
	"github.com/checkout-dev/checkout/localaws"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m, postgres.Migrate, localaws.Migrate) }

// lockedBuffer is a writer safe for the progress output of a running command.
type lockedBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	onWrite func(string)
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	n, err := l.b.Write(p)
	f := l.onWrite
	l.mu.Unlock()
	if f != nil {
		f(string(p))
	}
	return n, err
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// result is one checkoutctl run.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("stdout is not JSON (%v):\n%s\nstderr:\n%s", err, r.stdout, r.stderr)
	}
}

// ctl runs checkoutctl in process against endpoint with the audit database
// dsn ("" = none) and an environment without DATABASE_URL.
func ctl(ctx context.Context, endpoint, dsn string, stderr io.Writer, args ...string) result {
	full := []string{"--no-local", "--stack", "", "--actor", "tester"}
	if endpoint != "" {
		full = append(full, "--endpoint-url", endpoint)
	}
	if dsn != "" {
		full = append(full, "--database-url", dsn)
	}
	full = append(full, args...)
	var out bytes.Buffer
	var errb lockedBuffer
	if stderr == nil {
		stderr = &errb
	}
	code := runEnv(ctx, full, &out, stderr, func(k string) string { return "" })
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

func mustCode(t *testing.T, r result, want int) {
	t.Helper()
	if r.code != want {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, want, r.stdout, r.stderr)
	}
}

// auditDB returns a fresh migrated database: its DSN and a pool.
func auditDB(t *testing.T) (string, *pgxpool.Pool) {
	t.Helper()
	dsn := pgtest.NewDB(t)
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return dsn, pool
}

// drain receives and deletes everything in a queue and returns the event
// ids of the bodies (non-events by raw body).
func drain(ctx context.Context, t *testing.T, c *awssqs.Client, url string) []string {
	t.Helper()
	var ids []string
	for {
		out, err := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			return ids
		}
		var del []types.DeleteMessageBatchRequestEntry
		for i, m := range out.Messages {
			if ev, err := events.Decode([]byte(aws.ToString(m.Body))); err == nil {
				ids = append(ids, ev.EventID)
			} else {
				ids = append(ids, aws.ToString(m.Body))
			}
			del = append(del, types.DeleteMessageBatchRequestEntry{Id: aws.String(strings.Repeat("x", i+1)), ReceiptHandle: m.ReceiptHandle})
		}
		if _, err := c.DeleteMessageBatch(ctx, &awssqs.DeleteMessageBatchInput{QueueUrl: aws.String(url), Entries: del}); err != nil {
			t.Fatal(err)
		}
	}
}

// sendBatch sends bodies in batches of 10 and returns their message ids.
func sendBatch(ctx context.Context, t *testing.T, c *awssqs.Client, url string, bodies []string) []string {
	t.Helper()
	var ids []string
	for i := 0; i < len(bodies); i += 10 {
		var entries []types.SendMessageBatchRequestEntry
		for j, b := range bodies[i:min(i+10, len(bodies))] {
			entries = append(entries, types.SendMessageBatchRequestEntry{Id: aws.String(strings.Repeat("y", j+1)), MessageBody: aws.String(b)})
		}
		out, err := c.SendMessageBatch(ctx, &awssqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: entries})
		if err != nil || len(out.Failed) > 0 {
			t.Fatalf("send batch: %v %v", err, out)
		}
		for _, s := range out.Successful {
			ids = append(ids, aws.ToString(s.MessageId))
		}
	}
	return ids
}
