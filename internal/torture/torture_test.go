package torture_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/checkout-dev/checkout/internal/postgres"
	"github.com/checkout-dev/checkout/localaws"

	"github.com/checkout-dev/checkout/internal/torture"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m, postgres.Migrate, localaws.Migrate) }

// TestTortureShort is make torture at a tenth of its size, in make test:
// 200 checkouts through the stack as its own process, 30 % of Stripe
// requests and webhooks faulty, Lambda answers lost, two SIGKILLs, then
// checkoutctl invariants must find nothing broken.
func TestTortureShort(t *testing.T) {
	if testing.Short() {
		t.Skip("torture run skipped in -short mode")
	}
	var out bytes.Buffer
	res, err := torture.Run(context.Background(), torture.Config{
		Checkouts: 200, Concurrency: 32, FaultRate: 0.3, WebhookFaultRate: 0.3, LambdaFaultRate: 0.1, Kills: 2,
		Seed: 20261203, WorkDir: t.TempDir(), DatabaseURL: pgtest.NewDB(t), Timeout: 15 * time.Minute, Out: &out,
	})
	if werr := res.Write(&out); werr != nil {
		t.Error(werr)
	}
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatalf("torture: %v", err)
	}
	if !res.InvariantsOK {
		t.Fatal("invariants violated")
	}
	if res.Kills != 2 {
		t.Errorf("%d kills; want 2", res.Kills)
	}
	faults := 0
	for _, n := range res.APIFaults {
		faults += n
	}
	if faults == 0 || len(res.WebhookFaults) == 0 {
		t.Errorf("no faults injected (API %v, webhooks %v): the run proved nothing", res.APIFaults, res.WebhookFaults)
	}
	finals := 0
	for _, n := range res.ByOutcome {
		finals += n
	}
	if finals != 200 {
		t.Errorf("%d final checkouts; want 200", finals)
	}
}
