--[[
  Removes a consumer from the group once it holds nothing (a consumer with pending
  entries is kept: deleting it would drop its pending entries, losing those jobs).

  KEYS[1] stream  <prefix>:{<queue>}:work:stream
  ARGV[1] group
  ARGV[2] consumer

  Result: 1 when removed, 0 when it still holds jobs (or did not exist).
]]
local p = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if p[1] then return 0 end
return redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2]) >= 0 and 1 or 0
