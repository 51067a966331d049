--[[
  Renew a lease while its call is still running.

  A lease that is gone (expired and reclaimed, or state lost) is NOT recreated: its slot may
  already be someone else's.

  Input:
    KEYS[1] lease zset    member = lease id, score = expiry (us)

    ARGV[1] lease id
    ARGV[2] lease ttl, us (the lease is extended to now + ttl)

  Output: 1 if the lease was renewed, 0 if it was lost.
]]
local lease_key = KEYS[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local expiry = redis.call('ZSCORE', lease_key, ARGV[1])
if not expiry or tonumber(expiry) <= now then
  redis.call('ZREM', lease_key, ARGV[1])
  return 0
end
redis.call('ZADD', lease_key, 'XX', string.format('%.0f', now + tonumber(ARGV[2])), ARGV[1])
return 1
