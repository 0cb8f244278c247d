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
// # One round trip per reservation
//
// For [Bucketed] and [Conditional], Reserve is one call of the server-side
// function inventory_reserve (migration 00007) in an implicit transaction:
// the sold-out check, the checkout's advisory lock, the replay check, the
// audit rows, the take of every line in SKU order and the reservation rows
// (with the bucket that holds their units), and no BEGIN/COMMIT round trips.
// Its answers and errors are exactly those of the Go path it replaced
// (still used by [Pessimistic] and [Optimistic], and by the others with
// Options.ClientSideReserve).
//
// Concurrent single-line Reserve calls of one Store are combined: while up to
// 4 transactions are in flight, the calls that arrive queue and go together
// in the next one (inventory_reserve_batch: one commit and one WAL flush for
// the batch, and, when the units fit in one bucket, one bucket update). There
// is no added wait. Every answer is the one the call would get alone, in some
// serial order; anything but "reserved" or "out of stock" (a replay, an
// unknown SKU or checkout) and every call of a batch that failed as a whole
// are re-run alone. In Lambda (one request per process at a time) nothing is
// combined.
//
// # Sold-out fast path
//
// Every strategy's Reserve first reads, in one statement outside any
// transaction (inside the function for the server-side strategies), whether
// the checkout exists and holds nothing yet and how many units of each SKU
// are available. When a line is short in that snapshot, Reserve answers
// OutOfStock at once: no row lock, no write. That answer is as true as one
// from a locking read started at the same moment (a restock committing
// concurrently is simply ordered after it); a read that says "enough" is
// re-checked under lock by the strategy. [Store.Available] exposes the same
// read to callers (the API refuses a sold-out cart before starting a saga).
//
// # Sold-out cache
//
// With [Store.StartSoldOutCache] (long-lived processes: make dev, the local
// stack) the Store remembers, per SKU, an upper bound of its available units
// whenever a Reserve was refused for lack of them or Available read 0, and
// refuses the next requests for more in process: no lock, no write, no
// database round trip. Units only come back through a change that raises a
// stock row's available units, and every such change notifies channel
// [NotifyChannel] with the SKU in its own transaction (triggers on inventory
// and inventory_buckets: release, expiry, SetOnHand, SetBuckets, a new stock
// row); a dedicated LISTEN connection drops the SKU's entry as soon as the
// change commits. An entry noted from a read that started before an
// invalidation is not kept. Entries also expire after Options.SoldOutMaxAge
// (default 1s), the safety net when a notification is missed, and the whole
// cache is dropped whenever the listener reconnects. A refusal from the cache
// is as true as a read made just before the restock's notification arrived.
// Trade-off: a cached refusal does not look at the checkout, so a request
// that the database would answer otherwise (unknown checkout, or a retry of
// a reservation made by ANOTHER process — retries of this Store's own recent
// reservations are never refused from the cache) gets OutOfStock while the
// SKU is known sold out. In Lambda behind RDS Proxy, LISTEN pins a proxy
// connection: leave the cache off there, or set Options.SoldOutCache for the
// max age alone.
package inventory
