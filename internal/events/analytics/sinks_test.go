package analytics_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/events/analytics"
	"github.com/checkout-dev/checkout/internal/events/analytics/s3sink"
	"github.com/checkout-dev/checkout/internal/events/eventstest"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

// motoS3 starts moto_server (a real S3-protocol server) and returns the
// real SDK client on it (path style) and a fresh bucket. It skips when
// moto_server is absent and CI is unset (eventstest.Moto).
func motoS3(t *testing.T) (*s3.Client, string, string) {
	t.Helper()
	m, ok := eventstest.Moto(t)
	if !ok {
		t.Skip("moto_server not installed")
	}
	c := s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(m.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		HTTPClient:   &http.Client{Timeout: 30 * time.Second},
	})
	bucket := eventstest.Uniq("analytics")
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	return c, bucket, m.Endpoint
}

// objects returns every object in bucket: key -> body.
func objects(t *testing.T, c *s3.Client, bucket string) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	out := map[string][]byte{}
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		for _, o := range page.Contents {
			g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: o.Key})
			if err != nil {
				t.Fatalf("get %s: %v", *o.Key, err)
			}
			b, err := io.ReadAll(g.Body)
			g.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			out[*o.Key] = b
		}
	}
	return out
}

// folderObjects returns every visible file under dir: slash path relative
// to dir -> content. Hidden (temporary) files are returned too, under their
// names, so a leftover shows.
func folderObjects(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return out
}

// rows parses an object: one valid JSON Row per line, nothing else.
func rows(t *testing.T, body []byte) []analytics.Row {
	t.Helper()
	if len(body) == 0 || body[len(body)-1] != '\n' {
		t.Fatalf("object does not end with a newline: %q", body)
	}
	var out []analytics.Row
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		var r analytics.Row
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil || dec.More() {
			t.Fatalf("line %q is not one Row: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

// failAfterPut stores the object, then fails: the claiming transaction
// rolls back after the object exists, as when a commit fails.
type failAfterPut struct{ analytics.Sink }

func (f failAfterPut) Put(ctx context.Context, key string, body []byte) error {
	if err := f.Sink.Put(ctx, key, body); err != nil {
		return err
	}
	return errors.New("simulated crash after the put")
}

type sinkCase struct {
	name    string
	sink    analytics.Sink
	prefix  string // object key prefix of sink keys ("" or "PREFIX/")
	objects func(t *testing.T) map[string][]byte
}

// sinks returns the folder sink and the S3 sink on moto_server (when it is
// installed).
func sinks(t *testing.T) []sinkCase {
	t.Helper()
	dir := t.TempDir()
	out := []sinkCase{{name: "folder", sink: &analytics.Folder{Dir: dir},
		objects: func(t *testing.T) map[string][]byte { return folderObjects(t, dir) }}}
	if _, err := exec.LookPath("moto_server"); err != nil && os.Getenv("CI") == "" {
		t.Log("moto_server not installed: S3 sink not tested")
		return out
	}
	c, bucket, _ := motoS3(t)
	return append(out, sinkCase{name: "s3", sink: &s3sink.S3{Client: c, Bucket: bucket, Prefix: "raw/order_events"},
		prefix:  "raw/order_events/",
		objects: func(t *testing.T) map[string][]byte { return objects(t, c, bucket) }})
}

func claims(t *testing.T, db *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM processed_messages WHERE consumer = 'analytics'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSinks drives the real consumer (Postgres claims) into each sink and
// checks the object keys, their content, and that a retried batch
// overwrites its object instead of duplicating it.
func TestSinks(t *testing.T) {
	t.Parallel()
	for _, sc := range sinks(t) {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			log := slog.New(slog.DiscardHandler)

			// Batch 1: four events over two hours, a duplicate and a bad body.
			db := pgtest.NewPool(t)
			times := []string{"2026-11-26T10:15:02Z", "2026-11-26T09:59:59Z", "2026-11-26T10:30:00Z", "2026-11-26T11:00:00Z"}
			var recs []lambdaevents.SQSMessage
			var want []string
			for i, ts := range times {
				d := at(t, ts)
				want = append(want, d.Event.EventID)
				recs = append(recs, lambdaevents.SQSMessage{MessageId: fmt.Sprintf("m%d", i), Body: eventstest.JSON(d.Event)})
			}
			recs = append(recs, lambdaevents.SQSMessage{MessageId: "dup", Body: recs[0].Body},
				lambdaevents.SQSMessage{MessageId: "bad", Body: `{"schema_version":1,"event_id":"x"}`})

			// First attempt: the object is stored, then the transaction fails.
			crash := analytics.NewSinkConsumer(db, failAfterPut{sc.sink}, log)
			resp, err := crash.Handle(ctx, lambdaevents.SQSEvent{Records: recs})
			if err != nil || len(resp.BatchItemFailures) != len(recs) {
				t.Fatalf("crashed attempt: %v %+v, want every message failed", err, resp)
			}
			if n := claims(t, db); n != 0 {
				t.Fatalf("claims after the crash = %d, want 0", n)
			}
			first := sc.objects(t)
			if len(first) != 1 {
				t.Fatalf("objects after the crash: %v, want 1", keys(first))
			}

			// Redelivery in another order (SQS does not keep order): the same
			// key is rewritten, no second object.
			c := analytics.NewSinkConsumer(db, sc.sink, log)
			redo := slices.Clone(recs)
			slices.Reverse(redo)
			resp, err = c.Handle(ctx, lambdaevents.SQSEvent{Records: redo})
			if err != nil || len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "bad" {
				t.Fatalf("retry: %v %+v, want only 'bad' failed", err, resp)
			}
			objs := sc.objects(t)
			if len(objs) != 1 {
				t.Fatalf("objects after the retry: %v, want the first one overwritten", keys(objs))
			}
			key := keys(objs)[0]
			if _, same := first[key]; !same {
				t.Fatalf("retry wrote %s, first attempt %v", key, keys(first))
			}
			rel, ok := strings.CutPrefix(key, sc.prefix)
			if !ok || !keyShape.MatchString(rel) || !strings.HasPrefix(rel, "dt=2026-11-26/hour=09/") {
				t.Fatalf("key %q, want %sdt=2026-11-26/hour=09/<batch id>.ndjson", key, sc.prefix)
			}
			var got []string
			for _, r := range rows(t, objs[key]) {
				if r.Amount != 4497 || r.Currency != "USD" || r.ItemCount != 3 || r.Type != "order.created" ||
					r.SchemaVersion != 1 || r.LoadedAt.IsZero() || r.MessageID == "" || len(r.Items) != 2 {
					t.Fatalf("row %+v", r)
				}
				got = append(got, r.EventID)
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("rows %v, want each event once %v", got, want)
			}
			if n := claims(t, db); n != len(want) {
				t.Fatalf("claims = %d, want %d", n, len(want))
			}

			// Redelivery after success: acknowledged, nothing written.
			resp, _ = c.Handle(ctx, lambdaevents.SQSEvent{Records: recs[:5]})
			if len(resp.BatchItemFailures) != 0 || len(sc.objects(t)) != 1 {
				t.Fatalf("redelivery after success: %+v %v", resp, keys(sc.objects(t)))
			}

			// Another batch: another object.
			d := at(t, "2026-11-27T00:05:00Z")
			resp, _ = c.Handle(ctx, lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{{MessageId: "n", Body: eventstest.JSON(d.Event)}}})
			objs = sc.objects(t)
			if len(resp.BatchItemFailures) != 0 || len(objs) != 2 {
				t.Fatalf("second batch: %+v %v", resp, keys(objs))
			}
			for k, b := range objs {
				if k == key {
					continue
				}
				if rel := strings.TrimPrefix(k, sc.prefix); !strings.HasPrefix(rel, "dt=2026-11-27/hour=00/") || !keyShape.MatchString(rel) {
					t.Fatalf("second key %q", k)
				}
				if r := rows(t, b); len(r) != 1 || r[0].EventID != d.Event.EventID || r[0].MessageID != "n" {
					t.Fatalf("second object rows %+v", r)
				}
			}
		})
	}
}

func keys(m map[string][]byte) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
