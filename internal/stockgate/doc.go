// Package stockgate is the Redis stock gate for flash sales: an atomic Lua
// script per reservation that admits or refuses a whole cart before the
// database is touched, so buyers of a sold-out SKU never reach PostgreSQL
// and gate-admitted reservations can be written without the hot-row check.
//
// Redis is not the ledger. PostgreSQL stays the record of every unit: the
// caller writes every reservation to the database after the gate said Held
// (and releases the gate's hold if that write fails for good), and the
// database's CHECK constraints refuse an oversell whatever the gate says. A
// gate that is wrong can cause a refusal at the database (gate too high) or
// a refusal that the database would not have made (gate too low, until the
// next [Gate.Arm] repairs it); it can never cause an oversell.
//
// # Protocol
//
//   - Reserve: [Gate.Reserve] first; Held → write the reservation to the
//     database (the Ungated lines with the database's own stock check);
//     NotArmed or an error matching [ErrUnavailable] → the database path
//     alone; OutOfStock → answer out of stock.
//   - Release (compensation, decline, the database's expiry): database
//     first, then [Gate.Release]. Commit (the order): database first, then
//     [Gate.Commit]. Both are idempotent; if Redis is down the call fails
//     and the hold is settled later by [Gate.Expire] or [Gate.Arm].
//   - Before a sale and periodically (the sync step, the discrepancy
//     check): [Gate.Arm] from a database snapshot taken under the SKU's
//     row lock; its [ArmResult.Discrepancy] is the inventory-accuracy
//     metric, and the call repairs it.
//   - The sweeper calls [Gate.Expire] every run.
//
// # Keys
//
// All keys of a gate share one hash tag, the namespace: "{stockgate}:…".
//
//	{ns}:avail          HASH  sku → available units; a SKU is armed iff it has a field
//	{ns}:held           HASH  sku → units in live holds
//	{ns}:lines          HASH  "sku|checkout" → units: every line of every live hold
//	{ns}:due            ZSET  checkout → the hold's deadline (ms), for Expire
//	{ns}:hold:<uuid>    HASH  sku → units, @state, @at, @until: one checkout's hold,
//	                          then its tombstone (@state released, committed or expired;
//	                          expires after Options.TombstoneFor)
//
// A Lua script may only touch keys passed to it, and on a Redis Cluster
// (ElastiCache cluster mode, ElastiCache Serverless) all of them must be in
// one slot. Per-SKU hash tags would put the SKUs of one cart on different
// shards, and no script could take them together; one tag per gate puts the
// whole gate on one shard, so a cart of any SKUs is one script. The cost is
// that the gate does not spread over shards: one shard runs the scripts
// (tens of thousands per second, far beyond what the database can write).
// The gate's keys other than tombstones carry no TTL on purpose: Redis must
// never evict or expire them on its own (a vanished hold would take its
// units with it), so the server's maxmemory-policy must be noeviction or a
// volatile-* policy.
//
// # Holds and their lifetime
//
// A hold lives until Release, Commit or Expire. Its deadline
// (Options.HoldFor, default 20 minutes) exceeds the reservation TTL (15
// minutes) plus the sweeper's period, so the database's expiry releases it
// first; Expire catches the holds whose caller vanished between the gate and
// the database. A settled hold stays as a tombstone for Options.TombstoneFor
// (default 1 hour), so a duplicate Reserve arriving late (after the
// compensation) takes nothing.
//
// # Redis restarts
//
//   - Back empty (no persistence, a replaced node, a failover that lost the
//     data): no SKU is armed, Reserve answers NotArmed and callers use the
//     database path until the next Arm loads the SKUs again. Releases and
//     commits of lost holds are no-ops. A hold lost while its database
//     write was in flight is not subtracted by that Arm: the gate is high by
//     its units (the database refuses the excess).
//   - Back with its data (append-only file; or a replica promoted with
//     some writes missing): the state is that of a moment before the crash,
//     consistent (every script's effects are replicated and persisted
//     whole). Holds taken after that moment are missing (the gate is high by
//     their units; a retried Reserve takes them again); holds released or
//     committed after it are back alive, keeping their units out of the
//     gate until Expire, or until an Arm with ReleaseStaleAfter (released
//     ones) or with their checkouts in Committed (sold ones) settles them.
//     Tombstones may be missing too.
//
// In both cases the next Arm makes the gate exact again.
package stockgate
