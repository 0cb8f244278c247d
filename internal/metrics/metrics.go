// Package metrics publishes the custom CloudWatch metrics that the
// template's alarms watch (namespace METRICS_NAMESPACE, no dimensions):
//
//   - PaymentsAttempted, PaymentsFailed (Count): one data point each per
//     charge attempt that reached an outcome; the failure-rate alarm divides
//     their sums.
//   - CheckoutDuration (Milliseconds): from the checkout's creation to its
//     final status; the latency alarm watches its p95.
//   - CircuitBreakerOpen (None): 1 when the payment gateway's circuit
//     breaker opens, 0 when it closes; the alarm watches its maximum.
//   - ApiLatency (Milliseconds): one data point per API request answered
//     at once (long polls with ?wait= excluded: their time is the buyer's
//     wait, not ours); the alarm watches its p99.
//   - ApiServerErrors (Count): one per API answer of 500 or more (503 busy
//     included); the alarm watches their sum.
//   - InventoryDiscrepancy (Count): one per sync of the Redis stock gate
//     by the sweeper (every run, when the inventory has a gate): the sum
//     over the armed SKUs of |gate − database| the sync found and repaired
//     (0 when the gate was exact). Not published without a gate, nor by a
//     sync that failed before finding anything. The alarm fires when it
//     stays above 0 (the gate keeps drifting between syncs).
//   - PartitionMonthsAhead (None): one per upkeep of the partitions by the
//     sweeper (every run): how many months after the current one every
//     partitioned table has its partition (internal/partition). The alarm
//     fires when it falls below 2: the upkeep kept failing for a month, and
//     inserts fail once the current month has no partition.
//
// A [Recorder] is the port; [EMF] writes CloudWatch Embedded Metric Format
// lines (stdout in a Lambda, where CloudWatch Logs extracts the metrics with
// no API call), [Slog] logs them for local runs, and [Nop] drops them.
//
// Recording never fails the caller: a data point that cannot be written is
// dropped and reported on the recorder's error log.
package metrics

import (
	"context"
	"os"
	"time"
)

// Metric names, as template.yaml's alarms spell them.
const (
	PaymentsAttempted    = "PaymentsAttempted"
	PaymentsFailed       = "PaymentsFailed"
	CheckoutDuration     = "CheckoutDuration"
	CircuitBreakerOpen   = "CircuitBreakerOpen"
	ApiLatency           = "ApiLatency"
	ApiServerErrors      = "ApiServerErrors"
	InventoryDiscrepancy = "InventoryDiscrepancy"
	PartitionMonthsAhead = "PartitionMonthsAhead"
)

// DefaultNamespace is the CloudWatch namespace when METRICS_NAMESPACE is
// unset (template.yaml's MetricsNamespace default).
const DefaultNamespace = "Checkout"

// Unit is a CloudWatch metric unit (the MetricDatum unit names).
type Unit string

// The units this project uses.
const (
	Count        Unit = "Count"
	Milliseconds Unit = "Milliseconds"
	None         Unit = "None"
)

// Metric is one data point.
type Metric struct {
	Name  string
	Value float64
	Unit  Unit // empty means None
}

// Entry is what one Record call publishes: its metrics share one timestamp
// and one log line. Properties are extra members written next to the
// metrics for searching the logs (checkout id, outcome); they are never
// dimensions, so they do not create metrics or change the metrics'
// identity. A property whose key is a metric name of the entry or "_aws"
// is dropped.
type Entry struct {
	Metrics    []Metric
	Properties map[string]any
}

// Recorder publishes entries. Implementations are safe for concurrent use,
// never block for long and never fail the caller.
type Recorder interface {
	Record(ctx context.Context, e Entry)
}

// Nop is a Recorder that drops everything.
type Nop struct{}

// Record does nothing.
func (Nop) Record(context.Context, Entry) {}

// OrNop returns r, or Nop when r is nil.
func OrNop(r Recorder) Recorder {
	if r == nil {
		return Nop{}
	}
	return r
}

// NamespaceFromEnv returns METRICS_NAMESPACE, or DefaultNamespace when it
// is unset or empty.
func NamespaceFromEnv() string {
	if ns := os.Getenv("METRICS_NAMESPACE"); ns != "" {
		return ns
	}
	return DefaultNamespace
}

// CountOf is a Count data point of value v.
func CountOf(name string, v int) Metric { return Metric{Name: name, Value: float64(v), Unit: Count} }

// DurationOf is a Milliseconds data point of d (fractional milliseconds
// kept).
func DurationOf(name string, d time.Duration) Metric {
	return Metric{Name: name, Value: float64(d) / float64(time.Millisecond), Unit: Milliseconds}
}
