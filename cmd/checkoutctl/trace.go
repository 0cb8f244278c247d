package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/xray"
	"github.com/google/uuid"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/checkout-dev/checkout/internal/local/devtrace"
)

func newTrace(e *env) *cobra.Command {
	var width int
	c := &cobra.Command{
		Use:   "trace CHECKOUT_ID",
		Short: "Print a checkout's trace as a waterfall: the API, every saga state, Stripe, the consumers",
		Long: `Print the trace of one checkout: each span with its start offset and its
duration as a bar, nested under its parent, errors in red (and marked ✗).

The trace id is the one recorded on the checkout (checkouts.traceparent) in
the database of --database-url, $DATABASE_URL or the running make dev stack.
The spans come from that stack's trace store (the local X-Ray); against a
deployment (no local spans) they are read from AWS X-Ray (BatchGetTraces)
with the standard AWS configuration (--profile, --region).`,
		Example: `  checkoutctl trace 5f0c4c1e-8a8e-4bd0-9f34-1b2b8c1f2d3e
  checkoutctl trace 5f0c4c1e-8a8e-4bd0-9f34-1b2b8c1f2d3e --json | jq '.spans[].name'
  checkoutctl --no-local --database-url "$RO_DATABASE_URL" --region eu-west-1 trace 5f0c…`,
		Args: exactArgs(1, "a checkout id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := uuid.Parse(args[0])
			if err != nil {
				return usagef("%q is not a checkout id (a UUID like 5f0c4c1e-8a8e-4bd0-9f34-1b2b8c1f2d3e)", args[0])
			}
			if width < 10 || width > 200 {
				return usagef("--width must be between 10 and 200")
			}
			ctx := cmd.Context()
			pool, err := e.auditDB(ctx, "read a trace")
			if err != nil {
				return err
			}
			traceID, err := devtrace.CheckoutTrace(ctx, pool, id)
			if err != nil {
				return err
			}
			if traceID == "" {
				return fmt.Errorf("checkout %s has no trace (unknown checkout, or created before tracing)", id)
			}
			spans, err := devtrace.Trace(ctx, pool, traceID)
			if err != nil {
				return err
			}
			if len(spans) == 0 && !e.opts.noLocal {
				_ = e.loadEndpoints()
			}
			if len(spans) == 0 && e.endpoints == nil {
				if spans, err = e.xraySpans(ctx, traceID); err != nil {
					return err
				}
			}
			if len(spans) == 0 {
				return fmt.Errorf("no spans of trace %s yet (they are exported within a second; try again)", traceID)
			}
			out := cmd.OutOrStdout()
			if e.opts.jsonOut {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"checkout_id": id, "trace_id": traceID, "spans": spans})
			}
			printWaterfall(out, id, traceID, spans, width, colorful(out))
			return nil
		},
	}
	c.Flags().IntVar(&width, "width", 40, "width of the bars, in characters")
	return c
}

// colorful reports whether out is a terminal that wants colour.
func colorful(out io.Writer) bool {
	f, ok := out.(*os.File)
	return ok && term.IsTerminal(int(f.Fd())) && os.Getenv("NO_COLOR") == ""
}

// printWaterfall prints spans as devtrace.Tree orders them (depth-first,
// children in start order), each with its offset from the trace's start,
// its duration and a bar placed on a common time scale.
func printWaterfall(w io.Writer, checkoutID uuid.UUID, traceID string, spans []devtrace.Span, width int, color bool) {
	start, end := spans[0].Start, spans[0].End
	for _, s := range spans {
		if s.Start.Before(start) {
			start = s.Start
		}
		if s.End.After(end) {
			end = s.End
		}
	}
	tree := devtrace.Tree(spans)
	total := end.Sub(start)
	fmt.Fprintf(w, "checkout %s  trace %s  %d spans  %s\n\n", checkoutID, traceID, len(spans), ms(total))
	nameW := 0
	for _, n := range tree {
		nameW = max(nameW, 2*n.Depth+len(label(n.Span)))
	}
	nameW = min(nameW, 70)
	for _, n := range tree {
		name := strings.Repeat("  ", n.Depth) + label(n.Span)
		if len(name) > nameW {
			name = name[:nameW-1] + "…"
		}
		off := n.Start.Sub(start)
		mark := " "
		if n.Status == "error" {
			mark = "✗"
		}
		line := fmt.Sprintf("%s %-*s %9s %9s  |%s|", mark, nameW, name, "+"+ms(off), ms(n.Duration()), barOf(off, n.Duration(), total, width))
		if n.Status == "error" && n.StatusMessage != "" {
			line += "  " + n.StatusMessage
		}
		if color && n.Status == "error" {
			line = "\x1b[31m" + line + "\x1b[0m"
		}
		fmt.Fprintln(w, line)
	}
}

// label is the span's name, with its service when the name does not say it
// ("step reserve-stock" is step:reserve-stock's).
func label(s devtrace.Span) string {
	_, short, _ := strings.Cut(s.Service, ":")
	if s.Service == "" || strings.HasPrefix(s.Name, s.Service) || (short != "" && strings.Contains(s.Name, short)) {
		return s.Name
	}
	return s.Name + " [" + s.Service + "]"
}

// barOf draws a span on a width-character scale of total: spaces up to its
// start, at least one block for its length.
func barOf(off, d, total time.Duration, width int) string {
	if total <= 0 {
		total = 1
	}
	from := int(int64(width) * int64(off) / int64(total))
	n := max(1, int((int64(width)*int64(d)+int64(total)-1)/int64(total)))
	from = min(from, width-1)
	n = min(n, width-from)
	return strings.Repeat(" ", from) + strings.Repeat("█", n) + strings.Repeat(" ", width-from-n)
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000)
}

// xraySpans reads a trace from AWS X-Ray: its segments and their nested
// subsegments become spans (X-Ray trace id "1-xxxxxxxx-yyyy…" from the W3C
// one).
func (e *env) xraySpans(ctx context.Context, traceID string) ([]devtrace.Span, error) {
	cfg, err := e.loadAWS(ctx, false)
	if err != nil {
		return nil, err
	}
	id := "1-" + traceID[:8] + "-" + traceID[8:]
	out, err := xray.NewFromConfig(cfg).BatchGetTraces(ctx, &xray.BatchGetTracesInput{TraceIds: []string{id}})
	if err != nil {
		return nil, fmt.Errorf("x-ray: %w", err)
	}
	var spans []devtrace.Span
	for _, t := range out.Traces {
		for _, seg := range t.Segments {
			if seg.Document == nil {
				continue
			}
			var doc xraySegment
			if err := json.Unmarshal([]byte(*seg.Document), &doc); err != nil {
				return nil, fmt.Errorf("x-ray: segment: %w", err)
			}
			spans = doc.flatten(traceID, doc.ParentID, spans)
		}
	}
	return spans, nil
}

// xraySegment is the part of an X-Ray segment document a waterfall needs.
type xraySegment struct {
	ID          string        `json:"id"`
	ParentID    string        `json:"parent_id"`
	Name        string        `json:"name"`
	Origin      string        `json:"origin"`
	StartTime   float64       `json:"start_time"`
	EndTime     float64       `json:"end_time"`
	Error       bool          `json:"error"`
	Fault       bool          `json:"fault"`
	Subsegments []xraySegment `json:"subsegments"`
}

func (s xraySegment) flatten(traceID, parent string, out []devtrace.Span) []devtrace.Span {
	status := "ok"
	if s.Error || s.Fault {
		status = "error"
	}
	out = append(out, devtrace.Span{TraceID: traceID, SpanID: s.ID, ParentID: parent, Name: s.Name, Service: s.Origin,
		Start: epoch(s.StartTime), End: epoch(s.EndTime), Status: status})
	for _, c := range s.Subsegments {
		out = c.flatten(traceID, s.ID, out)
	}
	return out
}

func epoch(f float64) time.Time {
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC()
}
