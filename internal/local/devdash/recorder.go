package devdash

import (
	"context"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/checkout-dev/checkout/internal/metrics"
)

// RequestsSeries is the recorder's series of API answers: one point per
// entry that carries the API's "status" property (the API records one
// entry per request: ApiLatency unless it was a long poll, ApiServerErrors
// for a 5xx), valued 1, with the answer's status code. It is not a
// CloudWatch metric; it lets the page count errors by code, long polls
// included.
const RequestsSeries = "api.requests"

// ExecutionThrottled is the local Step Functions' metric of state
// transitions that waited for the account's StateTransition bucket
// (CloudWatch's AWS/States ExecutionThrottled): one point of value 1 per
// throttled transition; the page shows their sum over the window.
const ExecutionThrottled = "ExecutionThrottled"

// Point is one recorded data point.
type Point struct {
	At     time.Time
	Value  float64
	Status int    // the entry's "status" property (an HTTP status), 0 without one
	Route  string // the entry's "route" property, "" without one
}

// Recorder is a metrics.Recorder that keeps, for each metric name, the
// points of the last Window in a ring of at most Max points (the oldest
// are overwritten first, so a burst costs bounded memory). Safe for
// concurrent use; Record never blocks for long.
type Recorder struct {
	window time.Duration
	max    int
	now    func() time.Time

	mu     sync.Mutex
	series map[string]*ring
}

// RecorderOptions size a Recorder. Zero values take the defaults.
type RecorderOptions struct {
	Window time.Duration    // default 15 minutes
	Max    int              // points kept per metric; default 100,000
	Now    func() time.Time // default time.Now
}

// NewRecorder returns an empty Recorder.
func NewRecorder(o RecorderOptions) *Recorder {
	if o.Window <= 0 {
		o.Window = 15 * time.Minute
	}
	if o.Max <= 0 {
		o.Max = 100_000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Recorder{window: o.Window, max: o.Max, now: o.Now, series: map[string]*ring{}}
}

// Window is how far back the recorder keeps points.
func (r *Recorder) Window() time.Duration { return r.window }

// Record keeps e's metrics (and, when e has a "status" property, one point
// of RequestsSeries).
func (r *Recorder) Record(_ context.Context, e metrics.Entry) {
	if len(e.Metrics) == 0 {
		return
	}
	at := r.now()
	status := intProperty(e.Properties["status"])
	route, _ := e.Properties["route"].(string)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range e.Metrics {
		if m.Name == "" || math.IsNaN(m.Value) || math.IsInf(m.Value, 0) {
			continue
		}
		r.ring(m.Name).add(Point{At: at, Value: m.Value, Status: status, Route: route})
	}
	if status != 0 {
		r.ring(RequestsSeries).add(Point{At: at, Value: 1, Status: status, Route: route})
	}
}

func (r *Recorder) ring(name string) *ring {
	g := r.series[name]
	if g == nil {
		g = &ring{max: r.max}
		r.series[name] = g
	}
	return g
}

// Points returns the points of metric name recorded at or after since (and
// within the window), oldest first.
func (r *Recorder) Points(name string, since time.Time) []Point {
	if floor := r.now().Add(-r.window); since.Before(floor) {
		since = floor
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.series[name]
	if g == nil {
		return nil
	}
	return g.since(since)
}

// Last returns the newest point of metric name within the window.
func (r *Recorder) Last(name string) (Point, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.series[name]
	if g == nil || g.n == 0 {
		return Point{}, false
	}
	p := g.at(g.n - 1)
	if p.At.Before(r.now().Add(-r.window)) {
		return Point{}, false
	}
	return p, true
}

// ring is a bounded buffer of points in the order recorded.
type ring struct {
	pts   []Point
	start int // index of the oldest point once the buffer is full
	n     int
	max   int
}

func (g *ring) add(p Point) {
	if len(g.pts) < g.max {
		g.pts = append(g.pts, p)
		g.n = len(g.pts)
		return
	}
	g.pts[g.start] = p
	g.start = (g.start + 1) % g.max
}

func (g *ring) at(i int) Point { return g.pts[(g.start+i)%len(g.pts)] }

func (g *ring) since(t time.Time) []Point {
	// Points are in recording order, and so in time order: find the first
	// one at or after t.
	i := sort.Search(g.n, func(i int) bool { return !g.at(i).At.Before(t) })
	out := make([]Point, 0, g.n-i)
	for ; i < g.n; i++ {
		out = append(out, g.at(i))
	}
	return out
}

func intProperty(v any) int {
	switch n := v.(type) {
	case int:
		return n
	case int32:
		return int(n)
	case int64:
		return int(n)
	case float64:
		return int(n)
	case float32:
		return int(n)
	}
	return 0
}

// Tee is a metrics.Recorder that records every entry on each of its
// recorders (nil ones skipped), in order.
type Tee []metrics.Recorder

// Record records e on every recorder.
func (t Tee) Record(ctx context.Context, e metrics.Entry) {
	for _, r := range t {
		if r != nil {
			r.Record(ctx, e)
		}
	}
}

// Percentile is the p-th percentile (0..100) of values by the nearest-rank
// method; NaN for none. values is sorted in place.
func Percentile(values []float64, p float64) float64 {
	if len(values) == 0 {
		return math.NaN()
	}
	sort.Float64s(values)
	rank := int(math.Ceil(p / 100 * float64(len(values))))
	if rank < 1 {
		rank = 1
	}
	if rank > len(values) {
		rank = len(values)
	}
	return values[rank-1]
}
