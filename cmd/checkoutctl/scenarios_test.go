package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/checkout-dev/checkout/internal/events"
	"github.com/checkout-dev/checkout/internal/events/eventstest"
	"github.com/checkout-dev/checkout/internal/events/shipping"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

// TestCheckoutctl runs every scenario against moto_server and our local
// SQS server with the real aws-sdk-go-v2 client.
func TestCheckoutctl(t *testing.T) {
	t.Parallel()
	sqsPool := pgtest.NewPool(t)
	for _, tg := range eventstest.Targets(t, sqsPool) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Run("fail 3 times, dead-letter, replay, exactly once", func(t *testing.T) { testLifecycle(t, tg) })
			t.Run("replay 1000 with progress and audit", func(t *testing.T) { testReplayThousand(t, tg) })
			t.Run("replay killed midway loses nothing", func(t *testing.T) { testReplayInterrupted(t, tg) })
			t.Run("replay by id and dry run", func(t *testing.T) { testReplayByID(t, tg) })
			t.Run("purge", func(t *testing.T) { testPurge(t, tg) })
			t.Run("bodies that are no event show why and stay", func(t *testing.T) { testNoEventBodies(t, tg) })
			t.Run("manual review", func(t *testing.T) { testReview(t, tg) })
			t.Run("unknown queue", func(t *testing.T) {
				r := ctl(context.Background(), tg.Endpoint, "", nil, "dlq", "show", "no-such-queue-dlq")
				mustCode(t, r, 1)
				if !strings.Contains(r.stderr, "no queue named no-such-queue-dlq; `checkoutctl dlq list` shows them") {
					t.Fatalf("stderr: %s", r.stderr)
				}
			})
		})
	}
}

func testLifecycle(t *testing.T, tg eventstest.Target) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dsn, db := auditDB(t)
	p := eventstest.CreatePair(ctx, t, tg.Client, eventstest.Uniq("ship"), 3)
	var failing atomic.Bool
	failing.Store(true)
	c := shipping.NewConsumer(db, slog.New(slog.DiscardHandler))
	c.Fault = func(d events.Delivery) error {
		if failing.Load() {
			return fmt.Errorf("shipping provider unavailable (attempt %d)", d.ReceiveCount)
		}
		return nil
	}
	ev := eventstest.Event()
	eventstest.Send(ctx, t, tg.Client, p.URL, eventstest.JSON(ev))
	bad := eventstest.Event()
	bad.Order.Items[0].Quantity = 0
	eventstest.Send(ctx, t, tg.Client, p.URL, eventstest.JSON(bad))
	st, err := eventstest.Pump(ctx, tg.Client, p.URL, p.ARN, c.Handle, 20)
	if err != nil {
		t.Fatal(err)
	}
	if st.Failed != 6 || eventstest.Depth(ctx, t, tg.Client, p.DLQURL) != 2 {
		t.Fatalf("want both messages dead-lettered after 3 failures each: %+v, DLQ %d", st, eventstest.Depth(ctx, t, tg.Client, p.DLQURL))
	}

	// dlq list: the DLQ, its depth and its source.
	r := ctl(ctx, tg.Endpoint, "", nil, "dlq", "list", "--json")
	mustCode(t, r, 0)
	var list []dlqInfo
	r.json(t, &list)
	var mine *dlqInfo
	for i := range list {
		if list[i].Name == p.DLQName {
			mine = &list[i]
		}
		if list[i].Name == p.Name {
			t.Fatalf("source queue %s listed as a DLQ", p.Name)
		}
	}
	if mine == nil || mine.Visible != 2 || len(mine.SourceQueues) != 1 || mine.SourceQueues[0] != p.Name || mine.OldestSentAt == nil {
		t.Fatalf("dlq list entry: %+v", mine)
	}
	r = ctl(ctx, tg.Endpoint, "", nil, "dlq", "list")
	mustCode(t, r, 0)
	if !strings.Contains(r.stdout, "SOURCE QUEUES") || !regexp.MustCompile(regexp.QuoteMeta(p.DLQName)+`\s+2\s+0\s+\S+\s+`+regexp.QuoteMeta(p.Name)).MatchString(r.stdout) {
		t.Fatalf("table:\n%s", r.stdout)
	}

	// dlq show: reasons, receive counts; nothing is consumed.
	r = ctl(ctx, tg.Endpoint, dsn, nil, "dlq", "show", p.DLQName, "--json")
	mustCode(t, r, 0)
	var shown struct {
		Messages []messageView `json:"messages"`
	}
	r.json(t, &shown)
	if len(shown.Messages) != 2 {
		t.Fatalf("show: %d messages", len(shown.Messages))
	}
	// The DLQ copy's id is the original's on AWS and moto, a new one on
	// our server: find the messages by their event ids.
	var msgID string
	for _, m := range shown.Messages {
		var body struct {
			EventID string `json:"event_id"`
		}
		if err := json.Unmarshal(m.Body, &body); err != nil {
			t.Fatal(err)
		}
		switch body.EventID {
		case ev.EventID:
			msgID = m.ID
			if (tg.Name == "moto" && m.ReceiveCount < 3) || !strings.Contains(m.Reason, "shipping provider unavailable") ||
				!strings.Contains(m.Reason, "3 attempts") || m.ReasonSource != "consumer" {
				t.Fatalf("failed message view: %+v", m)
			}
		case bad.EventID:
			if !strings.Contains(m.Reason, "order.items[0].quantity") {
				t.Fatalf("invalid message view: %+v", m)
			}
		default:
			t.Fatalf("unexpected message %s", m.ID)
		}
	}
	// Without the database the reason of the invalid one still comes from the schema.
	r = ctl(ctx, tg.Endpoint, "", nil, "dlq", "show", p.DLQName, "--limit", "5")
	mustCode(t, r, 0)
	if !strings.Contains(r.stdout, "invalid event: order.items[0].quantity") || !strings.Contains(r.stdout, "[schema]") {
		t.Fatalf("show table:\n%s", r.stdout)
	}
	if d := eventstest.Depth(ctx, t, tg.Client, p.DLQURL); d != 2 {
		t.Fatalf("show consumed messages: DLQ depth %d", d)
	}

	// Replay without a database is refused and changes nothing.
	r = ctl(ctx, tg.Endpoint, "", nil, "dlq", "replay", p.DLQName, "--all")
	mustCode(t, r, 1)
	if !strings.Contains(r.stderr, "refusing to replay") || eventstest.Depth(ctx, t, tg.Client, p.DLQURL) != 2 {
		t.Fatalf("stderr %s", r.stderr)
	}

	// Fix the consumer, replay by id, process: one shipment.
	failing.Store(false)
	r = ctl(ctx, tg.Endpoint, dsn, nil, "dlq", "replay", p.DLQName, "--id", msgID)
	mustCode(t, r, 0)
	if _, err := eventstest.Pump(ctx, tg.Client, p.URL, p.ARN, c.Handle, 20); err != nil {
		t.Fatal(err)
	}
	shipments := func() int {
		var n int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM shipments WHERE event_id = $1`, ev.EventID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := shipments(); n != 1 {
		t.Fatalf("shipments after replay = %d", n)
	}

	// Replayed twice: the same event reaches the DLQ again (a duplicated
	// replay) and --all replays everything that can succeed: still one
	// shipment. The invalid event cannot succeed, so it stays in the DLQ.
	eventstest.Send(ctx, t, tg.Client, p.DLQURL, eventstest.JSON(ev))
	eventstest.Send(ctx, t, tg.Client, p.DLQURL, eventstest.JSON(ev))
	r = ctl(ctx, tg.Endpoint, dsn, nil, "dlq", "replay", p.DLQName, "--all", "--json")
	mustCode(t, r, 0)
	var res replayResult
	r.json(t, &res)
	if res.Replayed != 2 || res.Failed != 0 || len(res.SkippedPermanent) != 1 || res.Mode != "receive-send-delete" {
		t.Fatalf("replay --all: %+v; want 2 replayed and the invalid event left", res)
	}
	st, err = eventstest.Pump(ctx, tg.Client, p.URL, p.ARN, c.Handle, 20)
	if err != nil {
		t.Fatal(err)
	}
	if n := shipments(); n != 1 {
		t.Fatalf("shipments after the second replay = %d", n)
	}
	if st.Failed != 0 || eventstest.Depth(ctx, t, tg.Client, p.DLQURL) != 1 {
		t.Fatalf("after replay --all: %+v, DLQ %d; want the invalid event still in the DLQ, untouched", st, eventstest.Depth(ctx, t, tg.Client, p.DLQURL))
	}
	// --force sends it back anyway (the move task where the server has
	// one), and it is dead-lettered again.
	r = ctl(ctx, tg.Endpoint, dsn, nil, "dlq", "replay", p.DLQName, "--all", "--force", "--json")
	mustCode(t, r, 0)
	res = replayResult{}
	r.json(t, &res)
	if res.Replayed != 1 || len(res.SkippedPermanent) != 0 {
		t.Fatalf("replay --all --force: %+v", res)
	}
	if tg.Name == "moto" && res.Mode != "receive-send-delete" {
		t.Fatalf("moto has no StartMessageMoveTask; mode %s", res.Mode)
	}
	st, err = eventstest.Pump(ctx, tg.Client, p.URL, p.ARN, c.Handle, 20)
	if err != nil {
		t.Fatal(err)
	}
	if st.Failed != 3 || eventstest.Depth(ctx, t, tg.Client, p.DLQURL) != 1 {
		t.Fatalf("invalid message after --force: %+v, DLQ %d", st, eventstest.Depth(ctx, t, tg.Client, p.DLQURL))
	}

	var rows int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM ops_audit WHERE action = 'dlq.replay' AND outcome = 'ok' AND actor = 'tester' AND queue = $1`, p.DLQName).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 3 {
		t.Fatalf("audit rows = %d, want 3", rows)
	}
	var ids []string
	if err := db.QueryRow(ctx, `SELECT message_ids FROM ops_audit WHERE action = 'dlq.replay' ORDER BY id LIMIT 1`).Scan(&ids); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 || ids[0] != msgID {
		t.Fatalf("audit ids %v, want [%s]", ids, msgID)
	}
}

func testReplayThousand(t *testing.T, tg eventstest.Target) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dsn, db := auditDB(t)
	p := eventstest.CreatePair(ctx, t, tg.Client, eventstest.Uniq("analytics"), 3)
	n := 1000
	if tg.Name == "moto" {
		n = 100 // moto_server needs about a second per receive on a 1,000-message queue here
	}
	total := strconv.Itoa(n)
	bodies := make([]string, n)
	for i := range bodies {
		bodies[i] = eventstest.JSON(eventstest.Event())
	}
	sent := sendBatch(ctx, t, tg.Client, p.DLQURL, bodies)
	args := []string{"dlq", "replay", p.DLQName, "--all"}
	if tg.Name == "local" {
		args = append(args, "--no-move-task") // message ids in the audit row; the move task is covered above
	}
	var progressLines atomic.Int32
	stderr := &lockedBuffer{}
	stderr.onWrite = func(s string) {
		if strings.Contains(s, "/"+total+" messages") {
			progressLines.Add(1)
		}
	}
	r := ctl(ctx, tg.Endpoint, dsn, stderr, args...)
	r.stderr = stderr.String()
	mustCode(t, r, 0)
	if n := progressLines.Load(); n < 5 {
		t.Fatalf("%d progress lines, want periodic ones:\n%s", n, r.stderr)
	}
	if !strings.Contains(r.stderr, total+"/"+total+" messages (100%)") {
		t.Fatalf("no final progress line:\n%s", r.stderr)
	}
	if !strings.Contains(r.stdout, "replayed "+total+" messages") {
		t.Fatalf("summary: %s", r.stdout)
	}
	if d := eventstest.Depth(ctx, t, tg.Client, p.URL); d != n {
		t.Fatalf("source depth %d", d)
	}
	if d := eventstest.Depth(ctx, t, tg.Client, p.DLQURL); d != 0 {
		t.Fatalf("DLQ depth %d", d)
	}
	var ids []string
	var outcome string
	if err := db.QueryRow(ctx, `SELECT message_ids, outcome FROM ops_audit WHERE action = 'dlq.replay'`).Scan(&ids, &outcome); err != nil {
		t.Fatal(err)
	}
	sort.Strings(ids)
	sort.Strings(sent)
	if outcome != "ok" || strings.Join(ids, ",") != strings.Join(sent, ",") {
		t.Fatalf("audit: outcome %s, %d ids (want the %d sent)", outcome, len(ids), n)
	}
}

func testReplayInterrupted(t *testing.T, tg eventstest.Target) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dsn, db := auditDB(t)
	p := eventstest.CreatePair(ctx, t, tg.Client, eventstest.Uniq("notify"), 3)
	want := map[string]bool{}
	n := 300
	if tg.Name == "moto" {
		n = 100
	}
	bodies := make([]string, n)
	for i := range bodies {
		ev := eventstest.Event()
		want[ev.EventID] = true
		bodies[i] = eventstest.JSON(ev)
	}
	sendBatch(ctx, t, tg.Client, p.DLQURL, bodies)

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	stderr := &lockedBuffer{}
	re := regexp.MustCompile(fmt.Sprintf(`: (\d+)/%d messages`, n))
	stderr.onWrite = func(s string) {
		if m := re.FindStringSubmatch(s); m != nil {
			if k, _ := strconv.Atoi(m[1]); k >= n*3/10 {
				stop() // the operator presses ^C
			}
		}
	}
	r := ctl(runCtx, tg.Endpoint, dsn, stderr, "dlq", "replay", p.DLQName, "--all", "--no-move-task", "--json")
	r.stderr = stderr.String()
	mustCode(t, r, 1)
	var res replayResult
	r.json(t, &res)
	if !res.Interrupted || res.Replayed < n*3/10 || res.Replayed >= n {
		t.Fatalf("want an interrupted partial replay: %+v", res)
	}
	// Every event is in the DLQ or the source queue (possibly both).
	got := map[string]int{}
	for _, id := range drain(ctx, t, tg.Client, p.URL) {
		got[id]++
	}
	inSource := len(got)
	for _, id := range drain(ctx, t, tg.Client, p.DLQURL) {
		got[id]++
	}
	for id := range want {
		if got[id] == 0 {
			t.Fatalf("event %s lost", id)
		}
	}
	if inSource != res.Replayed {
		t.Fatalf("source holds %d events, summary says %d replayed", inSource, res.Replayed)
	}
	var ids []string
	var outcome string
	if err := db.QueryRow(ctx, `SELECT message_ids, outcome FROM ops_audit WHERE action = 'dlq.replay'`).Scan(&ids, &outcome); err != nil {
		t.Fatal(err)
	}
	if outcome != "interrupted" || len(ids) != res.Replayed {
		t.Fatalf("audit: outcome %s with %d ids, want interrupted with %d", outcome, len(ids), res.Replayed)
	}
}

func testReplayByID(t *testing.T, tg eventstest.Target) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dsn, _ := auditDB(t)
	p := eventstest.CreatePair(ctx, t, tg.Client, eventstest.Uniq("ship"), 3)
	bodies := make([]string, 25)
	for i := range bodies {
		bodies[i] = eventstest.JSON(eventstest.Event())
	}
	ids := sendBatch(ctx, t, tg.Client, p.DLQURL, bodies)

	r := ctl(ctx, tg.Endpoint, "", nil, "dlq", "replay", p.DLQName, "--all", "--dry-run", "--json")
	mustCode(t, r, 0)
	var dry replayResult
	r.json(t, &dry)
	if !dry.DryRun || dry.Replayed != 25 || eventstest.Depth(ctx, t, tg.Client, p.URL) != 0 {
		t.Fatalf("dry run: %+v", dry)
	}
	r = ctl(ctx, tg.Endpoint, dsn, nil, "dlq", "replay", p.DLQName, "--id", ids[3], "--id", ids[17], "--id", "00000000-0000-0000-0000-000000000000", "--json")
	mustCode(t, r, 1) // one id was not found
	var res replayResult
	r.json(t, &res)
	sort.Strings(res.MessageIDs)
	want := []string{ids[3], ids[17]}
	sort.Strings(want)
	if res.Replayed != 2 || strings.Join(res.MessageIDs, ",") != strings.Join(want, ",") || len(res.NotFound) != 1 {
		t.Fatalf("replay by id: %+v", res)
	}
	if s, d := eventstest.Depth(ctx, t, tg.Client, p.URL), eventstest.Depth(ctx, t, tg.Client, p.DLQURL); s != 2 || d != 23 {
		t.Fatalf("source %d DLQ %d, want 2 and 23", s, d)
	}
	r = ctl(ctx, tg.Endpoint, dsn, nil, "dlq", "replay", p.DLQName)
	mustCode(t, r, 2)
}

// testNoEventBodies: bodies that hold no event at all (JSON of another
// shape, plain text) are dead-lettered with a reason the consumer recorded;
// dlq show finds it by the body's SHA-256 (the consumer had no event id to
// record, and the DLQ copy may have a new message id), flags both as
// permanent, and replay leaves them in the DLQ.
func testNoEventBodies(t *testing.T, tg eventstest.Target) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dsn, db := auditDB(t)
	p := eventstest.CreatePair(ctx, t, tg.Client, eventstest.Uniq("noevent"), 3)
	c := shipping.NewConsumer(db, slog.New(slog.DiscardHandler))
	eventstest.Send(ctx, t, tg.Client, p.URL, `{"note":"not an order"}`)
	eventstest.Send(ctx, t, tg.Client, p.URL, `plain text`)
	if _, err := eventstest.Pump(ctx, tg.Client, p.URL, p.ARN, c.Handle, 20); err != nil {
		t.Fatal(err)
	}
	if d := eventstest.Depth(ctx, t, tg.Client, p.DLQURL); d != 2 {
		t.Fatalf("DLQ depth %d; want both bodies dead-lettered", d)
	}
	r := ctl(ctx, tg.Endpoint, dsn, nil, "dlq", "show", p.DLQName, "--json")
	mustCode(t, r, 0)
	var shown struct {
		Messages []messageView `json:"messages"`
	}
	r.json(t, &shown)
	if len(shown.Messages) != 2 {
		t.Fatalf("show: %d messages", len(shown.Messages))
	}
	for _, m := range shown.Messages {
		if m.Reason == "" || !m.Permanent {
			t.Errorf("message %s (%s%s): reason %q permanent %v; want a reason and the permanent flag", m.ID, m.Body, m.BodyText, m.Reason, m.Permanent)
		}
	}
	r = ctl(ctx, tg.Endpoint, dsn, nil, "dlq", "replay", p.DLQName, "--all", "--json")
	mustCode(t, r, 0)
	var res replayResult
	r.json(t, &res)
	if res.Replayed != 0 || len(res.SkippedPermanent) != 2 {
		t.Fatalf("replay: %+v; want both left in the DLQ", res)
	}
	if !strings.Contains(ctl(ctx, tg.Endpoint, dsn, nil, "dlq", "replay", p.DLQName, "--all").stdout, "--force replays them anyway") {
		t.Error("the replay does not say how to replay the permanent messages")
	}
}

func testPurge(t *testing.T, tg eventstest.Target) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dsn, db := auditDB(t)
	p := eventstest.CreatePair(ctx, t, tg.Client, eventstest.Uniq("purge"), 3)
	sendBatch(ctx, t, tg.Client, p.DLQURL, []string{"a", "b", "c"})

	r := ctl(ctx, tg.Endpoint, dsn, nil, "dlq", "purge", p.DLQName)
	mustCode(t, r, 2)
	if !strings.Contains(r.stderr, "without --yes") {
		t.Fatalf("stderr: %s", r.stderr)
	}
	r = ctl(ctx, tg.Endpoint, "", nil, "dlq", "purge", p.DLQName, "--yes")
	mustCode(t, r, 1)
	if !strings.Contains(r.stderr, "no database for the audit trail") {
		t.Fatalf("stderr: %s", r.stderr)
	}
	r = ctl(ctx, tg.Endpoint, dsn, nil, "dlq", "purge", p.Name, "--yes")
	mustCode(t, r, 1)
	if !strings.Contains(r.stderr, "not a dead-letter queue") {
		t.Fatalf("stderr: %s", r.stderr)
	}
	if d := eventstest.Depth(ctx, t, tg.Client, p.DLQURL); d != 3 {
		t.Fatalf("refused purges changed the DLQ: %d", d)
	}
	r = ctl(ctx, tg.Endpoint, dsn, nil, "dlq", "purge", p.DLQName, "--yes")
	mustCode(t, r, 0)
	if d := eventstest.Depth(ctx, t, tg.Client, p.DLQURL); d != 0 {
		t.Fatalf("DLQ depth after purge %d", d)
	}
	var n int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM ops_audit WHERE action = 'dlq.purge' AND outcome = 'ok' AND (detail->>'approximate_messages')::int = 3`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("audit rows %d %v", n, err)
	}
}

func testReview(t *testing.T, tg eventstest.Target) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dsn, db := auditDB(t)
	name := eventstest.Uniq("manual-review")
	url := eventstest.CreateQueue(ctx, t, tg.Client, name)
	comp := `{"type":"compensation_failed","checkout_id":"c-1","execution_id":"arn:aws:states:us-east-1:000000000000:execution:checkout:c-1",` +
		`"failed_state":"SendToManualReview","state":{"checkout_id":"c-1","error":{"Error":"PaymentDeclined","Cause":"card declined"},` +
		`"compensation_error":{"Error":"Transient","Cause":"{\"errorMessage\":\"stripe timeout\",\"errorType\":\"Transient\"}"}}}`
	pub := `{"type":"publish_failed","checkout_id":"c-2","execution_id":"x-2","error":{"Error":"SQS.AmazonSQSException","Cause":"throttled"},"event":{"event_id":"e"}}`
	ids := sendBatch(ctx, t, tg.Client, url, []string{comp, pub})

	r := ctl(ctx, tg.Endpoint, "", nil, "review", "list", "--queue", name, "--json")
	mustCode(t, r, 0)
	var list []reviewView
	r.json(t, &list)
	if len(list) != 2 {
		t.Fatalf("review list: %d items", len(list))
	}
	sums := map[string]string{}
	for _, v := range list {
		sums[v.CheckoutID] = v.Summary
	}
	if sums["c-1"] != "compensation failed: Transient: stripe timeout; after: PaymentDeclined: card declined" ||
		sums["c-2"] != "order event not queued: SQS.AmazonSQSException: throttled" {
		t.Fatalf("summaries: %v", sums)
	}
	r = ctl(ctx, tg.Endpoint, "", nil, "review", "list", "--queue", name)
	mustCode(t, r, 0)
	if !strings.Contains(r.stdout, "compensation_failed") || !strings.Contains(r.stdout, "FAILED STATE") {
		t.Fatalf("table:\n%s", r.stdout)
	}
	r = ctl(ctx, tg.Endpoint, "", nil, "review", "show", ids[0], "--queue", name)
	mustCode(t, r, 0)
	if !strings.Contains(r.stdout, "Checkout  c-1") || !strings.Contains(r.stdout, `"compensation_error"`) {
		t.Fatalf("show:\n%s", r.stdout)
	}
	r = ctl(ctx, tg.Endpoint, dsn, nil, "review", "resolve", ids[0], "--queue", name)
	mustCode(t, r, 2)
	r = ctl(ctx, tg.Endpoint, "", nil, "review", "resolve", ids[0], "--queue", name, "--note", "refunded by hand")
	mustCode(t, r, 1)
	if eventstest.Depth(ctx, t, tg.Client, url) != 2 {
		t.Fatal("a refused resolve removed a message")
	}
	r = ctl(ctx, tg.Endpoint, dsn, nil, "review", "resolve", ids[0], "--queue", name, "--note", "refunded by hand")
	mustCode(t, r, 0)
	if d := eventstest.Depth(ctx, t, tg.Client, url); d != 1 {
		t.Fatalf("depth after resolve %d", d)
	}
	var note, checkout string
	var mids []string
	if err := db.QueryRow(ctx, `SELECT note, detail->>'checkout_id', message_ids FROM ops_audit WHERE action = 'review.resolve' AND outcome = 'ok'`).Scan(&note, &checkout, &mids); err != nil {
		t.Fatal(err)
	}
	if note != "refunded by hand" || checkout != "c-1" || len(mids) != 1 || mids[0] != ids[0] {
		t.Fatalf("audit: %q %q %v", note, checkout, mids)
	}
	r = ctl(ctx, tg.Endpoint, "", nil, "review", "show", ids[0], "--queue", name)
	mustCode(t, r, 1)
}
