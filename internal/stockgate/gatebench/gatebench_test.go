package gatebench_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/checkout-dev/checkout/internal/redistest"
	"github.com/checkout-dev/checkout/internal/stockgate/gatebench"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// A smoke run: every unit is handed out exactly once in both modes, and the
// table has a row per cell.
func TestMeasureSmoke(t *testing.T) {
	t.Parallel()
	srv := redistest.Shared(t)
	samples, err := gatebench.Measure(context.Background(), gatebench.Config{URL: srv.URL(), Concurrency: []int{1, 4},
		Runs: 1, Stock: 300, SoldOut: 100 * time.Millisecond, Modes: []string{gatebench.PerBuyer, gatebench.Shared}})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range samples {
		if s.Held != 300 || s.Oversell != 0 || s.Undersell != 0 || s.Errors != 0 || s.Rejects == 0 || s.SalePerSec <= 0 {
			t.Errorf("%+v", s)
		}
	}
	table := gatebench.Table(gatebench.Medians(samples))
	if n := strings.Count(table, "\n"); n != 2+4 {
		t.Fatalf("table:\n%s", table)
	}
}
