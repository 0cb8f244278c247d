package metrics

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"sync"
	"time"
)

// maxMetricsPerDirective is the EMF limit on MetricDefinitions in one
// MetricDirective; an entry with more is split over several lines.
const maxMetricsPerDirective = 100

// EMF is a Recorder writing one CloudWatch Embedded Metric Format document
// per line to an io.Writer (os.Stdout in a Lambda: CloudWatch Logs extracts
// the metrics from the function's log stream).
//
// Every document has one MetricDirective in the configured namespace with
// "Dimensions": [[]] — one empty DimensionSet, which the specification
// allows ("A DimensionSet MAY be empty"; the Dimensions array itself needs at
// least one set). The metrics are therefore published with no dimensions,
// the identity the template's alarms use (Namespace + MetricName only).
//
// Each document is written with a single Write call under a mutex, so
// concurrent Records never interleave. Safe for concurrent use.
type EMF struct {
	mu  sync.Mutex
	w   io.Writer
	ns  string
	now func() time.Time
	log *slog.Logger
}

// EMFOptions configures an EMF recorder.
type EMFOptions struct {
	// Namespace is the CloudWatch namespace; default NamespaceFromEnv().
	Namespace string
	// Now stamps the documents (_aws.Timestamp); default time.Now.
	Now func() time.Time
	// ErrorLog receives dropped data points and write errors; default
	// slog.Default().
	ErrorLog *slog.Logger
}

// NewEMF returns an EMF recorder writing to w.
func NewEMF(w io.Writer, o EMFOptions) *EMF {
	if o.Namespace == "" {
		o.Namespace = NamespaceFromEnv()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ErrorLog == nil {
		o.ErrorLog = slog.Default()
	}
	return &EMF{w: w, ns: o.Namespace, now: o.Now, log: o.ErrorLog}
}

// Namespace returns the CloudWatch namespace the recorder publishes in.
func (e *EMF) Namespace() string { return e.ns }

type emfMetadata struct {
	Timestamp         int64             `json:"Timestamp"`
	CloudWatchMetrics []metricDirective `json:"CloudWatchMetrics"`
}

type metricDirective struct {
	Namespace  string             `json:"Namespace"`
	Dimensions [][]string         `json:"Dimensions"`
	Metrics    []metricDefinition `json:"Metrics"`
}

type metricDefinition struct {
	Name string `json:"Name"`
	Unit Unit   `json:"Unit"`
}

// Record writes e's metrics as one EMF line (several when it holds more
// than 100 metrics). Metrics with an empty name, a repeated name or a value
// that is not a finite number are dropped (logged); an entry left with no
// metric writes nothing.
func (e *EMF) Record(ctx context.Context, en Entry) {
	ms := e.valid(ctx, en.Metrics)
	if len(ms) == 0 {
		return
	}
	ts := e.now().UnixMilli()
	var lines []byte
	for start := 0; start < len(ms); start += maxMetricsPerDirective {
		chunk := ms[start:min(len(ms), start+maxMetricsPerDirective)]
		doc, err := e.document(ts, chunk, en.Properties)
		if err != nil {
			// A property that does not marshal: keep the metrics.
			e.log.WarnContext(ctx, "metrics: dropping properties that do not encode as JSON", "err", err)
			if doc, err = e.document(ts, chunk, nil); err != nil {
				e.log.ErrorContext(ctx, "metrics: cannot encode EMF document", "err", err)
				return
			}
		}
		lines = append(append(lines, doc...), '\n')
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, err := e.w.Write(lines); err != nil {
		e.log.ErrorContext(ctx, "metrics: write EMF document", "err", err)
	}
}

func (e *EMF) valid(ctx context.Context, in []Metric) []Metric {
	out := make([]Metric, 0, len(in))
	seen := make(map[string]bool, len(in))
	for _, m := range in {
		switch {
		case m.Name == "" || m.Name == "_aws":
			e.log.WarnContext(ctx, "metrics: dropping a metric with an invalid name", "name", m.Name)
			continue
		case seen[m.Name]:
			e.log.WarnContext(ctx, "metrics: dropping a repeated metric", "name", m.Name)
			continue
		case math.IsNaN(m.Value) || math.IsInf(m.Value, 0):
			e.log.WarnContext(ctx, "metrics: dropping a metric that is not a finite number", "name", m.Name)
			continue
		}
		if m.Unit == "" {
			m.Unit = None
		}
		seen[m.Name] = true
		out = append(out, m)
	}
	return out
}

func (e *EMF) document(ts int64, ms []Metric, props map[string]any) ([]byte, error) {
	root := make(map[string]any, len(ms)+len(props)+1)
	for k, v := range props {
		root[k] = v
	}
	dir := metricDirective{Namespace: e.ns, Dimensions: [][]string{{}}, Metrics: make([]metricDefinition, len(ms))}
	for i, m := range ms {
		dir.Metrics[i] = metricDefinition{Name: m.Name, Unit: m.Unit}
		root[m.Name] = m.Value // a metric wins over a property of the same name
	}
	root["_aws"] = emfMetadata{Timestamp: ts, CloudWatchMetrics: []metricDirective{dir}}
	return json.Marshal(root)
}
