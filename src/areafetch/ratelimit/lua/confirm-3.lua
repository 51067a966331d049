--[[
  Confirm a reservation when its slot has come, before the caller goes ahead.

  A caller that had to sleep for its slot calls this on waking. It goes ahead only if no pause is
  in force, its lease still exists and the state it reserved in was not lost meanwhile (same
  epoch). Otherwise its lease is given back and it must start over.

  A caller that wakes late (a busy event loop, a stalled machine) goes later than its slot. The next
  slot then moves to at least one interval after the time it really goes, as GCRA would have had it
  had the caller arrived then: otherwise the next caller, on time, would reach the upstream less than
  one interval after this one.

  Input:
    KEYS[1] state hash    fields tat, epoch, paused_until
    KEYS[2] lease zset    member = lease id, score = expiry (us)
    KEYS[3] wake-up list  one entry per released lease, popped by callers waiting for one

    ARGV[1] lease id
    ARGV[2] epoch the reservation was made in
    ARGV[3] lease ttl, us (the lease is extended to now + ttl)
    ARGV[4] max in flight (length cap of the wake-up list)
    ARGV[5] wake-up entry ttl, ms
    ARGV[6] emission interval, us

  Output (array of integers):
    {0, now_us}               go ahead
    {1, pause_left_us, now_us} a pause is in force: lease given back, start over when it ends
    {2, now_us}               the lease or the state was lost: lease given back, start over now
]]
local state_key, lease_key, wake_key = KEYS[1], KEYS[2], KEYS[3]
local lease_id = ARGV[1]
local epoch = tonumber(ARGV[2])
local lease_ttl = tonumber(ARGV[3])
local max_in_flight = tonumber(ARGV[4])
local wake_ttl = tonumber(ARGV[5])
local interval = tonumber(ARGV[6])

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])

local function give_back()
  if redis.call('ZREM', lease_key, lease_id) == 1 then
    redis.call('LPUSH', wake_key, 1)
    redis.call('LTRIM', wake_key, 0, max_in_flight - 1)
    redis.call('PEXPIRE', wake_key, wake_ttl)
  end
end

local state = redis.call('HMGET', state_key, 'epoch', 'paused_until')
local paused_until = tonumber(state[2]) or 0
if tonumber(state[1]) ~= epoch then
  give_back()
  return {2, now}
end
if paused_until > now then
  give_back()
  return {1, paused_until - now, now}
end
local expiry = redis.call('ZSCORE', lease_key, lease_id)
if not expiry or tonumber(expiry) <= now then
  give_back()
  return {2, now}
end
redis.call('ZADD', lease_key, 'XX', string.format('%.0f', now + lease_ttl), lease_id)
local tat = tonumber(redis.call('HGET', state_key, 'tat')) or 0
if tat < now + interval then
  redis.call('HSET', state_key, 'tat', string.format('%.0f', now + interval))
end
return {0, now}
