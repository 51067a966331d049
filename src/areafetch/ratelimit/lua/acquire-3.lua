--[[
  Reserve the next rate slot (GCRA) and an in-flight lease for one caller, atomically.

  All times are integer microseconds from Redis TIME; the caller's clock is never read.
  Mirrors areafetch.ratelimit.gcra.reserve() exactly (tests run both on the same inputs).

  Input:
    KEYS[1] state hash    fields tat (theoretical arrival time), epoch, paused_until
    KEYS[2] lease zset    member = lease id, score = expiry
    KEYS[3] budget hash   fields day (days since 1970-01-01 UTC), requests, bytes

    ARGV[1] lease id (unique per attempt)
    ARGV[2] emission interval, us (1 / rate, rounded up)
    ARGV[3] burst
    ARGV[4] max wait, us: a slot further away than this reserves nothing
    ARGV[5] max in flight
    ARGV[6] lease ttl, us (counted from the slot)
    ARGV[7] daily request budget, 0 = none
    ARGV[8] daily byte budget, 0 = none
    ARGV[9] state ttl, s
    ARGV[10] optional, 1 = missing state starts as a FULL bucket (limits on clients, not upstreams)

  Output (array of integers):
    {0, wait_us, now_us, epoch}   granted: slot at now + wait; lease held until slot + ttl; request counted
    {1, retry_us, now_us}         every lease is held; the earliest expires in retry_us; nothing reserved
    {2, wait_us, now_us}          the slot is further than max wait; nothing reserved
    {3, kind, used, limit}        the daily budget is spent (kind 1 = requests, 2 = bytes); nothing reserved

  Missing state (first use, eviction, Redis restarted empty) starts as an EMPTY bucket, so the first
  slot is one interval away: whatever was granted before the loss, the bound still holds. A new
  epoch also invalidates reservations made before the loss (confirm-3.lua checks it).
]]
local state_key, lease_key, budget_key = KEYS[1], KEYS[2], KEYS[3]
local lease_id = ARGV[1]
local interval = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local max_wait = tonumber(ARGV[4])
local max_in_flight = tonumber(ARGV[5])
local lease_ttl = tonumber(ARGV[6])
local daily_requests = tonumber(ARGV[7])
local daily_bytes = tonumber(ARGV[8])
local state_ttl = tonumber(ARGV[9])
local start_full = tonumber(ARGV[10] or '0') == 1

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])

-- Budget: refuse at once when the day's budget is spent.
local today = math.floor(tonumber(t[1]) / 86400)
local budget = redis.call('HMGET', budget_key, 'day', 'requests', 'bytes')
local used_requests, used_bytes = 0, 0
if tonumber(budget[1]) == today then
  used_requests = tonumber(budget[2]) or 0
  used_bytes = tonumber(budget[3]) or 0
end
if daily_requests > 0 and used_requests >= daily_requests then
  return {3, 1, used_requests, daily_requests}
end
if daily_bytes > 0 and used_bytes >= daily_bytes then
  return {3, 2, used_bytes, daily_bytes}
end

-- Rate: GCRA. A missing state is initialised as an empty bucket and kept even on refusal,
-- so that a caller with a short max wait is not refused forever.
local state = redis.call('HMGET', state_key, 'tat', 'epoch')
local tat = tonumber(state[1])
local epoch = tonumber(state[2])
if tat == nil or epoch == nil then
  if start_full then tat = now else tat = now + burst * interval end
  epoch = now
  redis.call('HSET', state_key, 'tat', string.format('%.0f', tat), 'epoch', string.format('%.0f', epoch))
  redis.call('EXPIRE', state_key, state_ttl)
end
local allowed_at = math.max(now, tat - (burst - 1) * interval)
local wait = allowed_at - now
if wait > max_wait then
  return {2, wait, now}
end

-- In flight: reclaim expired leases, then take one if any is free.
redis.call('ZREMRANGEBYSCORE', lease_key, '-inf', string.format('%.0f', now))
if redis.call('ZCARD', lease_key) >= max_in_flight then
  local earliest = redis.call('ZRANGE', lease_key, 0, 0, 'WITHSCORES')
  return {1, tonumber(earliest[2]) - now, now}
end

-- Commit: the slot, the lease, the request count.
redis.call('HSET', state_key, 'tat', string.format('%.0f', math.max(tat, now) + interval))
redis.call('EXPIRE', state_key, state_ttl)
redis.call('ZADD', lease_key, string.format('%.0f', allowed_at + lease_ttl), lease_id)
redis.call('EXPIRE', lease_key, state_ttl)
if tonumber(budget[1]) == today then
  redis.call('HINCRBY', budget_key, 'requests', 1)
else
  redis.call('HSET', budget_key, 'day', today, 'requests', 1, 'bytes', 0)
end
redis.call('EXPIRE', budget_key, 2 * 86400)
return {0, wait, now, epoch}
