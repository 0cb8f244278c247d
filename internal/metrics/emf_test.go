package metrics_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/checkout-dev/checkout/internal/metrics"
)

// emfUnit is the Unit pattern of the specification's JSON schema.
var emfUnit = regexp.MustCompile(`^(Seconds|Microseconds|Milliseconds|Bytes|Kilobytes|Megabytes|Gigabytes|Terabytes|Bits|Kilobits|Megabits|Gigabits|Terabits|Percent|Count|Bytes/Second|Kilobytes/Second|Megabytes/Second|Gigabytes/Second|Terabytes/Second|Bits/Second|Kilobits/Second|Megabits/Second|Gigabits/Second|Terabits/Second|Count/Second|None)$`)

// emfDoc is one parsed document: its timestamp, namespace, dimension sets,
// metric units by name, and the root members.
type emfDoc struct {
	Timestamp  int64
	Namespace  string
	Dimensions [][]string
	Units      map[string]string
	Root       map[string]any
}

// parseEMF checks every line of out against the CloudWatch embedded metric
// format specification (document structure and JSON schema) and returns the
// documents. One line is one LogEvent: a JSON object with nothing around it.
func parseEMF(t *testing.T, out string) []emfDoc {
	t.Helper()
	var docs []emfDoc
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		docs = append(docs, validateEMF(t, sc.Bytes()))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return docs
}

func validateEMF(t *testing.T, line []byte) emfDoc {
	t.Helper()
	fail := func(format string, args ...any) emfDoc {
		t.Helper()
		t.Fatalf("not a valid EMF document (%s): %s", fmt.Sprintf(format, args...), line)
		return emfDoc{}
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var root map[string]any
	if err := dec.Decode(&root); err != nil {
		return fail("root is not a JSON object: %v", err)
	}
	if dec.More() {
		return fail("data after the JSON object")
	}
	aws, ok := root["_aws"].(map[string]any)
	if !ok {
		return fail("no _aws object")
	}
	var doc emfDoc
	ts, ok := aws["Timestamp"].(json.Number)
	if !ok {
		return fail("_aws.Timestamp missing or not a number")
	}
	var err error
	if doc.Timestamp, err = ts.Int64(); err != nil {
		return fail("_aws.Timestamp is not an integer (epoch milliseconds)")
	}
	dirs, ok := aws["CloudWatchMetrics"].([]any)
	if !ok || len(dirs) == 0 {
		return fail("_aws.CloudWatchMetrics missing or empty")
	}
	if len(dirs) != 1 {
		return fail("this recorder writes one MetricDirective per document, got %d", len(dirs))
	}
	for k := range aws {
		if k != "Timestamp" && k != "CloudWatchMetrics" {
			return fail("unexpected member _aws.%s", k)
		}
	}
	dir, ok := dirs[0].(map[string]any)
	if !ok {
		return fail("MetricDirective is not an object")
	}
	for k := range dir {
		if k != "Namespace" && k != "Dimensions" && k != "Metrics" {
			return fail("unexpected MetricDirective member %s", k)
		}
	}
	if doc.Namespace, ok = dir["Namespace"].(string); !ok || doc.Namespace == "" || len(doc.Namespace) > 1024 {
		return fail("Namespace must be a string of 1..1024 characters")
	}
	dims, ok := dir["Dimensions"].([]any)
	if !ok || len(dims) < 1 {
		return fail("Dimensions must be an array of at least one DimensionSet")
	}
	for _, d := range dims {
		set, ok := d.([]any)
		if !ok || len(set) > 30 {
			return fail("a DimensionSet must be an array of at most 30 keys")
		}
		var keys []string
		for _, k := range set {
			ks, ok := k.(string)
			if !ok || ks == "" || len(ks) > 250 {
				return fail("dimension key %v", k)
			}
			if _, ok := root[ks].(string); !ok {
				return fail("dimension %q has no string target member on the root", ks)
			}
			keys = append(keys, ks)
		}
		doc.Dimensions = append(doc.Dimensions, keys)
	}
	defs, ok := dir["Metrics"].([]any)
	if !ok || len(defs) > 100 {
		return fail("Metrics must be an array of at most 100 MetricDefinitions")
	}
	doc.Units = map[string]string{}
	for _, d := range defs {
		def, ok := d.(map[string]any)
		if !ok {
			return fail("MetricDefinition is not an object")
		}
		name, ok := def["Name"].(string)
		if !ok || name == "" || len(name) > 1024 {
			return fail("MetricDefinition.Name must be a string of 1..1024 characters")
		}
		if _, dup := doc.Units[name]; dup {
			return fail("metric %q defined twice", name)
		}
		unit, _ := def["Unit"].(string)
		if u, present := def["Unit"]; present && (!emfUnit.MatchString(unit) || u == nil) {
			return fail("metric %q has unit %v, not a CloudWatch unit", name, u)
		}
		if _, ok := root[name].(json.Number); !ok {
			return fail("metric %q has no numeric target member on the root", name)
		}
		doc.Units[name] = unit
	}
	doc.Root = root
	return doc
}

func num(t *testing.T, d emfDoc, name string) float64 {
	t.Helper()
	n, ok := d.Root[name].(json.Number)
	if !ok {
		t.Fatalf("member %q = %v; want a number", name, d.Root[name])
	}
	f, err := n.Float64()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

var fixed = time.Date(2026, 11, 26, 10, 30, 0, 123_000_000, time.UTC)

func newEMF(buf *bytes.Buffer, log *slog.Logger) *metrics.EMF {
	return metrics.NewEMF(buf, metrics.EMFOptions{Namespace: "Checkout", Now: func() time.Time { return fixed }, ErrorLog: log})
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestEMFDocuments(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		entry     metrics.Entry
		wantLines int
		wantVals  map[string]float64
		wantUnits map[string]string
		wantProps map[string]any
		absent    []string
	}{
		{
			name:      "one count",
			entry:     metrics.Entry{Metrics: []metrics.Metric{metrics.CountOf(metrics.PaymentsAttempted, 1)}},
			wantLines: 1,
			wantVals:  map[string]float64{"PaymentsAttempted": 1},
			wantUnits: map[string]string{"PaymentsAttempted": "Count"},
		},
		{
			name: "two counts and properties",
			entry: metrics.Entry{
				Metrics:    []metrics.Metric{metrics.CountOf(metrics.PaymentsAttempted, 1), metrics.CountOf(metrics.PaymentsFailed, 0)},
				Properties: map[string]any{"checkout_id": "c-1", "payment_outcome": "succeeded"},
			},
			wantLines: 1,
			wantVals:  map[string]float64{"PaymentsAttempted": 1, "PaymentsFailed": 0},
			wantUnits: map[string]string{"PaymentsAttempted": "Count", "PaymentsFailed": "Count"},
			wantProps: map[string]any{"checkout_id": "c-1", "payment_outcome": "succeeded"},
		},
		{
			name:      "duration in fractional milliseconds",
			entry:     metrics.Entry{Metrics: []metrics.Metric{metrics.DurationOf(metrics.CheckoutDuration, 1500*time.Millisecond+250*time.Microsecond)}},
			wantLines: 1,
			wantVals:  map[string]float64{"CheckoutDuration": 1500.25},
			wantUnits: map[string]string{"CheckoutDuration": "Milliseconds"},
		},
		{
			name:      "empty unit is None",
			entry:     metrics.Entry{Metrics: []metrics.Metric{{Name: metrics.CircuitBreakerOpen, Value: 1}}},
			wantLines: 1,
			wantVals:  map[string]float64{"CircuitBreakerOpen": 1},
			wantUnits: map[string]string{"CircuitBreakerOpen": "None"},
		},
		{
			name: "a property never overrides a metric or _aws",
			entry: metrics.Entry{
				Metrics:    []metrics.Metric{metrics.CountOf(metrics.PaymentsFailed, 1)},
				Properties: map[string]any{"PaymentsFailed": "nope", "_aws": "nope", "kept": 7},
			},
			wantLines: 1,
			wantVals:  map[string]float64{"PaymentsFailed": 1},
			wantUnits: map[string]string{"PaymentsFailed": "Count"},
			wantProps: map[string]any{"kept": json.Number("7")},
		},
		{
			name: "invalid metrics are dropped, valid ones kept",
			entry: metrics.Entry{Metrics: []metrics.Metric{
				{Name: "", Value: 1}, {Name: "Nan", Value: math.NaN()}, {Name: "Inf", Value: math.Inf(1)},
				metrics.CountOf("Ok", 2), metrics.CountOf("Ok", 3), {Name: "_aws", Value: 1},
			}},
			wantLines: 1,
			wantVals:  map[string]float64{"Ok": 2},
			wantUnits: map[string]string{"Ok": "Count"},
			absent:    []string{"Nan", "Inf"},
		},
		{
			name:      "nothing valid writes nothing",
			entry:     metrics.Entry{Metrics: []metrics.Metric{{Name: "Nan", Value: math.NaN()}}, Properties: map[string]any{"a": 1}},
			wantLines: 0,
		},
		{
			name:      "no metrics writes nothing",
			entry:     metrics.Entry{Properties: map[string]any{"a": 1}},
			wantLines: 0,
		},
		{
			name: "properties that are not JSON are dropped, the metrics kept",
			entry: metrics.Entry{Metrics: []metrics.Metric{metrics.CountOf(metrics.PaymentsAttempted, 1)},
				Properties: map[string]any{"ch": make(chan int)}},
			wantLines: 1,
			wantVals:  map[string]float64{"PaymentsAttempted": 1},
			wantUnits: map[string]string{"PaymentsAttempted": "Count"},
			absent:    []string{"ch"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			newEMF(&buf, discard()).Record(context.Background(), tc.entry)
			docs := parseEMF(t, buf.String())
			if len(docs) != tc.wantLines {
				t.Fatalf("%d documents; want %d:\n%s", len(docs), tc.wantLines, buf.String())
			}
			if tc.wantLines == 0 {
				return
			}
			d := docs[0]
			if d.Namespace != "Checkout" || d.Timestamp != fixed.UnixMilli() {
				t.Errorf("namespace %q timestamp %d; want Checkout %d", d.Namespace, d.Timestamp, fixed.UnixMilli())
			}
			// No dimensions: one empty DimensionSet, the metric identity the
			// template's alarms use.
			if len(d.Dimensions) != 1 || len(d.Dimensions[0]) != 0 {
				t.Errorf("Dimensions %v; want [[]]", d.Dimensions)
			}
			if len(d.Units) != len(tc.wantUnits) {
				t.Errorf("metrics %v; want %v", d.Units, tc.wantUnits)
			}
			for name, unit := range tc.wantUnits {
				if d.Units[name] != unit {
					t.Errorf("unit of %s = %q; want %q", name, d.Units[name], unit)
				}
			}
			for name, v := range tc.wantVals {
				if got := num(t, d, name); got != v {
					t.Errorf("%s = %v; want %v", name, got, v)
				}
			}
			for k, v := range tc.wantProps {
				if d.Root[k] != v {
					t.Errorf("property %s = %#v; want %#v", k, d.Root[k], v)
				}
			}
			for _, k := range tc.absent {
				if _, ok := d.Root[k]; ok {
					t.Errorf("member %s present; want it dropped", k)
				}
			}
		})
	}
}

func TestEMFSplitsMoreThan100Metrics(t *testing.T) {
	t.Parallel()
	var ms []metrics.Metric
	for i := range 150 {
		ms = append(ms, metrics.CountOf(fmt.Sprintf("M%03d", i), i))
	}
	var buf bytes.Buffer
	newEMF(&buf, discard()).Record(context.Background(), metrics.Entry{Metrics: ms, Properties: map[string]any{"p": "v"}})
	docs := parseEMF(t, buf.String())
	if len(docs) != 2 || len(docs[0].Units) != 100 || len(docs[1].Units) != 50 {
		t.Fatalf("%d documents; want 2 holding 100 and 50 metrics", len(docs))
	}
	seen := map[string]bool{}
	for _, d := range docs {
		if d.Root["p"] != "v" {
			t.Errorf("property missing from a split document")
		}
		for name := range d.Units {
			seen[name] = true
			if want := float64(0); num(t, d, name) < want {
				t.Errorf("%s negative", name)
			}
		}
	}
	if len(seen) != 150 {
		t.Errorf("%d distinct metrics; want 150", len(seen))
	}
}

func TestEMFConcurrentRecordsNeverInterleave(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	rec := newEMF(&buf, discard())
	const workers, each = 16, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				rec.Record(context.Background(), metrics.Entry{
					Metrics:    []metrics.Metric{metrics.CountOf(metrics.PaymentsAttempted, 1), metrics.CountOf(metrics.PaymentsFailed, i%2)},
					Properties: map[string]any{"worker": w, "i": i},
				})
			}
		})
	}
	wg.Wait()
	docs := parseEMF(t, buf.String())
	if len(docs) != workers*each {
		t.Fatalf("%d documents; want %d", len(docs), workers*each)
	}
	var attempted, failed float64
	for _, d := range docs {
		attempted += num(t, d, "PaymentsAttempted")
		failed += num(t, d, "PaymentsFailed")
	}
	if attempted != workers*each || failed != workers*each/2 {
		t.Errorf("sums attempted=%v failed=%v; want %d and %d", attempted, failed, workers*each, workers*each/2)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("stdout closed") }

func TestEMFWriteErrorIsLoggedNotReturned(t *testing.T) {
	t.Parallel()
	var logBuf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logBuf, nil))
	rec := metrics.NewEMF(failingWriter{}, metrics.EMFOptions{Namespace: "Checkout", ErrorLog: log})
	rec.Record(context.Background(), metrics.Entry{Metrics: []metrics.Metric{metrics.CountOf(metrics.PaymentsAttempted, 1)}})
	if !strings.Contains(logBuf.String(), "stdout closed") {
		t.Errorf("error log %q; want the write error", logBuf.String())
	}
}

// Not parallel: it sets the environment.
func TestNamespaceFromEnv(t *testing.T) {
	for _, tc := range []struct{ env, want string }{{"", "Checkout"}, {"Shop-Prod", "Shop-Prod"}} {
		t.Run(tc.want, func(t *testing.T) {
			t.Setenv("METRICS_NAMESPACE", tc.env)
			if got := metrics.NamespaceFromEnv(); got != tc.want {
				t.Errorf("NamespaceFromEnv() = %q; want %q", got, tc.want)
			}
			var buf bytes.Buffer
			metrics.NewEMF(&buf, metrics.EMFOptions{}).Record(context.Background(),
				metrics.Entry{Metrics: []metrics.Metric{metrics.CountOf(metrics.PaymentsAttempted, 1)}})
			if docs := parseEMF(t, buf.String()); len(docs) != 1 || docs[0].Namespace != tc.want {
				t.Errorf("documents %+v; want one in namespace %q", docs, tc.want)
			}
		})
	}
}

func TestSlogRecorder(t *testing.T) {
	t.Parallel()
	entry := metrics.Entry{Metrics: []metrics.Metric{metrics.DurationOf(metrics.CheckoutDuration, 2*time.Second)},
		Properties: map[string]any{"checkout_id": "c-9"}}
	for _, tc := range []struct {
		name  string
		level slog.Level
		want  bool
	}{{"debug logger sees it", slog.LevelDebug, true}, {"info logger drops it", slog.LevelInfo, false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			metrics.NewSlog(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: tc.level}))).Record(context.Background(), entry)
			if !tc.want {
				if buf.Len() != 0 {
					t.Errorf("logged %s; want nothing", buf.String())
				}
				return
			}
			var rec struct {
				Level            string
				Msg              string
				CheckoutDuration struct {
					Value float64
					Unit  string
				}
				CheckoutID string `json:"checkout_id"`
			}
			if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
				t.Fatalf("%s: %v", buf.String(), err)
			}
			if rec.Level != "DEBUG" || rec.Msg != "metric" || rec.CheckoutDuration.Value != 2000 ||
				rec.CheckoutDuration.Unit != "Milliseconds" || rec.CheckoutID != "c-9" {
				t.Errorf("logged %s", buf.String())
			}
		})
	}
}

func TestNopAndOrNop(t *testing.T) {
	t.Parallel()
	if _, ok := metrics.OrNop(nil).(metrics.Nop); !ok {
		t.Error("OrNop(nil) is not Nop")
	}
	var buf bytes.Buffer
	rec := newEMF(&buf, discard())
	if metrics.OrNop(rec) != metrics.Recorder(rec) {
		t.Error("OrNop(r) is not r")
	}
}
