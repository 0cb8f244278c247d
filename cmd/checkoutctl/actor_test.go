package main

import (
	"bytes"
	"context"
	"os/user"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/checkout-dev/checkout/internal/events/eventstest"
	"github.com/checkout-dev/checkout/localaws/motoserver"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

// TestAuditActorDefaultsToTheOSUser: without --actor, a purge against a
// local stack is audited under the OS user running checkoutctl (it said
// "unknown" when $USER was unset, as under sudo or in CI).
func TestAuditActorDefaultsToTheOSUser(t *testing.T) {
	t.Parallel()
	me, err := user.Current()
	if err != nil {
		t.Skipf("no OS user: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tg := eventstest.Local(t, pgtest.NewPool(t))
	dsn, db := auditDB(t)
	p := eventstest.CreatePair(ctx, t, tg.Client, eventstest.Uniq("actor"), 3)
	var out, errb bytes.Buffer
	code := runEnv(ctx, []string{"--no-local", "--stack", "", "--endpoint-url", tg.Endpoint, "--database-url", dsn,
		"dlq", "purge", p.DLQName, "--yes"}, &out, &errb, func(string) string { return "" })
	if code != 0 {
		t.Fatalf("purge: exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	var actor string
	if err := db.QueryRow(ctx, `SELECT actor FROM ops_audit WHERE action = 'dlq.purge'`).Scan(&actor); err != nil {
		t.Fatal(err)
	}
	if actor != me.Username {
		t.Fatalf("audit actor %q; want the OS user %q", actor, me.Username)
	}
}

// TestActorIsTheAWSCallerIdentity: against AWS (no local endpoint) the
// actor is the caller identity's ARN, asked of STS (moto_server here).
func TestActorIsTheAWSCallerIdentity(t *testing.T) {
	t.Parallel()
	moto := motoserver.Start(t)
	var errb bytes.Buffer
	e := &env{stderr: &errb, getenv: func(k string) string {
		if k == "AWS_ENDPOINT_URL_STS" {
			return moto
		}
		return ""
	}}
	e.awsCfg = aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")}
	got := e.actor(context.Background())
	if !strings.HasPrefix(got, "arn:aws:") {
		t.Fatalf("actor %q (stderr %s); want the caller identity's ARN", got, errb.String())
	}
	e.opts.actor = "alice"
	if got := e.actor(context.Background()); got != "alice" {
		t.Fatalf("with --actor: %q", got)
	}
}

// TestLineProgressPrintsFinalOnce: without a terminal the progress is a
// line per tenth and the final count, printed once (it came twice).
func TestLineProgressPrintsFinalOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		total, last int
		want        string
	}{
		{10, 10, "copy: 10/10 messages (100%)\n"},
		{10, 7, "copy: 7/10 messages (70%)\n"},
	} {
		var buf bytes.Buffer
		p := newProgress(&buf, tc.total, "copy")
		for i := 1; i <= tc.last; i++ {
			p.Set(i)
		}
		p.Finish()
		lines := strings.SplitAfter(buf.String(), "\n")
		if n := strings.Count(buf.String(), tc.want); n != 1 {
			t.Errorf("total %d done %d: the final line %q appears %d times in\n%s", tc.total, tc.last, tc.want, n, buf.String())
		}
		if lines[len(lines)-2] != tc.want {
			t.Errorf("total %d done %d: last line %q; want %q", tc.total, tc.last, lines[len(lines)-2], tc.want)
		}
	}
}
