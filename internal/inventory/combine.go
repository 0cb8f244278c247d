package inventory

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Reserve combining: concurrent single-line Reserve calls of one Store are
// sent to PostgreSQL together, in one transaction (inventory_reserve_batch,
// migration 00007), so that a flash sale pays one commit, one WAL flush and
// usually one bucket update per batch instead of per buyer. There is no
// added delay: a call that finds fewer than maxInFlight batches running
// starts one at once; the others queue and go together in the next batch to
// start. Every answer is the one Reserve would give alone, in some serial
// order; a checkout that needs more than the common case (a replay, an
// unknown SKU or checkout, ...) and every entry of a batch that failed as a
// whole are re-run alone.
const (
	maxBatch    = 128 // checkouts per batch
	maxInFlight = 4   // batches running at once per Store
)

type batchEntry struct {
	ctx        context.Context
	checkoutID uuid.UUID
	lines      []Line // as the caller gave them (one line)
	sorted     []Line
	expiresAt  time.Time
	now        time.Time
	done       chan batchAnswer
}

type batchAnswer struct {
	status    string // "ok", "out_of_stock", "single" (run it alone) or "done" (ran alone: res, err)
	available int
	res       Reservation
	err       error
}

type combiner struct {
	mu       sync.Mutex
	queue    []*batchEntry
	inflight int

	batches, entries atomic.Int64 // batches sent (2 entries or more) and their entries
}

// CombineStats reports how many combined batches this Store sent to
// PostgreSQL and how many Reserve calls they carried.
func (s *Store) CombineStats() (batches, entries int64) {
	return s.combine.batches.Load(), s.combine.entries.Load()
}

// reserveCombined reserves one line through the combiner. It falls back to
// the single-call path itself when the batch says so.
func (s *Store) reserveCombined(ctx context.Context, checkoutID uuid.UUID, lines, sorted []Line, expiresAt, now time.Time) (Reservation, error) {
	e := &batchEntry{ctx: ctx, checkoutID: checkoutID, lines: lines, sorted: sorted, expiresAt: expiresAt, now: now,
		done: make(chan batchAnswer, 1)}
	c := s.combine
	c.mu.Lock()
	c.queue = append(c.queue, e)
	if c.inflight < maxInFlight {
		c.inflight++
		go s.lead(context.WithoutCancel(ctx))
	}
	c.mu.Unlock()
	var a batchAnswer
	select {
	case a = <-e.done:
	case <-ctx.Done():
		// The batch may still reserve for us; a retry replays, else the
		// reservation expires.
		return Reservation{}, classify("reserve", ctx.Err())
	}
	switch a.status {
	case "done":
		return a.res, a.err
	case "ok":
		return Reservation{CheckoutID: checkoutID, Lines: sorted, ExpiresAt: expiresAt}, nil
	case "out_of_stock":
		return Reservation{}, outOfStock(sorted[0].SKU, sorted[0].Quantity, a.available)
	}
	return s.reserveFn(ctx, checkoutID, lines, sorted, expiresAt, now)
}

// lead runs batches until the queue is empty. A batch of one entry runs
// alone here, so that it holds its in-flight slot and the next callers queue
// up into a real batch.
func (s *Store) lead(ctx context.Context) {
	c := s.combine
	for {
		c.mu.Lock()
		if len(c.queue) == 0 {
			c.inflight--
			c.mu.Unlock()
			return
		}
		n := min(len(c.queue), maxBatch)
		batch := slices.Clone(c.queue[:n])
		c.queue = slices.Delete(c.queue, 0, n)
		c.mu.Unlock()
		if len(batch) == 1 {
			e := batch[0]
			res, err := s.reserveFn(e.ctx, e.checkoutID, e.lines, e.sorted, e.expiresAt, e.now)
			e.done <- batchAnswer{status: "done", res: res, err: err}
			continue
		}
		s.runBatch(ctx, batch, batch[0].now)
	}
}

// runBatch sends one batch and answers every entry.
func (s *Store) runBatch(ctx context.Context, batch []*batchEntry, now time.Time) {
	// Duplicates of one checkout go alone (the single path replays them).
	seen := make(map[uuid.UUID]bool, len(batch))
	var run []*batchEntry
	for _, e := range batch {
		if seen[e.checkoutID] {
			e.done <- batchAnswer{status: "single"}
			continue
		}
		seen[e.checkoutID] = true
		run = append(run, e)
	}
	if len(run) == 1 {
		e := run[0]
		res, err := s.reserveFn(e.ctx, e.checkoutID, e.lines, e.sorted, e.expiresAt, e.now)
		e.done <- batchAnswer{status: "done", res: res, err: err}
		return
	}
	s.combine.batches.Add(1)
	s.combine.entries.Add(int64(len(run)))
	slices.SortStableFunc(run, func(a, b *batchEntry) int { return strings.Compare(a.sorted[0].SKU, b.sorted[0].SKU) })
	n := len(run)
	ids := make([]uuid.UUID, n)
	skus := make([]string, n)
	qtys := make([]int32, n)
	exps := make([]time.Time, n)
	expJSON := make([]string, n)
	for i, e := range run {
		ids[i], skus[i], qtys[i], exps[i] = e.checkoutID, e.sorted[0].SKU, int32(e.sorted[0].Quantity), e.expiresAt
		expJSON[i] = e.expiresAt.Format(time.RFC3339Nano)
	}
	answers := make([]batchAnswer, n)
	for i := range answers {
		answers[i].status = "single"
	}
	b := &pgx.Batch{}
	b.Queue(`SELECT set_config('statement_timeout', $1, true)`, pgInterval(s.opts.StatementTimeout))
	b.Queue(`SELECT o_i, o_status, o_available FROM inventory_reserve_batch($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		ids, skus, qtys, exps, now, string(s.opts.Strategy), s.opts.Actor, expJSON, pgInterval(s.opts.LockTimeout))
	br := s.pool.SendBatch(ctx, b)
	_, err := br.Exec()
	var got []batchAnswer
	var idx []int
	if err == nil {
		var rows pgx.Rows
		rows, err = br.Query()
		if err == nil {
			for rows.Next() {
				var i int
				var a batchAnswer
				if err = rows.Scan(&i, &a.status, &a.available); err != nil {
					break
				}
				idx, got = append(idx, i), append(got, a)
			}
			rows.Close()
			if err == nil {
				err = rows.Err()
			}
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		// The transaction rolled back: every entry runs alone.
		s.log.DebugContext(ctx, "inventory: batch reserve failed, running alone", "entries", n, "err", err)
	} else {
		for k, i := range idx {
			if i >= 1 && i <= n {
				answers[i-1] = got[k]
			}
		}
	}
	for i, e := range run {
		e.done <- answers[i]
	}
}
