--[[
  Add the size of a response to today's (UTC, server time) byte count.

  Input:
    KEYS[1] budget hash   fields day (days since 1970-01-01 UTC), requests, bytes

    ARGV[1] bytes to add

  Output: the bytes counted today, this call included.
]]
local budget_key = KEYS[1]
local t = redis.call('TIME')
local today = math.floor(tonumber(t[1]) / 86400)
local result
if tonumber(redis.call('HGET', budget_key, 'day')) == today then
  result = redis.call('HINCRBY', budget_key, 'bytes', ARGV[1])
else
  redis.call('HSET', budget_key, 'day', today, 'requests', 0, 'bytes', ARGV[1])
  result = tonumber(ARGV[1])
end
redis.call('EXPIRE', budget_key, 2 * 86400)
return result
