package lambdatest

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/checkout-dev/checkout/localaws"

	"github.com/checkout-dev/checkout/internal/postgres"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m, postgres.Migrate, localaws.Migrate) }

// measurement is one function's line of the report.
type measurement struct {
	name        string
	size        int64
	build       time.Duration
	initMs      float64       // rapid's INIT REPORT (runtime exec to first /next); -1 unknown
	invokeMs    float64       // RIE's REPORT Duration of the first invoke (includes waiting for init); -1 unknown
	firstInvoke time.Duration // client round trip of the first invoke (includes init)
	startToResp time.Duration // RIE process start to the first invoke's answer
}

// TestLambdaBinaries builds every functions/<name> with a main.go as a
// Lambda bootstrap, runs each under aws-lambda-rie (one at a time, invokes
// in series) on its own fresh database and Stripe fake, sends its sample
// events and checks the answers and the rows they left.
func TestLambdaBinaries(t *testing.T) {
	root := repoRoot(t)
	rie := rieBinary(t, root)
	names, noMain := discoverFunctions(t, root)
	all := cases()

	start := time.Now()
	bins := buildAll(t, root, t.TempDir(), names)
	t.Logf("built %d functions in %s (%d at a time)", len(names), time.Since(start).Round(time.Millisecond), buildParallelism)

	var rows []measurement
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			c, ok := all[name]
			if !ok {
				t.Fatalf("functions/%s has a main.go but no case: add one to internal/lambdatest/cases_test.go "+
					"(its sample event under events/, the environment it needs, and checks of its answer)", name)
			}
			b := bins[name]
			if b.err != nil {
				t.Fatalf("build: %v", b.err)
			}
			if m, ok := runFunction(t, rie, root, name, c, b); ok {
				rows = append(rows, m)
			}
		})
	}
	for _, name := range noMain {
		t.Run(name, func(t *testing.T) {
			t.Skipf("functions/%s has no main.go yet: not built, not covered", name)
		})
	}
	var orphans []string
	for name := range all {
		if _, err := os.Stat(filepath.Join(root, "functions", name)); err != nil {
			orphans = append(orphans, name)
		}
	}
	sort.Strings(orphans)
	for _, name := range orphans {
		t.Run(name, func(t *testing.T) {
			t.Skipf("a case exists but there is no functions/%s folder: not covered", name)
		})
	}
	writeReport(t, rows)
}

// runFunction runs one built function under RIE and checks every
// invocation. ok is false when it failed before answering the first one.
func runFunction(t *testing.T, rie, root, name string, c functionCase, b built) (m measurement, ok bool) {
	t.Helper()
	fx := newFixture(t, root)
	if c.prepare != nil {
		c.prepare(t, fx)
	}
	var extra map[string]string
	if c.env != nil {
		extra = c.env(fx)
	}
	e := startRIE(t, rie, b.path, fx.env(name, extra))
	m = measurement{name: name, size: b.size, build: b.took, initMs: -1, invokeMs: -1}
	for i, inv := range c.invokes {
		var payload []byte
		if inv.payload != nil {
			payload = inv.payload(t, fx)
		} else {
			payload = fx.event(t, inv.event)
		}
		status, body, took, err := e.invoke(payload)
		if err != nil || status != 200 {
			hint := ""
			if status == 502 {
				hint = " (502: the bootstrap failed its init or crashed; see its log below)"
			}
			t.Fatalf("%s: invoke: HTTP %d%s, %v\nbody: %s\nRIE log (tail):\n%s", inv.name, status, hint, err, body, e.tail(40))
		}
		if i == 0 {
			m.firstInvoke, m.startToResp, ok = took, time.Since(e.started), true
		}
		t.Run(inv.name, func(t *testing.T) {
			inv.check(t, fx, body)
			if t.Failed() {
				t.Logf("RIE log (tail):\n%s", e.tail(40))
			}
		})
	}
	e.stop()
	m.initMs, m.invokeMs = e.initDuration(), e.firstInvokeDuration()
	t.Logf("%s: bootstrap %d bytes (%.1f MiB), init %s ms (RIE INIT REPORT), first invoke %s ms round trip (RIE REPORT Duration %s ms), RIE start to first answer %s ms",
		name, m.size, mib(m.size), msOrUnknown(m.initMs), ms(m.firstInvoke), msOrUnknown(m.invokeMs), ms(m.startToResp))
	return m, ok
}

// writeReport writes the size and init-time table to
// $TMPDIR/checkout-lambda-report.md and logs its path.
func writeReport(t *testing.T, rows []measurement) {
	t.Helper()
	if len(rows) == 0 {
		return
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].name < rows[j].name })
	var sb strings.Builder
	fmt.Fprintf(&sb, "# Lambda bootstraps under aws-lambda-rie\n\n")
	fmt.Fprintf(&sb, "Host build (%s), `CGO_ENABLED=0 go build -tags lambda.norpc -trimpath -ldflags \"-s -w\"`; measured %s.\n\n",
		hostArch(), time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&sb, "| function | bootstrap (bytes) | MiB | init (ms, RIE INIT REPORT) | first invoke (ms, round trip) | first invoke (ms, RIE REPORT Duration) |\n")
	fmt.Fprintf(&sb, "|---|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(&sb, "| %s | %d | %.1f | %s | %s | %s |\n", r.name, r.size, mib(r.size), msOrUnknown(r.initMs), ms(r.firstInvoke), msOrUnknown(r.invokeMs))
	}
	fmt.Fprintf(&sb, "\ninit: from RIE starting the bootstrap to its first call for the next event (what Lambda reports as Init Duration). "+
		"first invoke: the Invoke API round trip of the first event, init included; RIE REPORT Duration: what RIE reports for it "+
		"(in RIE's default mode init runs asynchronously, so this also includes waiting for init).\n")
	path := filepath.Join(os.TempDir(), "checkout-lambda-report.md")
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		t.Errorf("write report: %v", err)
		return
	}
	t.Logf("report written to %s:\n%s", path, sb.String())
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

func msOrUnknown(v float64) string {
	if v < 0 {
		return "?"
	}
	return fmt.Sprintf("%.1f", v)
}
