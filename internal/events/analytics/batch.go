package analytics

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"time"

	"github.com/checkout-dev/checkout/internal/events"
)

// BatchID identifies a batch by its events: the first 32 hex digits of the
// SHA-256 of the sorted, distinct event ids joined by newlines. It does not
// depend on the order of the deliveries, their SQS message ids or the time,
// so the same events always get the same id.
func BatchID(ds []events.Delivery) string {
	ids := make([]string, 0, len(ds))
	for _, d := range ds {
		ids = append(ids, d.Event.EventID)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	sum := sha256.Sum256([]byte(strings.Join(ids, "\n")))
	return hex.EncodeToString(sum[:16])
}

// PartitionTime is the UTC time whose day and hour partition the batch: the
// earliest occurred_at of its events (zero for an empty batch).
func PartitionTime(ds []events.Delivery) time.Time {
	var t time.Time
	for i, d := range ds {
		if o := d.Event.OccurredAt; i == 0 || o.Before(t) {
			t = o
		}
	}
	return t.UTC()
}

// BatchKey is the slash-separated key of the batch's object relative to the
// sink's root: dt=YYYY-MM-DD/hour=HH/<BatchID>.ndjson, partitioned by
// PartitionTime. Deterministic in the batch's events.
func BatchKey(ds []events.Delivery) string {
	t := PartitionTime(ds)
	return "dt=" + t.Format("2006-01-02") + "/hour=" + t.Format("15") + "/" + BatchID(ds) + ".ndjson"
}
