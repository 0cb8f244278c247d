package readpool

import (
	"testing"
	"time"
)

func TestParseLSN(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0/0", 0, true},
		{"16/B374D848", 0x16<<32 | 0xB374D848, true},
		{"FFFFFFFF/FFFFFFFF", 1<<64 - 1, true},
		{"16B374D848", 0, false},
		{"x/1", 0, false},
		{"1/100000000", 0, false},
	} {
		got, err := parseLSN(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("parseLSN(%q) = %x, %v; want %x ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}

// TestStaleness: the staleness is now minus the time of the latest
// primary position the replica has replayed; unknown when it has replayed
// none of the kept ones; positions older than 4×MaxLag are dropped.
func TestStaleness(t *testing.T) {
	t.Parallel()
	r := New(nil, nil, Options{MaxLag: time.Second})
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	steps := []struct {
		sample   sample
		replayed uint64
		now      time.Time
		lag      time.Duration
		known    bool
	}{
		{sample{at(0), 100}, 90, at(5), 0, false},                        // behind the only position
		{sample{at(50), 150}, 100, at(55), 55 * time.Millisecond, true},  // has what was there at 0 ms
		{sample{at(100), 150}, 150, at(102), 2 * time.Millisecond, true}, // idle primary: caught up
		{sample{at(200), 300}, 160, at(205), 105 * time.Millisecond, true},
		{sample{at(9000), 400}, 300, at(9001), 0, false}, // older positions dropped: unknown
	}
	for i, s := range steps {
		lag, known := r.staleness(s.sample, s.replayed, s.now)
		if lag != s.lag || known != s.known {
			t.Errorf("step %d: staleness = %s, %v; want %s, %v", i, lag, known, s.lag, s.known)
		}
	}
	if len(r.lsns) != 1 {
		t.Errorf("kept %d positions after a long pause; want only the newest", len(r.lsns))
	}
}
