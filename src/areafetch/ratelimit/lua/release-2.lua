--[[
  Give a lease back and wake one caller waiting for an in-flight slot.

  Input:
    KEYS[1] lease zset    member = lease id, score = expiry (us)
    KEYS[2] wake-up list  one entry per released lease, popped (BLPOP) by waiting callers

    ARGV[1] lease id
    ARGV[2] max in flight (length cap of the wake-up list: more entries would wake nobody new)
    ARGV[3] wake-up entry ttl, ms

  Output: 1 if the lease was held, 0 if it had already expired or been reclaimed.
]]
local lease_key, wake_key = KEYS[1], KEYS[2]
if redis.call('ZREM', lease_key, ARGV[1]) == 0 then
  return 0
end
redis.call('LPUSH', wake_key, 1)
redis.call('LTRIM', wake_key, 0, tonumber(ARGV[2]) - 1)
redis.call('PEXPIRE', wake_key, tonumber(ARGV[3]))
return 1
