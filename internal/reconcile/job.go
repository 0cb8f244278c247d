package reconcile

import (
	"context"
	"fmt"
	"time"
)

// Job is the scheduled reconciliation (the reconciliation Lambda and the
// local stack's schedule): a Sweep that applies what it finds.
type Job struct {
	Reconciler *Reconciler
	Options    SweepOptions
}

// JobResult summarises one run.
type JobResult struct {
	Stuck   int            `json:"stuck"`             // checkouts looked at
	Actions map[string]int `json:"actions,omitempty"` // applied, by action
	Failed  int            `json:"failed"`            // checkouts whose action failed (retried next run)
}

// NewJob returns the job on r; ex tells whether a checkout's execution
// still runs; stuckAfter is a Go duration (RECONCILE_STUCK_AFTER; empty:
// 15 minutes).
func NewJob(r *Reconciler, ex Executions, stuckAfter string) (*Job, error) {
	o := SweepOptions{Apply: true}
	if stuckAfter != "" {
		d, err := time.ParseDuration(stuckAfter)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("RECONCILE_STUCK_AFTER=%q: want a positive Go duration like 15m", stuckAfter)
		}
		o.StuckAfter = d
	}
	r.Executions = ex
	return &Job{Reconciler: r, Options: o}, nil
}

// Run sweeps once. A checkout whose action failed is counted and logged,
// and looked at again next run; the error is for the sweep itself.
func (j *Job) Run(ctx context.Context) (JobResult, error) {
	found, err := j.Reconciler.Sweep(ctx, j.Options)
	res := JobResult{Stuck: len(found), Actions: map[string]int{}}
	for _, f := range found {
		switch {
		case f.Error != "":
			res.Failed++
		case f.Applied:
			res.Actions[f.Action]++
		}
	}
	if res.Stuck > 0 {
		j.Reconciler.log().InfoContext(ctx, "reconciliation run", "stuck", res.Stuck, "actions", res.Actions, "failed", res.Failed)
	}
	return res, err
}
