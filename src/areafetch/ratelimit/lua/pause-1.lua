--[[
  Pause every holder of this limiter until now + pause (server time).

  The pause only ever lengthens. The bucket is also left empty at the pause's end (its TAT moves
  to paused_until + (burst - 1) * interval), so traffic resumes at the steady rate, one request
  at the end of the pause and then one per interval, instead of a burst. Callers that reserved
  a slot before the pause and are still sleeping are stopped by confirm-3.lua.
  Mirrors areafetch.ratelimit.gcra.pause().

  Input:
    KEYS[1] state hash    fields tat, epoch, paused_until

    ARGV[1] pause, us
    ARGV[2] emission interval, us
    ARGV[3] burst
    ARGV[4] state ttl, s

  Output (array of integers): {paused_until_us, now_us}
]]
local state_key = KEYS[1]
local pause = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local state_ttl = tonumber(ARGV[4])

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])

local state = redis.call('HMGET', state_key, 'tat', 'epoch', 'paused_until')
local tat = tonumber(state[1])
local epoch = tonumber(state[2])
if tat == nil or epoch == nil then
  tat = now + burst * interval
  epoch = now
end
local paused_until = math.max(tonumber(state[3]) or 0, now + pause)
tat = math.max(tat, paused_until + (burst - 1) * interval)
redis.call('HSET', state_key,
  'tat', string.format('%.0f', tat),
  'epoch', string.format('%.0f', epoch),
  'paused_until', string.format('%.0f', paused_until))
redis.call('EXPIRE', state_key, state_ttl)
return {paused_until, now}
