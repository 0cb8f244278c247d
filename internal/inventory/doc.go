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
//   - No deadlock between our own transactions: inventory rows are always
//     locked in ascending SKU order, reservation rows are locked per checkout
//     in SKU order, and the sweeper never waits for a reservation row (FOR
//     UPDATE SKIP LOCKED). Reserve and Release of one checkout are serialised by
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
// Three ways to take stock, chosen with [Options.Strategy]; all three give the
// same results, they differ in how they behave under contention:
//
//   - [Conditional] (default): one conditional UPDATE per line
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
package inventory
