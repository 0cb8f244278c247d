package invariants

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteTable prints the counts, every check with its verdict, and the
// violations (at most max; 0 means all).
func (r Report) WriteTable(w io.Writer, max int) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "COUNT\tVALUE")
	for _, c := range r.Counts {
		fmt.Fprintf(tw, "%s\t%d\n", c.Name, c.Value)
	}
	fmt.Fprintln(tw, "\t")
	fmt.Fprintln(tw, "CHECK\tCHECKED\tVIOLATIONS\tPROMISE")
	for _, c := range r.Checks {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", c.Name, c.Checked, c.Violations, c.Promise)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Violations) == 0 {
		_, err := fmt.Fprintln(w, "\nno violations")
		return err
	}
	fmt.Fprintf(w, "\n%d violations:\n", len(r.Violations))
	for i, v := range r.Violations {
		if max > 0 && i == max {
			fmt.Fprintf(w, "  … and %d more (--json for all)\n", len(r.Violations)-max)
			break
		}
		fmt.Fprintf(w, "  %s  %s: %s\n", v.Check, v.Subject, v.Detail)
	}
	return nil
}
