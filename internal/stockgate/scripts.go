package stockgate

import "github.com/redis/go-redis/v9"

// The scripts touch only the keys passed in KEYS (as Redis Cluster and
// ElastiCache require), all of them under the gate's one hash tag, so they
// run on one shard and are atomic there. Each is idempotent: running it twice
// with the same arguments gives the same state (go-redis may send a script
// again after a network error, and callers retry).
//
// Common keys: KEYS[1] avail (HASH sku → available units; a SKU is armed iff
// it has a field), KEYS[2] held (HASH sku → units in live holds), KEYS[3]
// lines (HASH "sku|checkout" → units: every line of every live hold), KEYS[4]
// due (ZSET checkout → deadline in ms), KEYS[5] the checkout's hold (HASH
// sku → units, plus @state, @at, @until; @state is held, released,
// committed or expired).

// reserveScript: ARGV cid, now, deadline, then sku, qty pairs sorted by SKU.
// Replies {"replay", hold fields}, {"finished", state}, {"short", sku,
// available}, {"notarmed"} or {"held", {ungated skus}}.
var reserveScript = redis.NewScript(`
local avail, held, lines, due, hold = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local cid, now, deadline = ARGV[1], ARGV[2], ARGV[3]
local state = redis.call('HGET', hold, '@state')
if state == 'held' then
  return {'replay', redis.call('HGETALL', hold)}
elseif state then
  return {'finished', state}
end
local gated, ungated = {}, {}
for i = 4, #ARGV, 2 do
  local a = redis.call('HGET', avail, ARGV[i])
  if a then
    if tonumber(a) < tonumber(ARGV[i + 1]) then
      return {'short', ARGV[i], a}
    end
    gated[#gated + 1] = i
  else
    ungated[#ungated + 1] = ARGV[i]
  end
end
if #gated == 0 then
  return {'notarmed'}
end
for _, i in ipairs(gated) do
  local sku, q = ARGV[i], ARGV[i + 1]
  redis.call('HINCRBY', avail, sku, -tonumber(q))
  redis.call('HINCRBY', held, sku, q)
  redis.call('HSET', lines, sku .. '|' .. cid, q)
  redis.call('HSET', hold, sku, q)
end
redis.call('HSET', hold, '@state', 'held', '@at', now, '@until', deadline)
redis.call('ZADD', due, deadline, cid)
return {'held', ungated}
`)

// settleScript ends a hold: ARGV cid, now, action (released, committed or
// expired), tombstone TTL in ms. Released and expired lines go back to
// their SKU's available units (if the SKU is still armed); committed ones
// are forgotten (sold). The hold is kept as a tombstone with the outcome, so
// a late Reserve of the checkout takes nothing; a checkout never held here
// gets the tombstone too. Replies {"held", {sku, qty, ...}} when it ended
// a live hold, {"none"} when there was none, {"notdue"} for an expiry before
// the deadline, else {previous state}.
var settleScript = redis.NewScript(`
local avail, held, lines, due, hold = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local cid, now, action, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local state = redis.call('HGET', hold, '@state')
if not state then
  if action == 'expired' then
    redis.call('ZREM', due, cid)
    return {'none'}
  end
  redis.call('HSET', hold, '@state', action, '@at', now)
  redis.call('PEXPIRE', hold, ttl)
  return {'none'}
end
if state ~= 'held' then
  return {state}
end
if action == 'expired' and tonumber(redis.call('HGET', hold, '@until')) > tonumber(now) then
  return {'notdue'}
end
local all = redis.call('HGETALL', hold)
local out = {}
for i = 1, #all, 2 do
  local sku, q = all[i], all[i + 1]
  if string.sub(sku, 1, 1) ~= '@' then
    if action ~= 'committed' and redis.call('HEXISTS', avail, sku) == 1 then
      redis.call('HINCRBY', avail, sku, q)
    end
    if redis.call('HINCRBY', held, sku, -tonumber(q)) <= 0 then
      redis.call('HDEL', held, sku)
    end
    redis.call('HDEL', lines, sku .. '|' .. cid)
    redis.call('HDEL', hold, sku)
    out[#out + 1] = sku
    out[#out + 1] = q
  end
end
redis.call('HSET', hold, '@state', action, '@done', now)
redis.call('PEXPIRE', hold, ttl)
redis.call('ZREM', due, cid)
return {'held', out}
`)

// armScript sets a SKU's available units from a database snapshot. KEYS[1]
// avail, KEYS[2] held, KEYS[3] lines, KEYS[4] due, KEYS[5..] the holds of
// the SKU found before the call. ARGV sku, available, stale-before (ms, 0 =
// never), tombstone TTL, dry run ("1"), then per declared hold: cid and its
// class in the snapshot: r (reserved), c (committed), u (not counted).
//
// available' = available - (units held for the SKU now - units of holds
// the snapshot counts as reserved): the units of every other live hold,
// including holds taken after the scan, are taken by checkouts whose
// database write the snapshot did not see (or whose release the gate has
// not heard of yet), so they will come back or be written later. Holds the
// snapshot counts as committed are forgotten (sold); uncounted holds older
// than stale-before are dropped and their units returned (their caller is
// gone). Replies {previous or nil, new, uncounted, committed, stale,
// vanished}.
var armScript = redis.NewScript(`
local avail, held, lines, due = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local sku, A, staleBefore, ttl, dry = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5] == '1'
local prev = redis.call('HGET', avail, sku)
local counted, committed, stale, vanished = 0, 0, 0, 0
local function drop(hold, cid, field, q, outcome)
  if dry then return end
  redis.call('HDEL', lines, field)
  if redis.call('HINCRBY', held, sku, -q) <= 0 then
    redis.call('HDEL', held, sku)
  end
  if not hold then return end
  redis.call('HDEL', hold, sku)
  local rest = redis.call('HKEYS', hold)
  for _, f in ipairs(rest) do
    if string.sub(f, 1, 1) ~= '@' then return end
  end
  redis.call('ZREM', due, cid)
  if outcome == 'committed' then
    redis.call('HSET', hold, '@state', 'committed')
    redis.call('PEXPIRE', hold, ttl)
  else
    redis.call('DEL', hold)
  end
end
for i = 6, #ARGV, 2 do
  local cid, class = ARGV[i], ARGV[i + 1]
  local hold = KEYS[5 + (i - 6) / 2]
  local field = sku .. '|' .. cid
  local q = redis.call('HGET', lines, field)
  if q then
    q = tonumber(q)
    local state = redis.call('HGET', hold, '@state')
    if state ~= 'held' or not redis.call('HGET', hold, sku) then
      vanished = vanished + q
      drop(nil, cid, field, q, nil)
    elseif class == 'r' then
      counted = counted + q
    elseif class == 'c' then
      committed = committed + q
      drop(hold, cid, field, q, 'committed')
    elseif staleBefore > 0 and tonumber(redis.call('HGET', hold, '@at')) < staleBefore then
      stale = stale + q
      drop(hold, cid, field, q, 'stale')
    end
  end
end
local heldNow = tonumber(redis.call('HGET', held, sku) or '0')
if dry then
  heldNow = heldNow - vanished - committed - stale
end
local uncounted = heldNow - counted
local n = A - uncounted
if not dry then
  redis.call('HSET', avail, sku, n)
end
return {prev, n, uncounted, committed, stale, vanished}
`)

// levelScript: KEYS[1] avail, KEYS[2] held; ARGV[1] a SKU, or none for
// every SKU. Replies {avail fields, held fields} as flat arrays, read in one
// atomic step.
var levelScript = redis.NewScript(`
if ARGV[1] then
  return {{ARGV[1], redis.call('HGET', KEYS[1], ARGV[1])}, {ARGV[1], redis.call('HGET', KEYS[2], ARGV[1])}}
end
return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2])}
`)
