// Package inventory holds stock for checkouts on PostgreSQL.
//
// A checkout first reserves its lines ([Store.Reserve]); the reservation then
// ends exactly one way: committed by the order transaction ([Store.CommitTx]),
// released by saga compensation ([Store.Release]), or released by the expiry
// sweeper ([Store.ExpireDue]).
//
// # Invariants
//
//   - No oversell: every statement keeps on_hand >= 0 and reserved <= on_hand
//     (the schema's CHECK constraints enforce the same, as a last line of
//     defence).
//   - The stock of a SKU may be split over its inventory row and the rows of
//     inventory_buckets ([Store.SetBuckets]); every row has the CHECK
//     constraints, so their sum keeps them too. [Store.Level],
//     [Store.Available] and the inventory_levels view give the one figure.
//   - No deadlock between our own transactions: stock rows are always locked
//     in ascending SKU order, within a SKU the inventory row before its
//     buckets in ascending order (a bucketed reserve waits for one bucket at
//     a time while holding no other lock of that SKU), reservation rows are
//     locked per checkout in SKU order, and the sweeper never waits for a
//     reservation row (FOR UPDATE SKIP LOCKED). Reserve and Release of one checkout are serialised by
//     a transaction-scoped advisory lock on the checkout id.
//   - No serialization failure or deadlock error (40001, 40P01) reaches a
//     caller: the whole transaction is retried a bounded number of times with
//     jittered backoff, then the error becomes [apperr.Transient]. A lock wait
//     longer than [Options.LockTimeout] (55P03) and a statement running past
//     [Options.StatementTimeout] (57014) are Transient too, never a hang.
//   - Every stock change writes one audit_log row per SKU in the same
//     transaction (actions reserve, release, commit, expire, set_on_hand).
//
// # Strategies
//
// Four ways to take stock, chosen with [Options.Strategy]; all give the same
// results, they differ in how they behave under contention:
//
//   - [Bucketed] (default): a SKU split over n buckets ([Store.SetBuckets],
//     inventory.buckets; 1 = not split, then it is [Conditional]) is taken
//     from a random bucket with enough units that nobody holds (FOR UPDATE
//     SKIP LOCKED), else by waiting for one such bucket, else by locking all
//     of the SKU's rows and spreading the units again (so nothing is
//     undersold while units remain anywhere). Concurrent buyers of one hot SKU
//     then commit on different rows instead of queueing on one row lock
//     through every WAL flush. Release, commit and expiry return units to the
//     row that held them (reservations.bucket); SetOnHand and SetBuckets
//     rebalance. The other strategies ignore buckets: call SetBuckets(sku, 1)
//     on split SKUs before switching away.
//   - [Conditional]: one conditional UPDATE per line
//     (WHERE on_hand - reserved >= n); PostgreSQL re-checks the condition on
//     the newest row version after waiting for the row lock.
//   - [Pessimistic]: SELECT ... FOR NO KEY UPDATE, check in Go, then UPDATE.
//     (The seed design says FOR UPDATE; that lock conflicts with the FOR KEY
//     SHARE lock that the reservations foreign key takes on the inventory row,
//     so two carts would deadlock. FOR NO KEY UPDATE is the lock an UPDATE of a
//     non-key column takes anyway.)
//   - [Optimistic]: read on_hand, reserved and version without a lock, then
//     UPDATE ... WHERE version = $v AND on_hand - reserved >= n; a lost race is
//     retried up to [Options.OptimisticRetries] times with jittered backoff.
//
// # Sold-out fast path
//
// Every strategy's Reserve first reads, in one statement outside any
// transaction, whether the checkout exists and holds nothing yet and how many
// units of each SKU are available. When a line is short in that snapshot,
// Reserve answers OutOfStock at once: no transaction, no row lock, no write.
// That answer is as true as one from a locking read started at the same
// moment (a restock committing concurrently is simply ordered after it); a
// read that says "enough" is re-checked under lock by the strategy.
// [Store.Available] exposes the same read to callers (the API can refuse a
// sold-out cart before starting a saga).
package inventory
