package torture

import (
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"
)

// Write prints the run's table: outcomes, faults injected, kills, times,
// then the invariant checker's report.
func (r Result) Write(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "checkouts\t%d\n", r.Checkouts)
	for _, k := range sortedKeys(r.ByOutcome) {
		fmt.Fprintf(tw, "  %s\t%d\n", k, r.ByOutcome[k])
	}
	fmt.Fprintf(tw, "stack killed (SIGKILL) and restarted\t%d\n", r.Kills)
	fmt.Fprintf(tw, "Stripe API faults injected\t%d\n", sum(r.APIFaults))
	for _, k := range sortedKeys(r.APIFaults) {
		fmt.Fprintf(tw, "  %s\t%d\n", k, r.APIFaults[k])
	}
	fmt.Fprintf(tw, "webhook faults injected\t%d\n", sum(r.WebhookFaults))
	for _, k := range sortedKeys(r.WebhookFaults) {
		fmt.Fprintf(tw, "  %s\t%d\n", k, r.WebhookFaults[k])
	}
	fmt.Fprintf(tw, "every checkout final after\t%s\n", r.Duration.Round(time.Millisecond))
	fmt.Fprintf(tw, "reconciliation idle after\t%s\n", r.SettledAfter.Round(time.Millisecond))
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n$ checkoutctl invariants\n%s", r.Report)
	return err
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
