package stack

import (
	"net/http"
	"slices"
	"strings"

	"github.com/checkout-dev/checkout/internal/local/devdash"
)

// withDashboard serves the local dashboard (internal/local/devdash) under
// /_dev/ on the API's address, and everything else through the API front.
// Only the local stack has it: API Gateway has no such route, and the
// template never deploys one.
func (s *Stack) withDashboard(front http.Handler) http.Handler {
	dash := devdash.New(devdash.Options{Pool: s.db.Pool, SQS: s.sqsCli, Queues: s.dashboardQueues(),
		Recorder: s.dashRec, Log: s.log.With("component", "devdash")})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; p == strings.TrimSuffix(devdash.Prefix, "/") || strings.HasPrefix(p, devdash.Prefix) {
			dash.ServeHTTP(w, r)
			return
		}
		front.ServeHTTP(w, r)
	})
}

// dashboardQueues are the template's queues, DLQs marked, in logical id
// order with each DLQ after its source queues.
func (s *Stack) dashboardQueues() []devdash.Queue {
	dlq := map[string]bool{}
	for _, q := range s.tpl.Queues {
		if q.Redrive != nil {
			dlq[q.Redrive.DeadLetterQueue] = true
		}
	}
	out := make([]devdash.Queue, 0, len(s.tpl.Queues))
	for id, q := range s.tpl.Queues {
		out = append(out, devdash.Queue{LogicalID: id, Name: q.Name, URL: s.queueURL[id], DLQ: dlq[id]})
	}
	slices.SortFunc(out, func(a, b devdash.Queue) int {
		if a.DLQ != b.DLQ {
			if a.DLQ {
				return 1
			}
			return -1
		}
		return strings.Compare(a.LogicalID, b.LogicalID)
	})
	return out
}
