package analytics_test

import (
	"regexp"
	"testing"
	"time"

	"github.com/checkout-dev/checkout/internal/events"
	"github.com/checkout-dev/checkout/internal/events/analytics"
	"github.com/checkout-dev/checkout/internal/events/eventstest"
)

// at returns a delivery of a fresh event that occurred at ts (RFC 3339).
func at(t *testing.T, ts string) events.Delivery {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, ts)
	if err != nil {
		t.Fatal(err)
	}
	ev := eventstest.Event()
	ev.OccurredAt = tm
	return events.Delivery{MessageID: "m-" + ev.EventID[:8], Event: ev}
}

var keyShape = regexp.MustCompile(`^dt=\d{4}-\d{2}-\d{2}/hour=\d{2}/[0-9a-f]{32}\.ndjson$`)

func TestBatchKey(t *testing.T) {
	t.Parallel()
	a := at(t, "2026-11-26T10:15:02Z")
	b := at(t, "2026-11-26T09:59:59.5Z")
	c := at(t, "2026-11-27T01:00:00+02:00") // 2026-11-26T23:00Z
	tests := []struct {
		name string
		ds   []events.Delivery
		dir  string // partition of the key
	}{
		{"one event", []events.Delivery{a}, "dt=2026-11-26/hour=10/"},
		{"earliest event partitions", []events.Delivery{a, b}, "dt=2026-11-26/hour=09/"},
		{"UTC, not the event's offset", []events.Delivery{c}, "dt=2026-11-26/hour=23/"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			k := analytics.BatchKey(tc.ds)
			if !keyShape.MatchString(k) || k[:len(tc.dir)] != tc.dir {
				t.Fatalf("key %q, want %s<32 hex>.ndjson", k, tc.dir)
			}
		})
	}

	t.Run("same events in any order and from other messages: same key", func(t *testing.T) {
		t.Parallel()
		b2 := b
		b2.MessageID = "redelivered"
		if k1, k2 := analytics.BatchKey([]events.Delivery{a, b, c}), analytics.BatchKey([]events.Delivery{c, b2, a}); k1 != k2 {
			t.Fatalf("%s != %s", k1, k2)
		}
		if k1, k2 := analytics.BatchKey([]events.Delivery{a, b}), analytics.BatchKey([]events.Delivery{a, b, b}); k1 != k2 {
			t.Fatalf("a repeated event changed the key: %s != %s", k1, k2)
		}
	})
	t.Run("different events: different id", func(t *testing.T) {
		t.Parallel()
		seen := map[string]string{}
		for name, ds := range map[string][]events.Delivery{"a": {a}, "b": {b}, "ab": {a, b}, "abc": {a, b, c}, "ac": {a, c}} {
			id := analytics.BatchID(ds)
			if other, dup := seen[id]; dup {
				t.Fatalf("batches %s and %s share id %s", name, other, id)
			}
			seen[id] = name
		}
	})
}
