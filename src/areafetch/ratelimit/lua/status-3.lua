--[[
  Read one limiter's shared state at server time, changing nothing.

  Input:
    KEYS[1] state hash    fields tat, epoch, paused_until
    KEYS[2] lease zset    member = lease id, score = expiry (us)
    KEYS[3] budget hash   fields day, requests, bytes

  Output (array of integers):
    {now_us, tat_us (-1 when missing), paused_until_us (0 when none), in_flight,
     requests_today, bytes_today}
]]
local state_key, lease_key, budget_key = KEYS[1], KEYS[2], KEYS[3]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local today = math.floor(tonumber(t[1]) / 86400)

local state = redis.call('HMGET', state_key, 'tat', 'epoch', 'paused_until')
local tat = -1
if tonumber(state[1]) ~= nil and tonumber(state[2]) ~= nil then
  tat = tonumber(state[1])
end
local in_flight = redis.call('ZCOUNT', lease_key, '(' .. string.format('%.0f', now), '+inf')
local budget = redis.call('HMGET', budget_key, 'day', 'requests', 'bytes')
local requests, bytes = 0, 0
if tonumber(budget[1]) == today then
  requests = tonumber(budget[2]) or 0
  bytes = tonumber(budget[3]) or 0
end
return {now, tat, tonumber(state[3]) or 0, in_flight, requests, bytes}
