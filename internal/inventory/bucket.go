package inventory

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// MaxBuckets is the largest number of buckets a SKU can be split over.
const MaxBuckets = 64

// stockRow is one row holding stock of a SKU: bucket 0 is the inventory row,
// buckets 1..MaxBuckets are inventory_buckets rows.
type stockRow struct {
	bucket   int
	onHand   int
	reserved int
}

// The bucketed strategy takes one line in up to three steps, each only when
// the one before could not:
//
//  1. pickSkipLocked: a random bucket holding enough available units that no
//     other transaction has locked (FOR UPDATE SKIP LOCKED), in the same
//     statement that takes the units and records the bucket on the
//     reservation row. Never waits.
//  2. pickWaiting: choose a random bucket with enough units without locking,
//     then wait for that one row lock (nothing else of the SKU held), re-check,
//     and try another bucket if it ran dry meanwhile.
//  3. takeSpreading: lock the inventory row and every bucket (in bucket
//     order), count the available units of all of them and, when there are
//     enough, spread them again over the SKU's buckets with the line's units
//     in one of them, then take them. This is the step that guarantees no
//     undersell: units stranded in a bucket that is not in use, in the
//     inventory row, or split so that no single bucket holds a multi-unit
//     line are found here.
const (
	pickBucketSQL = `
		WITH pick AS (
			SELECT bucket FROM inventory_buckets
			WHERE sku = $1 AND on_hand - reserved >= $2
			ORDER BY random() LIMIT 1 FOR UPDATE SKIP LOCKED
		), upd AS (
			UPDATE inventory_buckets b SET reserved = b.reserved + $2, updated_at = now()
			FROM pick WHERE b.sku = $1 AND b.bucket = pick.bucket AND b.on_hand - b.reserved >= $2
			RETURNING b.bucket
		), mark AS (
			UPDATE reservations r SET bucket = upd.bucket FROM upd
			WHERE r.checkout_id = $3 AND r.sku = $1
			RETURNING 1
		)
		SELECT bucket FROM upd`
	takeRowSQL = `UPDATE inventory SET reserved = reserved + $2, version = version + 1, updated_at = now()
		WHERE sku = $1 AND on_hand - reserved >= $2`
)

// releaseStraySQL drops the row locks taken since the line's savepoint. A
// locking statement that found a row changed and no longer qualifying keeps
// the lock it took on it; holding such stray bucket locks while waiting for
// other buckets could deadlock with another transaction doing the same in
// another order, or with takeSpreading and SetOnHand, so every wait starts
// from the savepoint, holding no lock on the SKU.
const releaseStraySQL = `ROLLBACK TO SAVEPOINT inventory_take`

// pickWaitingSQL chooses a bucket without locking and waits for that row only.
const pickWaitingSQL = `
		WITH pick AS (
			SELECT bucket FROM inventory_buckets
			WHERE sku = $1 AND on_hand - reserved >= $2
			ORDER BY random() LIMIT 1
		), upd AS (
			UPDATE inventory_buckets b SET reserved = b.reserved + $2, updated_at = now()
			FROM pick WHERE b.sku = $1 AND b.bucket = pick.bucket AND b.on_hand - b.reserved >= $2
			RETURNING b.bucket
		), mark AS (
			UPDATE reservations r SET bucket = upd.bucket FROM upd
			WHERE r.checkout_id = $3 AND r.sku = $1
			RETURNING 1
		)
		SELECT (SELECT count(*) FROM pick), (SELECT bucket FROM upd)`

// takeBucketed takes every line (sorted by SKU) with the bucketed strategy.
// buckets holds each SKU's inventory.buckets. first, when not nil, is queued
// in the same round trip as the first line's take (the audit insert).
//
// Lock order: lines one after the other in SKU order; within a SKU the fast
// steps hold at most the bucket they took, and takeSpreading locks the
// inventory row, then the buckets in ascending order, like SetOnHand,
// SetBuckets, Release, CommitTx and ExpireDue.
func (s *Store) takeBucketed(ctx context.Context, tx pgx.Tx, checkoutID uuid.UUID, lines []Line, buckets map[string]int, first func(*pgx.Batch) func(pgx.BatchResults) error) error {
	for i, l := range lines {
		b := &pgx.Batch{}
		var firstResult func(pgx.BatchResults) error
		if i == 0 && first != nil {
			firstResult = first(b)
		}
		split := buckets[l.SKU] > 1
		if split {
			// The savepoint lets the fallbacks drop every row lock the pick
			// may have taken on this SKU (see releaseStray).
			b.Queue(`SAVEPOINT inventory_take`)
			b.Queue(pickBucketSQL, l.SKU, l.Quantity, checkoutID)
		} else {
			b.Queue(takeRowSQL, l.SKU, l.Quantity)
		}
		br := tx.SendBatch(ctx, b)
		if firstResult != nil {
			if err := firstResult(br); err != nil {
				_ = br.Close()
				return err
			}
		}
		var took bool
		if split {
			if _, err := br.Exec(); err != nil {
				_ = br.Close()
				return fmt.Errorf("take %s: savepoint: %w", l.SKU, err)
			}
			var bucket int
			err := br.QueryRow().Scan(&bucket)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				_ = br.Close()
				return fmt.Errorf("take %s: %w", l.SKU, err)
			}
			took = err == nil
		} else {
			tag, err := br.Exec()
			if err != nil {
				_ = br.Close()
				return fmt.Errorf("take %s: %w", l.SKU, err)
			}
			took = tag.RowsAffected() == 1
		}
		if err := br.Close(); err != nil {
			return fmt.Errorf("take %s: %w", l.SKU, err)
		}
		if took {
			continue
		}
		if split {
			took, err := s.pickWaiting(ctx, tx, checkoutID, l)
			if err != nil {
				return err
			}
			if took {
				continue
			}
		}
		if err := s.takeSpreading(ctx, tx, checkoutID, l); err != nil {
			return err
		}
	}
	return nil
}

// waitAttempts bounds step 2: after this many buckets that ran dry while we
// waited for them, step 3 settles the line.
const waitAttempts = 4

// pickWaiting is step 2 of the bucketed strategy: choose a random bucket that
// has the units in a fresh snapshot, then wait for its row lock alone (the
// UPDATE re-checks the row after the wait). Each attempt starts from the
// line's savepoint, so while it waits the transaction holds no other lock on
// this SKU. took is false when no bucket has the units, or after
// waitAttempts buckets ran dry under us; the savepoint is then rolled back
// (no lock on the SKU is left).
func (s *Store) pickWaiting(ctx context.Context, tx pgx.Tx, checkoutID uuid.UUID, l Line) (took bool, err error) {
	for range waitAttempts {
		b := &pgx.Batch{}
		b.Queue(releaseStraySQL)
		b.Queue(pickWaitingSQL, l.SKU, l.Quantity, checkoutID)
		br := tx.SendBatch(ctx, b)
		var candidates int
		var bucket *int
		_, err := br.Exec()
		if err == nil {
			err = br.QueryRow().Scan(&candidates, &bucket)
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return false, fmt.Errorf("take %s: %w", l.SKU, err)
		}
		if bucket != nil {
			return true, nil
		}
		if candidates == 0 {
			break
		}
	}
	if _, err := tx.Exec(ctx, releaseStraySQL); err != nil {
		return false, fmt.Errorf("take %s: %w", l.SKU, err)
	}
	return false, nil
}

// takeSpreading is step 3 of the bucketed strategy (see above).
func (s *Store) takeSpreading(ctx context.Context, tx pgx.Tx, checkoutID uuid.UUID, l Line) error {
	// A plain read first: when the SKU as a whole lacks the units, say so
	// without locking every row of it.
	var available int
	err := tx.QueryRow(ctx, `SELECT available FROM inventory_levels WHERE sku = $1`, l.SKU).Scan(&available)
	if errors.Is(err, pgx.ErrNoRows) {
		return outOfStock(l.SKU, l.Quantity, 0)
	}
	if err != nil {
		return fmt.Errorf("read stock of %s: %w", l.SKU, err)
	}
	if available < l.Quantity {
		return outOfStock(l.SKU, l.Quantity, available)
	}
	rows, n, ok, err := lockStock(ctx, tx, l.SKU)
	if err != nil {
		return err
	}
	if !ok {
		return outOfStock(l.SKU, l.Quantity, 0)
	}
	available = 0
	for _, r := range rows {
		available += r.onHand - r.reserved
	}
	if available < l.Quantity {
		return outOfStock(l.SKU, l.Quantity, available)
	}
	target := 0
	if n > 1 {
		target = 1 + rand.IntN(n)
	}
	rows = spread(rows, n, available, target, l.Quantity)
	for i := range rows {
		if rows[i].bucket == target {
			rows[i].reserved += l.Quantity
		}
	}
	if err := writeStock(ctx, tx, l.SKU, rows, n); err != nil {
		return err
	}
	if target != 0 {
		if _, err := tx.Exec(ctx, `UPDATE reservations SET bucket = $3 WHERE checkout_id = $1 AND sku = $2`,
			checkoutID, l.SKU, target); err != nil {
			return fmt.Errorf("record bucket of %s: %w", l.SKU, err)
		}
	}
	return nil
}

// lockStock locks every stock row of sku, the inventory row first (FOR NO
// KEY UPDATE, see the package documentation), then its buckets in ascending
// order, and returns them with the SKU's bucket count. ok is false when sku
// has no inventory row.
func lockStock(ctx context.Context, tx pgx.Tx, sku string) (rows []stockRow, buckets int, ok bool, err error) {
	b := &pgx.Batch{}
	b.Queue(`SELECT on_hand, reserved, buckets FROM inventory WHERE sku = $1 FOR NO KEY UPDATE`, sku)
	b.Queue(`SELECT bucket, on_hand, reserved FROM inventory_buckets WHERE sku = $1 ORDER BY bucket FOR UPDATE`, sku)
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	main := stockRow{}
	err = br.QueryRow().Scan(&main.onHand, &main.reserved, &buckets)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, 0, false, nil
	}
	if err != nil {
		return nil, 0, false, fmt.Errorf("lock stock of %s: %w", sku, err)
	}
	bs, err := br.Query()
	if err != nil {
		return nil, 0, false, fmt.Errorf("lock buckets of %s: %w", sku, err)
	}
	rows, err = pgx.CollectRows(bs, func(r pgx.CollectableRow) (stockRow, error) {
		var s stockRow
		err := r.Scan(&s.bucket, &s.onHand, &s.reserved)
		return s, err
	})
	if err != nil {
		return nil, 0, false, fmt.Errorf("lock buckets of %s: %w", sku, err)
	}
	return append([]stockRow{main}, rows...), buckets, true, br.Close()
}

// spread returns rows (the inventory row first, then buckets ascending) with
// their on_hand set so that each keeps its reserved units and the available
// units are spread evenly over the SKU's n buckets (the inventory row when
// n == 1); rows missing among buckets 1..n are added. extra of the available
// units go to bucket target first (the line about to be taken from it).
// Totals are unchanged: sum(on_hand) - sum(reserved) == available.
func spread(rows []stockRow, n, available, target, extra int) []stockRow {
	have := map[int]bool{}
	for _, r := range rows {
		have[r.bucket] = true
	}
	if n > 1 {
		for b := 1; b <= n; b++ {
			if !have[b] {
				rows = append(rows, stockRow{bucket: b})
			}
		}
	}
	slices.SortFunc(rows, func(a, b stockRow) int { return a.bucket - b.bucket })
	targets := []int{0}
	if n > 1 {
		targets = targets[:0]
		for b := 1; b <= n; b++ {
			targets = append(targets, b)
		}
	}
	share := map[int]int{}
	rest := available
	if extra > 0 {
		share[target] = extra
		rest -= extra
	}
	per, rem := rest/len(targets), rest%len(targets)
	off := rand.IntN(len(targets)) // which buckets get the remainder
	for i, b := range targets {
		share[b] += per
		if (i-off+len(targets))%len(targets) < rem {
			share[b]++
		}
	}
	for i := range rows {
		rows[i].onHand = rows[i].reserved + share[rows[i].bucket]
	}
	return rows
}

// writeStock stores rows (from spread) and the SKU's bucket count, in one
// round trip. The rows must be locked (lockStock).
func writeStock(ctx context.Context, tx pgx.Tx, sku string, rows []stockRow, buckets int) error {
	var main stockRow
	var nums, onHands, reserveds []int32
	for _, r := range rows {
		if r.bucket == 0 {
			main = r
			continue
		}
		nums = append(nums, int32(r.bucket))
		onHands = append(onHands, int32(r.onHand))
		reserveds = append(reserveds, int32(r.reserved))
	}
	b := &pgx.Batch{}
	b.Queue(`UPDATE inventory SET on_hand = $2, reserved = $3, buckets = $4, version = version + 1, updated_at = now()
		WHERE sku = $1`, sku, main.onHand, main.reserved, buckets)
	if len(nums) > 0 {
		b.Queue(`INSERT INTO inventory_buckets (sku, bucket, on_hand, reserved)
			SELECT $1, u.bucket, u.on_hand, u.reserved FROM unnest($2::int[], $3::int[], $4::int[]) AS u(bucket, on_hand, reserved)
			ON CONFLICT (sku, bucket) DO UPDATE SET on_hand = EXCLUDED.on_hand, reserved = EXCLUDED.reserved, updated_at = now()
			WHERE (inventory_buckets.on_hand, inventory_buckets.reserved) IS DISTINCT FROM (EXCLUDED.on_hand, EXCLUDED.reserved)`,
			sku, nums, onHands, reserveds)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("write stock of %s: %w", sku, err)
	}
	return nil
}
