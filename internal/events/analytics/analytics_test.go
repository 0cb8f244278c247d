package analytics_test

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/checkout-dev/checkout/internal/events/analytics"
	"github.com/checkout-dev/checkout/internal/events/eventstest"
	"github.com/checkout-dev/checkout/internal/postgres"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m, postgres.Migrate) }

func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return err
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return out
}

func TestBatchFiles(t *testing.T) {
	t.Parallel()
	db := pgtest.NewPool(t)
	dir := t.TempDir()
	c := analytics.NewConsumer(db, dir, slog.New(slog.DiscardHandler))
	evs := []string{}
	var recs []lambdaevents.SQSMessage
	for i := 0; i < 4; i++ {
		ev := eventstest.Event()
		evs = append(evs, ev.EventID)
		recs = append(recs, lambdaevents.SQSMessage{MessageId: "m" + string(rune('0'+i)), Body: eventstest.JSON(ev)})
	}
	recs = append(recs, lambdaevents.SQSMessage{MessageId: "dup", Body: recs[0].Body},
		lambdaevents.SQSMessage{MessageId: "bad", Body: `{"schema_version":1,"event_id":"x"}`})
	resp, err := c.Handle(context.Background(), lambdaevents.SQSEvent{Records: recs})
	if err != nil || len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "bad" {
		t.Fatalf("%v %+v", err, resp)
	}
	fs := files(t, dir)
	if len(fs) != 1 {
		t.Fatalf("files %v, want one per batch", fs)
	}
	day := "dt=" + time.Now().UTC().Format("2006-01-02")
	if !strings.Contains(fs[0], day) || !strings.HasSuffix(fs[0], ".ndjson") || strings.HasPrefix(filepath.Base(fs[0]), ".") {
		t.Fatalf("file name %s", fs[0])
	}
	f, err := os.Open(fs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var got []string
	for sc.Scan() {
		var r analytics.Row
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if r.Amount != 4497 || r.Currency != "USD" || r.ItemCount != 3 || r.Type != "order.created" {
			t.Fatalf("row %+v", r)
		}
		got = append(got, r.EventID)
	}
	if strings.Join(got, ",") != strings.Join(evs, ",") {
		t.Fatalf("rows %v, want %v (the duplicate once)", got, evs)
	}
	// Redelivery of the whole batch: acknowledged, no new file.
	resp, _ = c.Handle(context.Background(), lambdaevents.SQSEvent{Records: recs[:5]})
	if len(resp.BatchItemFailures) != 0 || len(files(t, dir)) != 1 {
		t.Fatalf("redelivery wrote again: %+v %v", resp, files(t, dir))
	}
}

// TestWriteFailureFailsBatch: when the file cannot be written no event is
// claimed, every message is reported failed and no partial file remains.
func TestWriteFailureFailsBatch(t *testing.T) {
	t.Parallel()
	db := pgtest.NewPool(t)
	dir := filepath.Join(t.TempDir(), "blocked")
	if err := os.WriteFile(dir, []byte("a file where the folder should be"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := analytics.NewConsumer(db, dir, slog.New(slog.DiscardHandler))
	in := lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{
		{MessageId: "a", Body: eventstest.JSON(eventstest.Event())}, {MessageId: "b", Body: eventstest.JSON(eventstest.Event())}}}
	resp, err := c.Handle(context.Background(), in)
	if err != nil || len(resp.BatchItemFailures) != 2 {
		t.Fatalf("%v %+v", err, resp)
	}
	var n int
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM processed_messages`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("claims %d %v", n, err)
	}
	// Fixed: the retry writes them.
	good := t.TempDir()
	c2 := analytics.NewConsumer(db, good, slog.New(slog.DiscardHandler))
	if resp, _ := c2.Handle(context.Background(), in); len(resp.BatchItemFailures) != 0 || len(files(t, good)) != 1 {
		t.Fatalf("retry: %+v", resp)
	}
}
